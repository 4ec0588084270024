"""The worker's batching never acknowledges a job before it is settled, and groups what
arrives together: several settled deliveries in one ack frame, several writes in one call."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from targets.async_api.batching import Acker, WriteBatcher


class FakeChannel:
    """Records the acks and rejects a pika channel would send."""

    def __init__(self) -> None:
        self.is_open = True
        self.frames: list[tuple[str, int, Any]] = []

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.frames.append(("ack", tag, multiple))

    def basic_nack(self, tag: int, requeue: bool = True) -> None:
        self.frames.append(("nack", tag, requeue))


def acknowledged(frames: list[tuple[str, int, Any]]) -> set[int]:
    """Every delivery tag the frames acknowledge (a multiple ack covers all tags up to it)."""
    covered: set[int] = set()
    for kind, tag, multiple in frames:
        if kind == "ack":
            covered |= set(range(1, tag + 1)) if multiple else {tag}
    return covered


async def settle(acker: Acker, acks: list[int]) -> None:
    for tag in acks:
        acker.ack(tag)
    await asyncio.sleep(0)  # the end of the loop iteration, when the acker flushes


def test_deliveries_settled_together_go_out_as_one_multiple_ack() -> None:
    async def scenario() -> list[tuple[str, int, Any]]:
        channel = FakeChannel()
        acker = Acker(channel)
        for tag in range(1, 6):
            acker.received(tag)
        await settle(acker, [3, 1, 2, 5, 4])
        return channel.frames

    assert asyncio.run(scenario()) == [("ack", 5, True)]


def test_a_multiple_ack_never_covers_a_delivery_still_in_hand() -> None:
    async def scenario() -> list[tuple[str, int, Any]]:
        channel = FakeChannel()
        acker = Acker(channel)
        for tag in range(1, 6):
            acker.received(tag)
        await settle(acker, [1, 2, 4, 5])  # 3 is still waiting for the provider
        return channel.frames

    frames = asyncio.run(scenario())
    assert 3 not in acknowledged(frames)
    assert acknowledged(frames) == {1, 2, 4, 5}


def test_a_rejected_delivery_is_rejected_at_once_and_never_acked_later() -> None:
    async def scenario() -> list[tuple[str, int, Any]]:
        channel = FakeChannel()
        acker = Acker(channel)
        for tag in range(1, 4):
            acker.received(tag)
        acker.reject(2, requeue=False)  # dead-lettered
        await settle(acker, [1, 3])
        return channel.frames

    frames = asyncio.run(scenario())
    assert frames[0] == ("nack", 2, False)
    assert acknowledged(frames[1:]) >= {1, 3}
    assert frames[1:] == [("ack", 3, True)]  # 2 is settled already: covering it is harmless


def test_nothing_is_sent_on_a_channel_that_closed() -> None:
    async def scenario() -> list[tuple[str, int, Any]]:
        channel = FakeChannel()
        acker = Acker(channel)
        acker.received(1)
        channel.is_open = False
        await settle(acker, [1])
        acker.reject(1, requeue=True)
        return channel.frames

    assert asyncio.run(scenario()) == []


def test_writes_submitted_together_share_one_call_and_each_caller_gets_its_own_result() -> None:
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * 10 for item in items]

    async def scenario() -> list[int]:
        batcher: WriteBatcher[int, int] = WriteBatcher(write, name="test")
        try:
            return list(await asyncio.gather(*(batcher.submit(i) for i in range(5))))
        finally:
            batcher.close()

    assert asyncio.run(scenario()) == [0, 10, 20, 30, 40]
    assert calls == [[0, 1, 2, 3, 4]]


def test_a_write_submitted_during_a_batch_goes_into_the_next_one_and_waits_for_it() -> None:
    calls: list[list[str]] = []
    first_started = threading.Event()
    release_first = threading.Event()

    def write(items: list[str]) -> list[str]:
        calls.append(items)
        if items == ["a"]:
            first_started.set()
            release_first.wait(5)
        return items

    async def scenario() -> None:
        batcher: WriteBatcher[str, str] = WriteBatcher(write, name="test")
        try:
            first = asyncio.ensure_future(batcher.submit("a"))
            await asyncio.to_thread(first_started.wait, 5)
            second = asyncio.ensure_future(batcher.submit("b"))
            third = asyncio.ensure_future(batcher.submit("c"))
            await asyncio.sleep(0.01)
            assert not second.done()  # not answered before its own batch was written
            release_first.set()
            assert await asyncio.gather(first, second, third) == ["a", "b", "c"]
        finally:
            batcher.close()

    asyncio.run(scenario())
    assert calls == [["a"], ["b", "c"]]


def test_a_failed_write_fails_every_caller_of_its_batch() -> None:
    def write(items: list[int]) -> list[int]:
        raise RuntimeError("database is locked")

    async def scenario() -> None:
        batcher: WriteBatcher[int, int] = WriteBatcher(write, name="test")
        try:
            results = await asyncio.gather(
                batcher.submit(1), batcher.submit(2), return_exceptions=True
            )
        finally:
            batcher.close()
        assert all(isinstance(r, RuntimeError) for r in results)

    asyncio.run(scenario())


@pytest.mark.parametrize("size", [1, 3])
def test_batches_never_exceed_their_bound(size: int) -> None:
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        calls.append(items)
        return items

    async def scenario() -> None:
        batcher: WriteBatcher[int, int] = WriteBatcher(write, name="test", max_batch=size)
        try:
            await asyncio.gather(*(batcher.submit(i) for i in range(7)))
        finally:
            batcher.close()

    asyncio.run(scenario())
    assert max(len(c) for c in calls) == size
    assert [i for c in calls for i in c] == list(range(7))
