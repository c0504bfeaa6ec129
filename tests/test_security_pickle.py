"""Crafted pickles whose payload would create a canary file: every one is blocked by the static
scan and by the loader, and the canary never appears. Nothing here is ever unpickled: the bytes
are built from opcodes, or by pickling objects whose __reduce__ names the payload (pickling does
not run it)."""
from __future__ import annotations

import collections
import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import SecurityError  # noqa: E402
from wan_compat.compat.security.pickle_load import (  # noqa: E402
    load_pickle_state_dict,
    require_torch_for_pickles,
    torch_can_load_pickles,
)
from wan_compat.compat.security.pickle_scan import ALLOWED_GLOBALS, scan_file, scan_stream  # noqa: E402
from wan_compat.compat.security.pinned import PinnedFile, sha256_of  # noqa: E402
from wan_compat.compat.security.policy import SecurityPolicy  # noqa: E402


# ---------------------------------------------------------------- payload builders
def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


class _Call:
    """Pickles as `func(*args)`; pickling only records the names, nothing runs."""

    def __init__(self, func, *args):  # noqa: ANN001
        self.func, self.args = func, args

    def __reduce__(self):  # noqa: ANN204
        return self.func, self.args


def reduce_system(cmd: str, protocol: int) -> bytes:
    return pickle.dumps(_Call(os.system, cmd), protocol=protocol)


def stack_global_via_memo(cmd: str) -> bytes:
    """'os' and 'system' are memoised, popped, and fetched back with BINGET before STACK_GLOBAL:
    scanners that only look at the two opcodes before STACK_GLOBAL see BINGETs, not strings."""
    return (
        b"\x80\x04"
        + _unicode("os") + b"\x94"  # MEMOIZE -> memo 0
        + _unicode("system") + b"\x94"  # memo 1
        + b"00"  # POP POP
        + b"h\x00h\x01"  # BINGET 0, BINGET 1
        + b"\x93"  # STACK_GLOBAL
        + _unicode(cmd) + b"\x85"  # TUPLE1
        + b"R."  # REDUCE STOP
    )


def importlib_chain(cmd: str) -> bytes:
    """getattr(importlib.import_module('os'), 'system')(cmd), protocol 2 opcodes."""
    return (
        b"\x80\x02"
        + b"cbuiltins\ngetattr\n"
        + b"(cimportlib\nimport_module\n(X\x02\x00\x00\x00ostR"  # import_module('os')
        + b"X\x06\x00\x00\x00systemtR"  # getattr(module, 'system')
        + b"(X" + struct.pack("<I", len(cmd)) + cmd.encode() + b"tR."
    )


def dotted_stack_global(cmd: str) -> bytes:
    """STACK_GLOBAL('os.path', 'os.system'): posixpath's own `os` attribute, a dotted-name bypass."""
    return b"\x80\x04" + _unicode("os.path") + _unicode("os.system") + b"\x93" + _unicode(cmd) + b"\x85R."


def computed_stack_global(cmd: str) -> bytes:
    """STACK_GLOBAL whose module name is computed at load time (str.lower('OS')): unknowable statically."""
    return (
        b"\x80\x04"
        + _unicode("builtins") + _unicode("str.lower") + b"\x93"
        + _unicode("OS") + b"\x85R"
        + _unicode("system") + b"\x93"
        + _unicode(cmd) + b"\x85R."
    )


def legacy_stacked(cmd: str, tmp: Path) -> bytes:
    """A legacy torch file whose third pickle (sys info) carries the payload."""
    legit = tmp / "legit_legacy.pt"
    torch.save({"w": torch.zeros(2)}, legit, _use_new_zipfile_serialization=False)
    data = legit.read_bytes()
    # The first two pickles (magic number, protocol version) are short and end with STOP.
    first = data.index(b".") + 1
    second = data.index(b".", first) + 1
    return data[:second] + reduce_system(cmd, 2) + data[second:]


def zip_with_crafted_pkl(cmd: str, tmp: Path, name: str) -> Path:
    """A real torch.save archive whose data.pkl is replaced by a payload pickle."""
    real = tmp / f"real_{name}"
    torch.save(collections.OrderedDict(w=torch.ones(3)), real)
    out = tmp / name
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = reduce_system(cmd, 2)
            dst.writestr(info, data)
    return out


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "CANARY"
    yield path
    assert not path.exists(), "a pickle payload ran"


def _cases(cmd: str, tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the global the scan must report)."""
    files: dict[str, tuple[bytes | Path, str]] = {
        "proto0.ckpt": (reduce_system(cmd, 0), "posix.system"),
        "proto2.ckpt": (reduce_system(cmd, 2), "posix.system"),
        "proto5.ckpt": (reduce_system(cmd, 5), "posix.system"),
        "memo_stack_global.pth": (stack_global_via_memo(cmd), "os.system"),
        "importlib.bin": (importlib_chain(cmd), "importlib.import_module"),
        "dotted.pt": (dotted_stack_global(cmd), "os.path.os.system"),
        "computed.ckpt": (computed_stack_global(cmd), "builtins.str.lower"),
        "legacy_stacked.pt": (legacy_stacked(cmd, tmp), "posix.system"),
        "stacked_raw.ckpt": (pickle.dumps({"w": 1}, protocol=2) + reduce_system(cmd, 2), "posix.system"),
        "disguised.safetensors": (reduce_system(cmd, 4), "posix.system"),
        "zip.pt": (zip_with_crafted_pkl(cmd, tmp, "zip.pt"), "posix.system"),
        "zip.bin": (zip_with_crafted_pkl(cmd, tmp, "zip.bin"), "posix.system"),
        "zip_disguised.safetensors": (zip_with_crafted_pkl(cmd, tmp, "zip_disguised.safetensors"), "posix.system"),
    }
    out = {}
    for name, (content, expected) in files.items():
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        out[name] = (path, expected)
    return out


def test_every_crafted_pickle_is_blocked_and_never_runs(tmp_path: Path, canary: Path) -> None:
    cases = _cases(f"touch {canary}", tmp_path)
    for name, (path, expected) in cases.items():
        scan = scan_file(path)
        assert not scan.safe, name
        if name == "computed.ckpt":
            assert scan.unresolved and expected in scan.imports(), (name, scan.to_dict())
        else:
            assert expected in {g.dotted for g in scan.blocked}, (name, scan.to_dict())
        # Even with its sha256 allowlisted, the loader refuses it and names what it would import.
        policy = SecurityPolicy(allowed_pickle_sha256=[sha256_of(path.open("rb"))])
        with pytest.raises(SecurityError) as err:
            load_pickle_state_dict(path, policy)
        assert err.value.code == "PICKLE_UNSAFE_GLOBALS", (name, err.value)
        assert expected.split(".")[-1] in str(err.value)
    assert not canary.exists()


def test_scan_reports_the_zip_member_and_stacked_position(tmp_path: Path, canary: Path) -> None:
    cases = _cases(f"touch {canary}", tmp_path)
    zipped = scan_file(cases["zip.pt"][0])
    assert zipped.container == "torch_zip"
    assert {g.where for g in zipped.blocked} == {"data.pkl"}  # named as torch names its records
    stacked = scan_file(cases["stacked_raw.ckpt"][0])
    assert stacked.pickles == 2 and {g.where for g in stacked.blocked} == {"pickle 2"}
    legacy = scan_file(cases["legacy_stacked.pt"][0])
    assert legacy.container == "legacy_torch" and {g.where for g in legacy.blocked} == {"pickle 3"}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x80\x04\x95", "truncated"),
        (b"\x80\x02}q\x00", "no STOP"),
        (b"\x80\x02\xff.", "unknown opcode"),
        (b"\x80\x02h\x05.", "memo slot never written"),
        (pickle.dumps({"a": 1}, protocol=2) + b"junk", "trailing"),
    ],
)
def test_malformed_pickles_are_blocked(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    scan = scan_file(path)
    assert scan.errors and not scan.safe, message
    with pytest.raises(SecurityError) as err:
        load_pickle_state_dict(path, SecurityPolicy(allowed_pickle_sha256=[sha256_of(path.open("rb"))]))
    assert err.value.code == "PICKLE_MALFORMED"


def test_broken_zip_archive_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    torch.save({"w": torch.zeros(2)}, path)
    path.write_bytes(path.read_bytes()[:200])
    assert scan_file(path).errors


def test_legitimate_state_dict_passes_scan_and_loads_only_when_allowlisted(tmp_path: Path) -> None:
    state = collections.OrderedDict(
        weight=torch.randn(4, 3, dtype=torch.bfloat16),
        bias=torch.nn.Parameter(torch.randn(4)),
        steps=torch.arange(5),
        fp8=torch.randn(8).to(torch.float8_e4m3fn),
        half=torch.randn(2, dtype=torch.float16),
    )
    path = tmp_path / "model.pt"
    torch.save(state, path)
    scan = scan_file(path)
    assert scan.safe, scan.to_dict()
    assert set(scan.imports()) >= {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.BFloat16Storage"}
    assert all((g.module, g.name) in ALLOWED_GLOBALS for g in scan.globals)

    with pytest.raises(SecurityError) as err:
        load_pickle_state_dict(path, SecurityPolicy())
    digest = sha256_of(path.open("rb"))
    assert err.value.code == "PICKLE_NOT_ALLOWED" and digest in str(err.value)

    loaded, evidence = load_pickle_state_dict(path, SecurityPolicy(allowed_pickle_sha256=[digest]))
    assert evidence.allowlisted and evidence.sha256 == digest and evidence.scan.safe
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key].view(torch.uint8), value.detach().view(torch.uint8)), key


def test_legacy_torch_file_scans_clean_but_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    scan = scan_file(path)
    assert scan.safe and scan.container == "legacy_torch" and scan.pickles == 5
    digest = sha256_of(path.open("rb"))
    with pytest.raises(SecurityError) as err:
        load_pickle_state_dict(path, SecurityPolicy(allowed_pickle_sha256=[digest]))
    assert err.value.code == "PICKLE_LEGACY_FORMAT"


@pytest.mark.parametrize(
    "version, allowed",
    [("2.5.1+cu124", False), ("2.4.0", False), ("1.13.1", False), ("2.6.0", True), ("2.6.0a0+git1234", True),
     ("2.6.0rc1", True), ("2.13.0+cpu", True), ("3.0.0", True), ("nonsense", False), ("", False)],
)
def test_torch_version_decision(version: str, allowed: bool) -> None:
    assert torch_can_load_pickles(version) is allowed
    if allowed:
        require_torch_for_pickles(version)
    else:
        with pytest.raises(SecurityError) as err:
            require_torch_for_pickles(version)
        assert err.value.code == "TORCH_TOO_OLD_FOR_PICKLE" and version in str(err.value)


def test_file_rewritten_or_replaced_during_load_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with PinnedFile(path) as pinned:
        pinned.sha256()
        with open(path, "ab") as fh:
            fh.write(b"\0")
        with pytest.raises(SecurityError) as err:
            pinned.verify_unchanged()
        assert err.value.code == "FILE_CHANGED_DURING_LOAD"
    other = tmp_path / "other.pt"
    shutil.copy(path, other)
    with PinnedFile(path) as pinned:
        os.replace(other, path)
        with pytest.raises(SecurityError) as err:
            pinned.verify_unchanged()
        assert err.value.code == "FILE_CHANGED_DURING_LOAD"


def test_scan_stream_of_bytes_reports_imports() -> None:
    scan = scan_stream(pickle.dumps(collections.OrderedDict(a=1), protocol=2))
    assert scan.safe and scan.imports() == ["collections.OrderedDict"]
