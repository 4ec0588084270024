"""What the bare apps of both interfaces answer besides a signup, the same for each."""

from __future__ import annotations

#: what the stack's floor answers to ``GET /healthz`` as its design name
DESIGN = "stack-floor"


def bare_user(user_id: str) -> dict[str, str]:
    """What a bystander's ``GET /users/{id}`` gets from the floor: a user's shape, no lookup."""
    return {"id": user_id, "email": f"{user_id[:8]}@example.com", "display_name": "Floor"}
