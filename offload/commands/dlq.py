"""Inspect and re-drive the async design's dead letters.

``offload dlq show`` lists the dead-letter queue without consuming it: job, user, email,
correlation id, attempts, why it died (``rejected``: the worker gave up on a permanent error or
after its last attempt; ``delivery_limit``: it kept crashing workers) and the worker's error.
``offload dlq replay`` sends chosen dead letters back to the work queue as attempt 1 and resets
their jobs to ``queued``; a crash at any point of a replay duplicates a dead letter rather than
loses it. Exit codes: 0 done, 1 nothing matched or something could not be replayed, 2 bad
input (a non-loopback or malformed URL, an unknown queue prefix, a missing database).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from rich.console import Console
from rich.markup import escape

from offload.dlq import (
    JobStates,
    Peek,
    ReplayReport,
    peek_dead_letters,
    replay_dead_letters,
    resolve_amqp_url,
)

console = Console(highlight=False, soft_wrap=True)

_VERBS = {
    "replayed": "replayed",
    "would_replay": "would replay",
    "removed": "removed",
    "would_remove": "would remove",
    "skipped": "skipped",
    "failed": "FAILED",
    "not_found": "not found",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dlq_action", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="list dead letters, oldest first, without consuming them",
        description="List dead letters oldest first. Nothing is consumed: every message read "
        "goes back to its place, even if the command is killed.",
    )
    _add_broker_arguments(show)
    show.add_argument(
        "--limit", type=_positive_int, default=50, metavar="N", help="show at most N (default 50)"
    )
    _add_database_arguments(show, "also show each job's state and last error from the database")
    show.add_argument("--json", action="store_true", help="print one JSON document")

    replay = sub.add_parser(
        "replay",
        help="send dead letters back to the work queue as attempt 1",
        description="Re-publish dead letters to the jobs exchange (x-attempt 1, confirmed), "
        "reset their jobs to queued, then remove them from the dead-letter queue.",
    )
    _add_broker_arguments(replay)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--job-id",
        dest="job_ids",
        action="append",
        metavar="ID",
        help="replay this job's dead letter (repeatable)",
    )
    which.add_argument("--all", action="store_true", help="replay every dead letter")
    _add_database_arguments(replay, "the design's database; required unless --dry-run")
    replay.add_argument(
        "--dry-run", action="store_true", help="say what would be done, change nothing"
    )
    replay.add_argument("--json", action="store_true", help="print one JSON document")


def _add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--amqp-url",
        default=None,
        metavar="URL",
        help="the broker, on a loopback host (default: $AMQP_URL, else "
        "amqp://guest:guest@127.0.0.1:5672/%%2F)",
    )
    parser.add_argument(
        "--queue-prefix",
        default=os.environ.get("OFFLOAD_QUEUE_PREFIX", "offload"),
        metavar="PREFIX",
        help="the design's queue prefix (default: $OFFLOAD_QUEUE_PREFIX, else 'offload'; "
        "`offload up` uses 'offload.up.async')",
    )


def _add_database_arguments(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("OFFLOAD_DATABASE_URL") or None,
        metavar="URL",
        help=f"{purpose} (default: $OFFLOAD_DATABASE_URL)",
    )
    parser.add_argument(
        "--db-schema",
        default=os.environ.get("OFFLOAD_DB_SCHEMA") or None,
        metavar="SCHEMA",
        help="PostgreSQL schema of the design's tables (default: $OFFLOAD_DB_SCHEMA)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    amqp_url = resolve_amqp_url(args.amqp_url)
    jobs = JobStates(args.database_url, args.db_schema) if args.database_url else None
    try:
        if args.dlq_action == "show":
            peek = peek_dead_letters(amqp_url, args.queue_prefix, limit=args.limit, jobs=jobs)
            _print_peek(peek, as_json=args.json)
            return 0
        report = replay_dead_letters(
            amqp_url,
            args.queue_prefix,
            job_ids=None if args.all else args.job_ids,
            jobs=jobs,
            dry_run=args.dry_run,
        )
        _print_report(report, as_json=args.json)
        return 0 if report.ok else 1
    finally:
        if jobs is not None:
            jobs.close()


def _print_peek(peek: Peek, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(peek.to_json(), indent=2) + "\n")
        return
    if not peek.letters:
        console.print(f"{escape(peek.queue)}: no dead letters")
        return
    console.print(
        f"{escape(peek.queue)}: {peek.depth} dead letter(s), showing the oldest "
        f"{len(peek.letters)}; nothing was consumed"
    )
    records = peek.jobs or {}
    for letter in peek.letters:
        job = records.get(letter.job_id or "")
        died = f"{letter.reason or 'unknown reason'} in {escape(letter.died_in or '?')}"
        if letter.died_at:
            died += f" at {letter.died_at:%Y-%m-%d %H:%M:%S} UTC"
        console.print(
            f"\n[bold]{letter.position:>3}  job {escape(letter.job_id or '?')}[/]  {died}"
        )
        console.print(
            f"     user {escape(letter.user_id or '?')}  email {escape(letter.email or '?')}  "
            f"correlation {escape(letter.correlation_id or '?')}"
        )
        facts = f"attempts {letter.attempts if letter.attempts is not None else '?'}"
        if letter.replays:
            facts += f"  replayed {letter.replays}x before"
        if job is not None:
            facts += f"  job state {job.state}"
        console.print(f"     {facts}")
        error = (job.last_error if job else None) or letter.last_error
        if error:
            console.print(f"     error: {escape(error)}")
        if letter.malformed:
            console.print(f"     [red]{escape(letter.malformed)}[/] (never replayed)")


def _print_report(report: ReplayReport, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        return
    header = f"{escape(report.queue)}: {report.depth} dead letter(s)"
    console.print(header + (" — dry run, nothing changed" if report.dry_run else ""))
    if not report.outcomes:
        console.print("nothing to replay")
        return
    for outcome in report.outcomes:
        verb = _VERBS.get(outcome.action, outcome.action)
        copies = f" ({outcome.copies} copies)" if outcome.copies > 1 else ""
        detail = f": {escape(outcome.detail)}" if outcome.detail else ""
        line = f"{verb} {escape(outcome.job_id)}{copies}{detail}"
        console.print(line, style=None if outcome.done else "yellow")
    counts = report.counts()
    console.print(", ".join(f"{_VERBS.get(k, k)} {v}" for k, v in sorted(counts.items())))
