"""Reading weight files under the security policy, each format decided by its magic bytes.

safetensors: the header is validated by our own reader first, then the tensors are read from the
very file that was checked (see `security/pinned.py`). Pickles: only through
`security.pickle_load` (scan, sha256 allowlist, torch >= 2.6, `weights_only=True`). GGUF and
unknown formats are refused. A pickle named `.safetensors` is refused before anything reads it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import ModelFileError, SecurityError
from ..detect.safetensors_header import SafetensorsHeader, read_header
from ..security.pickle_load import load_pickle_state_dict
from ..security.pickle_scan import scan_file
from ..security.pinned import PinnedFile, sha256_of
from ..security.policy import SecurityPolicy
from ..detect.sniff import FileFormat, sniff_bytes
from .file_read import read_tensors
from .report import FileRecord, LoadReport
from ..core.regular_file import open_regular

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


def check_format(path: Path, fmt: FileFormat, report: LoadReport, role: str) -> None:
    """Refuse what can never load: pickles in disguise, GGUF, empty or unknown files."""
    if fmt.is_pickle and path.suffix.lower() == ".safetensors":
        scan = scan_file(path)
        report.files.append(FileRecord(role, str(path), fmt.value, path.stat().st_size, scan=scan.to_dict()))
        report.refuse(str(path), f"named .safetensors but holds a {fmt.value}", "DISGUISED_PICKLE")
        raise SecurityError("DISGUISED_PICKLE", f"{path.name} holds a {fmt.value}; it would import {', '.join(scan.imports()) or 'nothing'}",
                            path=str(path))
    if fmt is FileFormat.GGUF:
        raise ModelFileError("GGUF_LOAD_ELSEWHERE", path.name, path=str(path))
    if fmt is FileFormat.EMPTY:
        raise ModelFileError("FILE_EMPTY", path.name, path=str(path))
    if fmt is FileFormat.UNKNOWN and path.suffix.lower() != ".safetensors":
        raise ModelFileError("UNKNOWN_FORMAT", f"{path.name}: first bytes {path.open('rb').read(8)!r}", path=str(path))


def preflight_safetensors(path: Path, report: LoadReport, role: str, policy: SecurityPolicy) -> SafetensorsHeader:
    """Sniff and validate one safetensors file of a folder that diffusers will open by name."""
    with open_regular(path) as fh:
        fmt = sniff_bytes(fh.read(16), os.fstat(fh.fileno()).st_size)
        check_format(path, fmt, report, role)
        header = read_header(path)
        digest = sha256_of(fh) if policy.hash_safetensors else None
    report.files.append(FileRecord(role, str(path), "safetensors", header.file_size, digest))
    return header


def read_state_dict(path: Path, role: str, policy: SecurityPolicy, report: LoadReport) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, safetensors metadata) of a single file, read from the bytes that were checked."""
    with open_regular(path) as fh:
        fmt = sniff_bytes(fh.read(16), os.fstat(fh.fileno()).st_size)
    check_format(path, fmt, report, role)
    if fmt.is_pickle:
        try:
            tensors, evidence = load_pickle_state_dict(path, policy)
        except SecurityError as err:
            report.refuse(str(path), err.summary, err.code)
            raise
        report.files.append(FileRecord(role, str(path), fmt.value, evidence.size, evidence.sha256, scan=evidence.scan.to_dict()))
        report.advance(evidence.size)
        report.allow(str(path), f"pickle with allowlisted sha256 {evidence.sha256}, loaded with torch.load(weights_only=True, mmap=True)")
        return {k: v.clone() if hasattr(v, "clone") else v for k, v in tensors.items()}, {}  # copied out of the map
    with PinnedFile(path) as pinned:
        header = read_header(path)
        tensors = read_tensors(pinned, header, report.advance)  # memory of their own: nothing refers to the file after the load
        digest = pinned.sha256() if policy.hash_safetensors else None
        pinned.verify_unchanged()
    report.files.append(FileRecord(role, str(path), "safetensors", header.file_size, digest))
    return tensors, header.metadata



# Weight files by any name a library could be pointed at (pickles, safetensors, GGUF, flax, onnx).
ANY_WEIGHT_SUFFIXES = WEIGHT_SUFFIXES + (".sft", ".msgpack", ".h5", ".onnx", ".pkl", ".npz")


def check_slots(folder: Path, index: dict[str, Any]) -> None:
    """The slot policy of a diffusers folder, before any file of a slot is opened: every component
    name is a known Wan slot (an identifier, never a path), and weight files lie only in weight
    slots. What a weight slot's library reads is decided by the loader's preflight (`.safetensors`
    only, each header checked; a pickle beside it is never read: `use_safetensors=True`)."""
    from ..detect.slots import AUX_SLOTS, component_entries, slot_problems

    found = slot_problems(index)
    if found:
        _, code, detail = found[0]
        raise SecurityError(code, detail, path=str(folder))
    for slot in component_entries(index):
        sub = folder / slot
        if slot in AUX_SLOTS and sub.is_dir():
            weights = sorted(p.name for p in sub.rglob("*") if p.name.lower().endswith(ANY_WEIGHT_SUFFIXES))
            if weights:
                raise SecurityError("SLOT_UNEXPECTED_WEIGHTS", f"{slot}/: {', '.join(weights[:5])}", path=str(sub))
