"""The async design's dead letters: read them without consuming them, and send them back.

Reading (``offload dlq show``) takes messages with ``basic_get`` and never acknowledges them;
closing the channel hands them back, and RabbitMQ puts unacknowledged messages of a classic
queue back in their original places. A reader killed half-way loses its connection, which has
the same effect: a peek cannot consume, reorder or lose anything.

Re-driving (``offload dlq replay``) does, for one job at a time::

    1. reset the job to queued (unless it was delivered) and add a job_events row; commit;
    2. publish a copy to the jobs exchange with x-attempt 1 (publisher-confirmed, mandatory);
    3. ack the dead letter.

The reset comes first and is committed because the worker skips any job whose recorded state
is finished: a copy that reached a worker while the job still read ``dead_lettered`` would be
acked and dropped. (Holding the reset's transaction open across the publish is not enough:
PostgreSQL's UPDATE filters on the last committed row, so the worker would not even wait.)

A crash at any point duplicates work and never loses a job. After 1: the job reads ``queued``
and its dead letter is still there; the next replay picks it up again (any state but
``delivered`` is replayed). After 2: the copy gets delivered, the dead letter stays behind as a
stale copy, and the next replay finds the job ``delivered`` and removes it. The provider dedupes
on the job id, so a duplicate attempt never sends a second email. When the broker refuses the
copy, the reset is undone (if no worker has started on the job meanwhile).
"""

from offload.dlq.jobs import JobRecord, JobStates
from offload.dlq.letters import (
    DEFAULT_AMQP_URL,
    REPLAY_DETAIL,
    DeadLetter,
    DeadLetterInputError,
    PublishRefused,
    read_dead_letter,
    replay_copy,
    resolve_amqp_url,
)
from offload.dlq.queue import DeadLetterQueue
from offload.dlq.replay import (
    Peek,
    ReplayOutcome,
    ReplayReport,
    peek_dead_letters,
    replay_dead_letters,
)

__all__ = [
    "DEFAULT_AMQP_URL",
    "REPLAY_DETAIL",
    "DeadLetter",
    "DeadLetterInputError",
    "DeadLetterQueue",
    "JobRecord",
    "JobStates",
    "Peek",
    "PublishRefused",
    "ReplayOutcome",
    "ReplayReport",
    "peek_dead_letters",
    "read_dead_letter",
    "replay_copy",
    "replay_dead_letters",
    "resolve_amqp_url",
]
