"""API keys: ``Authorization: Bearer <key>``, keys from TASKYARD_API_KEYS as tenant:key[:admin].

Keys are kept only as SHA-256 digests and compared in constant time. An admin key is an
operator's: it may read any tenant's jobs and work the dead-letter lists.
"""

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.api.problems import Problem


@dataclass(frozen=True)
class Principal:
    tenant: str
    admin: bool = False

    def may_see(self, tenant: str) -> bool:
        return self.admin or self.tenant == tenant


class ApiKeys:
    def __init__(self, entries: Iterable[str]) -> None:
        self._digests: list[tuple[bytes, Principal]] = []
        for position, entry in enumerate(entries, start=1):
            parts = entry.split(":")
            admin = len(parts) == 3 and parts[2] == "admin"
            if len(parts) not in (2, 3) or not all(parts[:2]) or (len(parts) == 3 and not admin):
                # Never echo the entry: it holds a secret.
                raise ValueError(f"TASKYARD_API_KEYS entry {position} is not tenant:key[:admin]")
            self._digests.append((_digest(parts[1]), Principal(parts[0], admin)))

    def authenticate(self, key: str) -> Principal | None:
        presented = _digest(key)
        found = None
        for digest, principal in self._digests:  # no early exit: constant time per key
            if hmac.compare_digest(digest, presented):
                found = principal
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_bearer = HTTPBearer(auto_error=False, description="An API key from TASKYARD_API_KEYS")


# The dependencies are coroutines though they await nothing: FastAPI runs a plain function
# in its thread pool, a hop that cost a submission more than the work itself.
async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    keys: ApiKeys = request.app.state.api_keys
    found = keys.authenticate(credentials.credentials) if credentials else None
    if found is None:
        raise Problem(401, "A valid API key is required.", headers={"WWW-Authenticate": "Bearer"})
    return found


async def admin(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    if not caller.admin:
        raise Problem(403, "This needs an admin key.")
    return caller


CallerDep = Annotated[Principal, Depends(principal)]
AdminDep = Annotated[Principal, Depends(admin)]
