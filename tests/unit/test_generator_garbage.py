"""Past a server's capacity the generator records thousands of failures a second. Each
failure's exception holds its traceback, whose frames hold the response holding the
exception: a reference cycle that only Python's cyclic GC frees, in pauses that grew to
60-240 ms every ~3 s in a 300 signups/s run against the sync design and put the generator
behind its schedule. Once recorded, a failure is unlinked and freed at once."""

from __future__ import annotations

import gc

import pytest

from loadtests.records import unlink_failure

pytestmark = pytest.mark.unit


class Response:
    error: BaseException | None = None


class RetriesExceeded(Exception):
    """geventhttpclient's wrapper: the cause is in ``.original``."""

    original: BaseException | None = None


def fail(response: Response) -> None:
    """What the HTTP client does on a timeout: the error, with its traceback, on the response."""
    try:
        raise TimeoutError("timed out")
    except TimeoutError as exc:
        wrapper = RetriesExceeded("retries exceeded")
        wrapper.original = exc
        response.error = wrapper


def garbage_after_a_failure(unlink: bool) -> int:
    """Objects only the cyclic GC could free after one recorded failure."""
    gc.collect()
    gc.disable()
    try:
        response = Response()
        fail(response)
        if unlink:
            unlink_failure(response.error)
            response.error = None
        del response
        return gc.collect()
    finally:
        gc.enable()


def test_a_recorded_failure_is_freed_without_the_cyclic_gc():
    assert garbage_after_a_failure(unlink=False) > 0  # the cycle is real
    assert garbage_after_a_failure(unlink=True) == 0


def test_unlinking_follows_the_wrapped_causes_and_stops():
    inner = ValueError("inner")
    outer = RetriesExceeded("outer")
    outer.original = inner
    outer.__cause__ = inner
    unlink_failure(outer)
    assert outer.__traceback__ is None and outer.__cause__ is None
    unlink_failure(None)  # nothing recorded as an exception: nothing to do
