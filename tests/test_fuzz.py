"""Seeded fuzzing of the hostile-input parsers: 2000 mutated inputs per target (safetensors headers,
configs, pickles; workflow documents, explain messages, LoRA files, GGUF tensor tables, settings
files), each either accepted or refused with one of the pack's typed errors; any other exception is
a crash and fails the test with the seed and index that reproduce it
(`compat.fixtures.fuzz.crash_input`). 10^5 inputs: `python benchmarks/fuzz.py`."""
from __future__ import annotations

import pytest

from wan_compat.compat.fixtures import fuzz

COUNT = 2000
SEED = 14


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # pickletools reading mutated STRING args
@pytest.mark.parametrize("target", sorted(fuzz.TARGETS))
def test_fuzz_gives_only_typed_errors(target: str) -> None:
    result = fuzz.run(target, seed=SEED, count=COUNT)
    assert result.inputs == COUNT
    assert result.crashes == [], f"{target}, seed {SEED}: {len(result.crashes)} crashes, e.g. {result.crashes[:3]}"
    # The mutations reach both outcomes: some inputs are refused, some still parse.
    assert 0 < result.typed < COUNT


def test_fuzz_counts_a_crash_as_a_crash(tmp_path) -> None:
    """The harness itself: an untyped exception from a target is recorded, not swallowed."""
    def boom(raw: bytes, scratch) -> None:
        raise OverflowError("an untyped parser failure")

    seeds, tokens, _ = fuzz.TARGETS["safetensors header"]
    fuzz.TARGETS["boom"] = (seeds, tokens, boom)
    try:
        result = fuzz.run("boom", count=5)
    finally:
        del fuzz.TARGETS["boom"]
    assert len(result.crashes) == 5 and "OverflowError" in result.crashes[0]


def test_fuzz_is_reproducible() -> None:
    first = list(fuzz.inputs("pickle scanner", 3, 50))
    assert first == list(fuzz.inputs("pickle scanner", 3, 50)) and fuzz.crash_input("pickle scanner", 3, 49) == first[49]
