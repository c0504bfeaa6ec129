"""The problems a workflow check found, each with the nodes it concerns: one module of its own so
that the checks and the pair rules that add to it import it, not each other."""
from __future__ import annotations

from typing import Any

from ..core.errors import problem


class Findings:
    """Problems with the nodes they concern; one entry per (code, nodes)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(self, code: str, node_ids: list[str], detail: str = "", severity: str | None = None, **context: Any) -> dict[str, Any] | None:
        """The new entry, or None when the same problem on the same nodes was already added."""
        ids = list(dict.fromkeys(i for i in node_ids if i))
        key = (code, tuple(sorted(ids)))
        if key in self._seen:
            return None
        self._seen.add(key)
        entry = problem(code, detail, severity=severity, **context).to_dict()  # type: ignore[arg-type]
        entry["node_ids"] = ids
        self.items.append(entry)
        return entry
