"""What every part of a scenario shares: strict models (unknown fields are errors), changes
that keep every field they do not set, and the shape of a phase name."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

RESERVED_PHASES = {"overall", "warmup", "drain"}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnlySetFields(BaseModel):
    """A change to a section of the same shape: only the fields it sets count
    (``{workers: 8}`` changes the workers and keeps every other knob).

    Mixed in before the section's model, so that a change accepts exactly the values the
    section accepts. An unset field is written as null, as a stored scenario has always had
    it, and null reads back as unset.
    """

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_serializer(mode="wrap")
    def _unset_as_null(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name, field in type(self).model_fields.items():
            if name not in self.model_fields_set:
                data[field.alias if field.alias in data else name] = None
        return data

    def changes(self) -> dict[str, Any]:
        """The fields this change sets, by attribute name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


PhaseName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
