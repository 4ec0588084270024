"""The harness's name for a design's knobs, declared by the reference designs themselves.

The declaration (type, unit, limits, default of each knob) lives in ``targets.common.knobs``,
the one module of ``targets/`` the harness relies on for them; scenarios (``designs:``),
``offload up`` / ``offload verify`` and the targets' settings all derive from it.
"""

from __future__ import annotations

from targets.common.knobs import DesignKnobs as DesignConfig

__all__ = ["DesignConfig"]
