"""A verdict in a user's words: what the model is and whether each part fits, in one line for a
node's face ("Wan 2.1 T2V 1.3B · fp16 · VAE fits · text encoder fits"), each problem with its fix,
and the evidence (shapes, files) kept apart for whoever wants it.

Paths are shown through a `shown` function the caller gives (the nodes show them relative to
ComfyUI's model folders), so nothing here prints an absolute path on its own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .model_info import ModelInfo

# The parts a compatibility check adds, in the words a user knows them by.
PART_WORDS = {"vae": "VAE", "text_encoder": "text encoder", "clip_vision": "CLIP vision"}
# Problem codes about one part; any other problem is about the model itself.
PART_CODES = {
    "WRONG_VAE": "vae", "WRONG_TEXT_ENCODER": "text_encoder", "WRONG_CLIP_VISION": "clip_vision",
    "CLIP_VISION_MISSING": "clip_vision", "CLIP_VISION_UNUSED": "clip_vision",
}
_MARKS = {"error": "✗", "warning": "!", "info": "i"}


def model_words(info: ModelInfo) -> str:
    """What the model is, as ComfyUI users name it: "Wan 2.2 TI2V 5B", "Wan 2.2 T2V A14B (high-noise expert)"."""
    if info.family == "wan":
        words = " ".join(b for b in (f"Wan {info.version}" if info.version else "Wan (version not recognised)",
                                     (info.task or "").upper(), info.size or "") if b)
        if info.expert:
            words += f" ({info.expert.replace('_', '-')} expert)"
        return words
    if info.family == "unknown":
        return "not recognised as a Wan model"
    return f"not a Wan model ({info.family})"


def _part_of(item: Any, parts: dict[str, dict[str, Any]]) -> str | None:
    slot = PART_CODES.get(item.code) or item.context.get("slot", "").replace(" ", "_") or None
    if slot in parts:
        return slot
    for name, facts in parts.items():  # a part's own file error names its file
        if facts.get("path") and Path(str(facts["path"])).name in (item.detail or ""):
            return name
    return None


def parts_checked(info: ModelInfo) -> dict[str, dict[str, Any]]:
    """The parts a check added to the verdict (slot -> facts with the part's `path`)."""
    return {slot: facts for slot, facts in info.components.items() if slot in PART_WORDS and facts.get("path")}


def part_states(info: ModelInfo) -> dict[str, str]:
    """Each checked part (and a missing CLIP vision) -> fits | does not fit | warning | not used | missing."""
    parts = parts_checked(info)
    states = {slot: "fits" for slot in parts}
    rank = {"fits": 0, "not used": 1, "warning": 2, "missing": 3, "does not fit": 4}
    for item in info.problems:
        slot = "clip_vision" if item.code == "CLIP_VISION_MISSING" else _part_of(item, parts)
        if slot is None:
            continue
        if item.code == "CLIP_VISION_MISSING":
            state = "missing"
        elif item.code == "CLIP_VISION_UNUSED":
            state = "not used"
        else:
            state = {"error": "does not fit", "warning": "warning"}.get(item.severity, "fits")
        if slot not in states or rank[state] > rank[states[slot]]:
            states[slot] = state
    return states


def headline(info: ModelInfo) -> str:
    """The one line of the node face: the model, its dtype, then each checked part."""
    bits = [model_words(info)]
    if info.dtype:
        bits.append(info.dtype)
    for slot, state in part_states(info).items():
        word = PART_WORDS[slot]
        bits.append(f"{word} {state}" if state in ("fits", "does not fit", "missing", "not used") else f"{word}: see the warning")
    return " · ".join(bits)


def problem_lines(info: ModelInfo, severities: tuple[str, ...] = ("error", "warning")) -> list[str]:
    """Each problem of those severities in one line: mark, summary, fix."""
    return [f"{_MARKS.get(p.severity, '-')} {p.summary}" + (f". Fix: {p.fix}" if p.fix else "")
            for p in info.problems if p.severity in severities]


def evidence(info: ModelInfo, shown: Callable[[str], str]) -> list[str]:
    """What the verdict rests on: the files read, the shapes and config values that decided it,
    and the notes (problems of severity info)."""
    lines = [f"model: {shown(info.path)} ({info.kind.replace('_', ' ')}, {info.format.replace('_', ' ')})"]
    for slot, facts in parts_checked(info).items():
        extra = ", ".join(f"{k} {v}" for k, v in facts.items() if k in ("variant", "dtype", "z_dim") and v)
        lines.append(f"{PART_WORDS[slot]}: {shown(str(facts['path']))}" + (f" ({extra})" if extra else ""))
    if info.pipeline_class:
        lines.append(f"pipeline: {info.pipeline_class}")
    lines += [shown(e) for e in info.evidence]
    lines += problem_lines(info, ("info",))
    return lines


def face(info: ModelInfo, shown: Callable[[str], str], checked: str = "") -> dict[str, Any]:
    """The node face: headline, problems (each with its fix), what was checked, evidence."""
    return {"headline": headline(info), "problems": [shown(line) for line in problem_lines(info)],
            "checked": checked, "evidence": evidence(info, shown)}
