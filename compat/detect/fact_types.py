"""The facts a reader takes from tensor names and shapes (shared by `facts` and `encoders`)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Shapes = dict[str, tuple[int, ...]]


class Facts:
    """What the weights say: the kind, the numbers signatures compare, and how we know."""

    def __init__(self, kind: str, values: dict[str, Any] | None = None, naming: str | None = None,
                 prefix: str = "", evidence: list[str] | None = None, family: str | None = None) -> None:
        self.kind = kind  # transformer | vae | text_encoder | clip_vision | unknown
        self.values = values if values is not None else {}
        self.naming, self.prefix = naming, prefix
        self.evidence = evidence if evidence is not None else []
        self.family = family  # set when the weights are recognisably not Wan
