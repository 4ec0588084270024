"""A vhost of its own and least-privilege users for every run of a queue-backed design.

On a broker offload can administer (its private node, or the machine's node through
rabbitmqctl), each design run gets a fresh vhost — so queues never leak between runs — and one
broker user per process role, with exactly the permissions the target's manifest grants that
role (``[broker.permissions.<role>]``): the reference async API may only publish to its jobs
exchange; its workers may only consume their work queue and publish to the retry exchange.
The harness keeps an administrator's access to the vhost for the manifest's hooks and for
sampling queue depths. Everything is deleted after the run.

On a broker offload cannot administer (``AMQP_URL``), every process uses the given URL and the
run's manifest says that least privilege was not applied.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from offload.provisioning.broker import Broker
from offload.target.manifest import RolePermissions, TargetManifest, render

log = logging.getLogger("offload.provisioning.broker_access")


@dataclass
class BrokerAccess:
    #: URL with administrator rights on the run's vhost (hooks, sampling, inspection)
    admin_url: str
    #: process role → URL of that role's user
    role_urls: dict[str, str] = field(default_factory=dict)
    vhost: str | None = None
    least_privilege: bool = False
    note: str = ""
    #: (role, user) pairs created for the run
    users: dict[str, str] = field(default_factory=dict)
    _broker: Broker | None = None

    def url_for(self, role: str) -> str:
        return self.role_urls.get(role, self.admin_url)

    def describe(self) -> dict[str, object]:
        return {
            "vhost": self.vhost,
            "least_privilege": self.least_privilege,
            "users": self.users,
            "note": self.note,
        }

    def close(self) -> None:
        """Delete the run's users and vhost (and with it every queue of the run)."""
        broker, self._broker = self._broker, None
        if broker is None or broker.control is None or self.vhost is None:
            return
        control, vhost = broker.control, self.vhost
        _in_parallel(
            [lambda u=user: control.delete_user(u) for user in self.users.values()]
            + [lambda: control.delete_vhost(vhost)]
        )


def with_credentials(
    url: str, *, user: str | None = None, password: str | None = None, vhost: str | None = None
) -> str:
    """``url`` with other credentials and/or another vhost."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc_host = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc_host += f":{parts.port}"
    name = quote(user if user is not None else (parts.username or ""), safe="")
    secret = quote(password if password is not None else (parts.password or ""), safe="")
    netloc = f"{name}:{secret}@{netloc_host}" if name else netloc_host
    path = "/" + quote(vhost, safe="") if vhost is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def run_definitions(
    vhost: str,
    admin_user: str,
    users: Mapping[str, str],
    passwords: Mapping[str, str],
    grants: Mapping[str, RolePermissions],
    values: Mapping[str, object],
) -> dict[str, Any]:
    """The run's vhost, its role users and every permission, as one RabbitMQ definitions
    document (one ``rabbitmqctl import_definitions``): the administrator gets everything on the
    vhost, each role exactly its manifest's patterns. A leftover user of the same name from an
    interrupted run is updated with the new password."""
    return {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": users[role],
                "password_hash": password_hash(passwords[role]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": "",
            }
            for role in grants
        ],
        "permissions": [
            {"user": admin_user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"},
            *(
                {
                    "user": users[role],
                    "vhost": vhost,
                    "configure": render(grant.configure, values),
                    "write": render(grant.write, values),
                    "read": render(grant.read, values),
                }
                for role, grant in grants.items()
            ),
        ],
    }


def password_hash(password: str) -> str:
    """RabbitMQ's salted SHA-256 password hash (``rabbit_password_hashing_sha256``): a random
    4-byte salt, then SHA-256 of salt + password, base64-encoded; the definitions format
    carries hashes, never passwords."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def open_access(
    broker: Broker, manifest: TargetManifest, *, run_name: str, values: Mapping[str, object]
) -> BrokerAccess:
    """Create the run's vhost and role users when the broker can be administered."""
    if broker.control is None:
        return BrokerAccess(
            admin_url=broker.url,
            note="least privilege not applied: offload cannot administer this broker "
            "(AMQP_URL); every process used the given credentials",
        )
    control = broker.control
    vhost = f"offload-{run_name}"
    admin_user = urlsplit(broker.url).username or "guest"
    access = BrokerAccess(
        admin_url=with_credentials(broker.url, vhost=vhost), vhost=vhost, _broker=broker
    )
    permissions = manifest.broker.permissions if manifest.broker else {}
    roles = [r for r in sorted({p.role for p in manifest.process}) if r in permissions]
    for role in roles:  # the manifest asks nothing special for other roles: the admin's access
        access.users[role] = f"{vhost}-{role}"
    # new every run; only their hashes reach the broker
    passwords: dict[str, str] = {role: secrets.token_hex(16) for role in roles}
    grants: dict[str, RolePermissions] = {r: permissions[r] for r in roles}
    try:
        control.import_definitions(
            run_definitions(vhost, admin_user, access.users, passwords, grants, values)
        )
    except Exception:
        access.close()
        raise
    for role in roles:
        access.role_urls[role] = with_credentials(
            broker.url, user=access.users[role], password=passwords[role], vhost=vhost
        )
    access.least_privilege = bool(access.users)
    access.note = (
        f"vhost {vhost}; users per role: {', '.join(f'{r}={u}' for r, u in access.users.items())}"
        if access.users
        else f"vhost {vhost}; the manifest grants no per-role permissions"
    )
    return access


def _in_parallel(calls: list[Callable[[], object]]) -> None:
    """Run independent clean-up calls at once (each ``rabbitmqctl`` starts an Erlang VM); a
    failure is logged, not raised: the run's records are safe, and what is left over (a user,
    a vhost named after the run) is named in the log."""
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        if (error := future.exception()) is not None:
            log.warning("broker clean-up after the run failed: %s", error)
