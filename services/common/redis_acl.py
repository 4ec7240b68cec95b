"""Redis ACL users for the shared broker, rendered for redis-server's ``aclfile`` directive.

One user per service reaches only its own key prefix (QueueKeys) and its own pub/sub channels;
the queue exporter's user reads every service's prefix and writes nothing. The file holds
each password's SHA-256 only: no password in redis-server's argv or config. A password comes
from ``TASKYARD_REDIS_PASSWORD_<USER>``; the namespace from ``TASKYARD_KEY_NAMESPACE``.

    python -m services.common.redis_acl ingest email reports --submit reports=email \\
        --output users.acl
"""

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer

from services.common.jobs.keys import QueueKeys
from services.common.settings import Settings

EXPORTER = "exporter"

# Key patterns and channels are globs and a rule ends at a space: a name is plain.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")

# What every user may do to the connection itself: HELLO, AUTH, PING, SELECT, CLIENT SETNAME
# and SETINFO (redis-py sends it on connect); TIME, the broker clock our scripts and the exporter
# read.
_CONNECTION = ("+@connection", "+time")

# Never, last so that nothing above brings them back: @dangerous holds FLUSHALL, FLUSHDB,
# CONFIG, KEYS, INFO, DEBUG, SHUTDOWN, MONITOR, CLIENT KILL, ACL SETUSER, MIGRATE, RESTORE and
# SORT. SCAN, RANDOMKEY and PUBSUB ignore key and channel patterns: they would list every
# service's key names (job ids, tenants) and channels.
_NEVER = ("-@dangerous", "-scan", "-randomkey", "-pubsub")

# A service's own work: kombu's lists, hashes and sets, MULTI/EXEC with WATCH, BLMOVE, pub/sub,
# and Lua (EVAL, EVALSHA, and SCRIPT LOAD and EXISTS for redis-py's Script). Not the rest of
# @scripting: SCRIPT FLUSH and KILL and FUNCTION act on every user's scripts, not on keys.
_SERVICE_COMMANDS = (
    "+@read",
    "+@write",
    "+@transaction",
    "+@pubsub",
    *_CONNECTION,
    "-@scripting",
    "+eval",
    "+evalsha",
    "+script|load",
    "+script|exists",
    *_NEVER,
)


def password_variable(user: str) -> str:
    return f"TASKYARD_REDIS_PASSWORD_{user.upper()}"


def render(
    namespace: str,
    services: Sequence[str],
    passwords: Mapping[str, str],
    submits: Mapping[str, Sequence[str]],
) -> str:
    """The aclfile: the default user off, then one user per service and the exporter's.

    ``submits`` names, for a service, the services it submits jobs into (reports: email).
    """
    for name in (namespace, *services):
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(f"{name!r}: only letters, digits, '_', '.' and '-' make a safe rule")
    if EXPORTER in services:
        raise ValueError(f"{EXPORTER!r} is the queue exporter's user, not a service")
    keys = {service: QueueKeys(namespace, service) for service in services}
    # Without a line of its own the default user would be on, with no password, over all keys.
    lines = ["user default reset"]
    for service in services:
        selectors = [_submit_selectors(keys[target]) for target in submits.get(service, ())]
        lines.append(
            _user(
                service,
                passwords,
                f"~{keys[service].prefix}*",
                *(f"&{channel}" for channel in keys[service].channels),
                *_SERVICE_COMMANDS,
                *(selector for group in selectors for selector in group),
            )
        )
    readable = (f"%R~{keys[service].prefix}*" for service in services)
    lines.append(_user(EXPORTER, passwords, *readable, "+@read", *_CONNECTION, *_NEVER))
    return "\n".join(lines) + "\n"


def _user(name: str, passwords: Mapping[str, str], *rules: str) -> str:
    digest = hashlib.sha256(passwords[name].encode()).hexdigest()
    return " ".join(("user", name, "reset", "on", f"#{digest}", *rules))


def _submit_selectors(target: QueueKeys) -> tuple[str, ...]:
    """What the ledger's submit (services/common/jobs/ledger.py) does on another service's keys.

    Redis lets a command through when the user's root rules or one selector allow it with all
    its keys. The first selector lets the submit script (jobs/enqueue.py) name its keys; every
    command inside it is checked again, against the others, which give each key only the
    script's commands on it: EXISTS and HSET the job record (HGETALL: the job an idempotency
    key already made); GET and SET the idempotency key; HINCRBY the queued count; LLEN the
    queue's list and LPUSH the message; ZCARD the delayed set, for the backlog limit.
    Nothing else: no LRANGE or RPOP of the other service's messages, no DEL, no ZADD
    (notifications are never delayed). A new command in the script needs its grant here.
    """
    idempotency = f"{target.prefix}idem:*"
    job = target.job("*")
    declared = (idempotency, job, target.status_counts, target.queue_list, target.delayed)
    return (
        f"({' '.join(f'~{pattern}' for pattern in declared)} +evalsha)",
        f"(~{idempotency} +get +set)",
        f"(~{job} +exists +hset +hgetall)",
        f"(~{target.status_counts} +hincrby)",
        f"(~{target.queue_list} +llen +lpush)",
        f"(%R~{target.delayed} +zcard)",
    )


def main(
    services: Annotated[list[str], typer.Argument(help="One user per service")],
    output: Annotated[Path, typer.Option(help="The aclfile to write")],
    submit: Annotated[
        list[str] | None,
        typer.Option(help="SERVICE=TARGET: SERVICE submits jobs into TARGET's queue"),
    ] = None,
) -> None:
    """Write the ACL users of the services and the queue exporter for redis-server."""
    users = [*services, EXPORTER]
    missing = [
        password_variable(user) for user in users if not os.environ.get(password_variable(user))
    ]
    if missing:
        raise typer.BadParameter(f"set {', '.join(missing)}")
    submits: dict[str, list[str]] = {}
    for pair in submit or ():
        service, _, target = pair.partition("=")
        if service not in services or target not in services:
            raise typer.BadParameter(f"--submit {pair}: both sides must be among {services}")
        submits.setdefault(service, []).append(target)
    passwords = {user: os.environ[password_variable(user)] for user in users}
    output.write_text(render(Settings().key_namespace, services, passwords, submits))


if __name__ == "__main__":
    typer.run(main)
