"""The ways a welcome email went wrong, in words: one list, so the verdict table, the
sentences and the headline name the same counts in the same order."""

from __future__ import annotations

from offload.rundir.summary import EmailLedger


def ledger_problems(emails: EmailLedger, *, lost: bool = True) -> list[str]:
    """``3 lost``, ``2 dead-lettered``, ``1 pending``, ``4 duplicated``: each way that
    happened at least once (``lost=False``: all but the lost ones, which a table shows
    as its figure)."""
    counts = [
        (emails.lost if lost else 0, "lost"),
        (emails.dead_lettered, "dead-lettered"),
        (emails.pending, "pending"),
        (emails.duplicates, "duplicated"),
    ]
    return [f"{count:,} {label}" for count, label in counts if count]


def emails_missing(emails: EmailLedger | None) -> int | None:
    """Emails not delivered exactly once (lost, dead-lettered, pending or duplicated);
    None without a ledger."""
    if emails is None:
        return None
    return emails.lost + emails.dead_lettered + emails.pending + emails.duplicates
