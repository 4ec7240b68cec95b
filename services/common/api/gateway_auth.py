"""The admin check the gateway asks before it lets anyone reach an operator tool (Flower).

Traefik's forwardAuth sends the caller's Authorization header here and passes the request on
only on a 2xx. Browsers cannot send a bearer key, so a Basic one works too (any user name,
the API key as password), and the 401 challenges for Basic so that a browser prompts.
"""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from services.common.api.auth import ApiKeys
from services.common.api.problems import Problem

router = APIRouter(include_in_schema=False)

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Taskyard operators", charset="UTF-8"'}


@router.get("/auth/admin", status_code=204)
async def admin_check(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Response:
    keys: ApiKeys = request.app.state.api_keys
    key = presented_key(authorization or "")
    caller = keys.authenticate(key) if key else None
    if caller is None:
        raise Problem(401, "An admin API key is required.", headers=_CHALLENGE)
    if not caller.admin:
        raise Problem(403, "This needs an admin key.")
    return Response(status_code=204)


def presented_key(authorization: str) -> str | None:
    """The key in ``Bearer <key>`` or ``Basic base64(<any>:<key>)``; None for anything else."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None
