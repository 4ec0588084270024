"""What every part of a scenario shares: strict models (unknown fields are errors) and the
shape of a phase name."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

RESERVED_PHASES = {"overall", "warmup", "drain"}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PhaseName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
