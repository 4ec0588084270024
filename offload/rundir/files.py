"""How each JSON file of a run directory is read and written: one versioned model per file.

Every file carries a ``schema_version``. A reader accepts the versions listed in
:data:`READABLE_VERSIONS` and refuses anything else with a message naming the file — a newer
version (written by a newer offload) says so, rather than failing later on a missing field.
The history of the versions is in ``reports/README.md`` ("Schema versions").

Unknown fields are kept, not rejected: the public contract lets a newer offload of the same
schema version add fields, and an older reader must still read (and re-write) such a file.
A model writes the fields that were set — read from the file, given or assigned by the
writer, or changed in place since — and nothing else, so a round trip leaves a file as it was
and a figure that does not apply to a design (the queue of a sync design) stays absent rather
than becoming ``null``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from loadtests.atomic import write_atomically
from offload.errors import RunInvalid

#: the schema version this offload writes
SCHEMA_VERSION = 1
#: every schema version this offload reads
READABLE_VERSIONS: tuple[int, ...] = (1,)


def _finite(value: float | None) -> float | None:
    """NaN and infinities are not JSON: a figure without a value is ``null``."""
    return value if value is None or math.isfinite(value) else None


#: a measured figure: a number, or None when the run has no value for it
Figure = Annotated[float | None, AfterValidator(_finite)]


class Record(BaseModel):
    """A part of a run-directory file: typed fields, unknown fields kept, assignments checked."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON object this part is written as: the fields that were set, and those
        changed in place since (``record.items.append(...)`` on a defaulted list sets
        nothing, yet must not vanish from the file), at every depth."""
        _mark_changed_in_place(self)
        return self.model_dump(mode="json", exclude_unset=True)


def _mark_changed_in_place(model: BaseModel) -> None:
    """Count as set every field of ``model`` (and of the models it holds) whose value is no
    longer its default; a default left alone stays unset, so an absent figure stays absent."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if (
            name not in model.model_fields_set
            and not field.is_required()
            and value != field.get_default(call_default_factory=True)
        ):
            model.model_fields_set.add(name)
        for child in _models_in(value):
            _mark_changed_in_place(child)


def _models_in(value: object) -> list[BaseModel]:
    """The models directly inside a field's value: itself, or the items of a list or dict."""
    if isinstance(value, BaseModel):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, BaseModel)]
    if isinstance(value, dict):
        return [item for item in value.values() if isinstance(item, BaseModel)]
    return []


class RunFile(Record):
    """One JSON file of a run directory, with its schema version, ``load`` and ``dump``."""

    #: the file's name inside its folder, for messages and for ``in_folder``
    FILE_NAME: ClassVar[str]
    #: what the file is, for messages: "the run's summary"
    WHAT: ClassVar[str]

    schema_version: int = SCHEMA_VERSION

    def model_post_init(self, context: Any, /) -> None:
        # the version is always written, also when a writer leaves it at its default
        self.model_fields_set.add("schema_version")

    @classmethod
    def load(cls, path: Path | str) -> Self:
        """Read and check the file; every problem is a :class:`RunInvalid` naming it."""
        path = Path(path)
        data = read_object(path)
        check_version(path, data.get("schema_version", _MISSING))
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RunInvalid(f"{path}: not a valid {cls.WHAT}: {describe(exc)}") from exc

    @classmethod
    def in_folder(cls, folder: Path) -> Self:
        return cls.load(folder / cls.FILE_NAME)

    def dump(self, path: Path | str) -> Path:
        """Write the file atomically (readers never see half a file); returns its path."""
        path = Path(path)
        write_atomically(path, json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        return path


_MISSING = object()


def check_version(path: Path, version: object) -> None:
    """Refuse a file this offload cannot read, saying whether it is newer or unknown."""
    readable = ", ".join(map(str, READABLE_VERSIONS))
    if version is _MISSING:
        raise RunInvalid(
            f"{path}: no schema_version: not a file written by offload bench "
            f"(this offload reads schema_version {readable})"
        )
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunInvalid(
            f"{path}: schema_version {version!r} is not one this offload reads ({readable})"
        )
    if version > SCHEMA_VERSION:
        raise RunInvalid(
            f"{path}: schema_version {version} is not one this offload reads ({readable}): "
            "it was written by a newer offload; upgrade offload to read it"
        )
    if version not in READABLE_VERSIONS:
        raise RunInvalid(
            f"{path}: schema_version {version} is not one this offload reads ({readable})"
        )


def read_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a missing, unreadable or non-object file is RunInvalid."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise RunInvalid(f"{path} is missing: is this a run directory of offload bench?") from exc
    except OSError as exc:
        raise RunInvalid(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunInvalid(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise RunInvalid(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def describe(error: ValidationError, limit: int = 3) -> str:
    """``field 'designs.async.emails.lost': Input should be a valid integer`` (first few)."""
    problems = [
        f"field '{'.'.join(str(part) for part in item['loc']) or '(top level)'}': {item['msg']}"
        for item in error.errors(include_url=False)
    ]
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more
