"""Check an expectation's paths against the shape of summary.json before anything runs.

A typo in ``expect:`` (``async.signup.overal.latency_ms.p95``) would otherwise start a full
bench and fail only at the gate. :func:`skeleton` builds a summary.json of the scenario's
designs and phases with every figure ``null``, from the same pydantic models the bench writes
(:mod:`offload.rundir.summary`), so the shape is declared once; :func:`path_problems` then
looks each path up in it with the gate's own :func:`~offload.expect.paths.lookup`. A path
that reaches a figure meets ``null`` (:class:`MissingValue`): it is well formed. One that
names nothing gets the gate's message, nearest valid paths included.

What the skeleton cannot know before the run is left open: the components under
``resources`` (they come from the target's manifest) and, for a target given as a directory,
the design's name (its manifest names it; the path's own is taken). A queue figure is allowed
for every design: which designs are queue-backed is the target's to say, and the gate still
refuses a figure a run does not have.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from offload.analysis.percentiles import PERCENTILES
from offload.expect.expressions import parse_expectation
from offload.expect.paths import MissingValue, UnknownPath, full_path, lookup
from offload.rundir.summary import DesignSummary


class AnyKey(Mapping[str, Any]):
    """A mapping whose keys are not known before the run: every key names ``child``.

    Listing it (for the "nearest valid paths" of a message) shows one ``<placeholder>``.
    """

    def __init__(self, placeholder: str, child: Any) -> None:
        self._placeholder = placeholder
        self._child = child

    def __getitem__(self, key: str) -> Any:
        return self._child

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        yield f"<{self._placeholder}>"

    def __len__(self) -> int:
        return 1


#: what the keys of each open-ended ``dict`` field of the summary are
_PERCENTILE_KEYS = tuple(PERCENTILES)


def skeleton(designs: Iterable[str], phases: Iterable[str]) -> dict[str, Any]:
    """summary.json's shape for these designs and phases, every figure ``null``."""
    design = _model(DesignSummary, tuple(phases))
    return {"designs": dict.fromkeys(designs, design)}


def path_problems(
    expectations: list[str], designs: Iterable[str] | None, phases: Iterable[str]
) -> list[tuple[int, str]]:
    """``(index, message)`` for every expectation with a path naming no figure.

    ``designs`` None: the names are not known before the run, and whichever a path names is
    taken as one (so that the rest of the path is still checked, with suggestions).
    """
    parsed = [parse_expectation(text) for text in expectations]
    if designs is None:
        designs = {
            full_path(path)[1] for e in parsed for path in e.paths if len(full_path(path)) > 1
        }
    shape = skeleton(designs, phases)
    problems = []
    for index, expression in enumerate(parsed):
        for path in expression.paths:
            try:
                lookup(shape, path)
            except MissingValue:
                continue  # a figure: every figure of the skeleton is null
            except UnknownPath as exc:
                problems.append((index, str(exc)))
                break
    return problems


def _model(model: type[BaseModel], phases: tuple[str, ...]) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        node = _node(name, field.annotation, phases)
        if node is not _OMIT:
            shape[name] = node
    return shape


_OMIT = object()


def _node(name: str, annotation: Any, phases: tuple[str, ...]) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _node(name, get_args(annotation)[0], phases)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _node(name, members[0], phases) if len(members) == 1 else None
    if origin is dict:
        child = _node(name, get_args(annotation)[1], phases)
        if name == "phases":
            return dict.fromkeys(phases, child)
        if name in ("ci", "unavailable"):
            return dict.fromkeys(_PERCENTILE_KEYS, child)
        return AnyKey("component" if name == "resources" else "name", child)
    if origin in (list, tuple):
        return _OMIT  # lists are not figures an expectation can name
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model(annotation, phases)
    if annotation is str:
        return ""  # text: the gate says "names the text, not a number"
    return None  # a figure (int, float, bool)
