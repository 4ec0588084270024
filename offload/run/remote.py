"""Which addresses outside this machine a run would talk to, and the consent it needs.

offload sends load to loopback only unless the user says otherwise: an external target's API,
its ledger database or ledger endpoint and the address offload's provider listens on are
named before anything starts, and a non-loopback one is refused without ``--allow-remote``
(and printed with it).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from offload.errors import OffloadError
from offload.ports import is_loopback
from offload.target.manifest import TargetManifest

#: the one flag that lets a command reach past loopback, in every command that can
ALLOW_REMOTE = "--allow-remote"


def add_allow_remote_argument(parser: argparse.ArgumentParser, *, lets: str) -> None:
    """Declare ``--allow-remote`` on a command. Four commands can reach past loopback; the
    flag is declared here once so that its name, its meaning (consent, with every address
    printed first) and its default cannot drift apart between them. ``lets`` says what it
    lets this command do."""
    parser.add_argument(
        ALLOW_REMOTE,
        dest="allow_remote",
        action="store_true",
        help=f"{lets}; each address is printed before anything starts",
    )


def refusal_hint(command: str) -> str:
    """The end of every refusal: how to give consent."""
    return (
        "offload talks only to loopback addresses unless told to; "
        f"run `offload {command} {ALLOW_REMOTE}` to allow it"
    )


class RemoteRefused(OffloadError):
    """A non-loopback address without ``--allow-remote``; usage error, exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class RemoteAddress:
    #: the target's name
    target: str
    #: what talks to it: "API", "ledger database", "ledger endpoint", "provider"
    role: str
    host: str

    def line(self) -> str:
        return f"remote address: {self.host} ({self.target}'s {self.role})"


def url_host(url: str) -> str | None:
    """The host of an HTTP URL (None when it has none)."""
    return urlsplit(url).hostname


def database_host(url: str) -> str | None:
    """The host of a SQLAlchemy URL; None for a file (SQLite) or a URL without a host."""
    try:
        return make_url(url).host or None
    except ArgumentError:
        return None


def remote_addresses(manifests: Iterable[TargetManifest]) -> list[RemoteAddress]:
    """Every non-loopback address the external targets among ``manifests`` name, once each."""
    found: dict[tuple[str, str, str], RemoteAddress] = {}
    for manifest in manifests:
        external = manifest.external
        if external is None:
            continue
        candidates = [("API", url_host(external.url))]
        if external.ledger_kind == "database":
            candidates.append(("ledger database", database_host(external.ledger)))
        elif external.ledger_kind == "http":
            candidates.append(("ledger endpoint", url_host(external.ledger)))
        if external.provider == "offload":
            candidates.append(("provider", external.provider_host))
        for role, host in candidates:
            if host and not is_loopback(host):
                address = RemoteAddress(manifest.name, role, host)
                found.setdefault((address.target, role, host), address)
    return list(found.values())


def check_remote(addresses: list[RemoteAddress], *, allowed: bool, command: str) -> None:
    """Refuse non-loopback addresses unless ``allowed`` (``--allow-remote``)."""
    if addresses and not allowed:
        named = ", ".join(f"{a.host} ({a.target}'s {a.role})" for a in addresses)
        raise RemoteRefused(f"refusing to reach {named}: {refusal_hint(command)}")
