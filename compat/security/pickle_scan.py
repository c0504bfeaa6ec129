"""Static pickle scan: what a pickle would import, found without unpickling it.

Denylist scanners are bypassed again and again (``importlib``, dotted names, globals fetched through
the memo, a second pickle stacked after the first). This scanner inverts the question: it walks
every opcode with ``pickletools.genops``, runs a small symbolic stack so that STACK_GLOBAL operands
are resolved even when they come from the memo, and checks each (module, name) pair *exactly*
against the few globals a torch state dict needs. Anything else, anything it cannot resolve, and
anything it cannot parse blocks the file.

Containers: a torch zip archive (every pickle torch's own zip reader would give, names matched
without regard to case; an archive two readers read differently is refused, see `torch_zip.py`), a legacy torch file (the five pickles
``torch.save(..., _use_new_zipfile_serialization=False)`` writes, then raw storage bytes) and raw
pickle streams (every pickle up to the end of the file).
"""
from __future__ import annotations

import io
import os
import pickletools
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..core.errors import SecurityError
from ..core.regular_file import open_regular

# The torch storage classes and dtypes a plain state dict refers to.
_STORAGES = (
    "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
    "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage",
)
_DTYPES = (
    "float16", "bfloat16", "float32", "float64", "half", "float", "double",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "uint8", "int8", "int16", "int32", "int64", "bool", "complex64", "complex128",
)

# Exact (module, name) pairs. Dotted names that reach the same object another way (e.g.
# ("torch", "_utils._rebuild_tensor_v2")) are refused too: real writers never produce them.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v3"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch.storage", "UntypedStorage"),
        ("torch", "Size"),
        ("_codecs", "encode"),  # how protocol 2 spells a bytes object
    }
    | {("torch", name) for name in _STORAGES}
    | {("torch", name) for name in _DTYPES}
)

# Value of the first pickle in a legacy (pre-zip) torch file.
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_TORCH_PICKLES = 5  # magic number, protocol version, sys info, the object, storage keys
MAX_PICKLE_BYTES = 512 * 1024 * 1024  # a 14B state dict's data.pkl is a few hundred KB
MAX_OPCODES = 20_000_000

_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_EXT_OPS = frozenset({"EXT1", "EXT2", "EXT4"})


class _Mark:
    __slots__ = ()


_MARK = _Mark()


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass(frozen=True)
class ImportedGlobal:
    """One global the pickle would import, and where it asks for it."""

    module: str
    name: str
    where: str  # "data.pkl" / "pickle 2" ...
    offset: int
    allowed: bool

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class PickleScan:
    """The outcome of scanning one file (or byte string)."""

    path: str
    container: str  # torch_zip | legacy_torch | pickle
    pickles: int = 0
    globals: list[ImportedGlobal] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # globals whose name the scan could not know
    errors: list[str] = field(default_factory=list)  # the bytes are not a well-formed pickle
    ambiguous: list[str] = field(default_factory=list)  # a zip archive two readers read differently
    elapsed_ms: float = 0.0

    @property
    def blocked(self) -> list[ImportedGlobal]:
        return [g for g in self.globals if not g.allowed]

    @property
    def safe(self) -> bool:
        return self.pickles > 0 and not self.blocked and not self.unresolved and not self.errors and not self.ambiguous

    def imports(self) -> list[str]:
        """Each distinct global, sorted: the evidence shown in the load report."""
        return sorted({g.dotted for g in self.globals})

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "container": self.container,
            "pickles": self.pickles,
            "imports": self.imports(),
            "blocked": sorted({g.dotted for g in self.blocked}),
            "unresolved": self.unresolved,
            "errors": self.errors,
            "ambiguous": self.ambiguous,
            "safe": self.safe,
            "elapsed_ms": self.elapsed_ms,
        }

    def raise_if_unsafe(self) -> None:
        """Raise the typed error that explains why this pickle may not be loaded."""
        name = Path(self.path).name
        found = sorted({g.dotted for g in self.blocked}) + self.unresolved
        shown = ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
        if self.ambiguous:
            imports = f"; it would import {shown}" if found else ""
            raise SecurityError("PICKLE_ARCHIVE_AMBIGUOUS", f"{name}: {'; '.join(self.ambiguous[:3])}{imports}", path=self.path,
                                imports=", ".join(found))
        if found:  # before malformed: what the file would import is the most useful thing to say
            raise SecurityError("PICKLE_UNSAFE_GLOBALS", f"{name} would import {shown}", path=self.path, imports=", ".join(found))
        if self.errors:
            raise SecurityError("PICKLE_MALFORMED", f"{name}: {'; '.join(self.errors[:3])}", path=self.path)
        if not self.pickles:
            raise SecurityError("PICKLE_MALFORMED", f"{name}: no pickle found", path=self.path)


class _Malformed(Exception):
    pass


def _walk(stream: IO[bytes], where: str, scan: PickleScan) -> list[tuple[str, Any]]:
    """Walk one pickle (up to its STOP), recording globals; returns its (opcode, arg) list head."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    head: list[tuple[str, Any]] = []

    def pop() -> Any:
        if not stack:
            raise _Malformed(f"{where}: stack underflow")
        return stack.pop()

    def pop_to_mark() -> None:
        while True:
            if pop() is _MARK:
                return

    def record(module: str, name: str, offset: int) -> None:
        scan.globals.append(ImportedGlobal(module, name, where, offset, (module, name) in ALLOWED_GLOBALS))

    count = 0
    try:
        for op, arg, pos in pickletools.genops(stream):
            count += 1
            if count > MAX_OPCODES:
                raise _Malformed(f"{where}: more than {MAX_OPCODES} opcodes")
            name = op.name
            if len(head) < 4:
                head.append((name, arg))
            if name in _STRING_OPS:
                stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                record(module, attr, pos or 0)
                if name == "INST":
                    pop_to_mark()
                stack.append(_Global(module, attr))
            elif name == "STACK_GLOBAL":
                attr, module = pop(), pop()
                if isinstance(module, str) and isinstance(attr, str):
                    record(module, attr, pos or 0)
                    stack.append(_Global(module, attr))
                else:
                    scan.unresolved.append(f"{where}@{pos}: STACK_GLOBAL with operands computed at load time")
                    stack.append(None)
            elif name in _EXT_OPS:
                scan.unresolved.append(f"{where}@{pos}: {name} {arg} (a global from the copyreg extension registry)")
                stack.append(None)
            elif name == "MEMOIZE":
                if not stack:
                    raise _Malformed(f"{where}: MEMOIZE on an empty stack")
                memo[len(memo)] = stack[-1]
            elif name in _PUT_OPS:
                if not stack:
                    raise _Malformed(f"{where}: {name} on an empty stack")
                memo[int(arg)] = stack[-1]
            elif name in _GET_OPS:
                if int(arg) not in memo:
                    raise _Malformed(f"{where}@{pos}: {name} {arg} reads a memo slot never written")
                stack.append(memo[int(arg)])
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "DUP":
                if not stack:
                    raise _Malformed(f"{where}: DUP on an empty stack")
                stack.append(stack[-1])
            elif name == "POP":
                pop()
            elif name == "STOP":
                pop()
                break
            else:
                _generic(op, pop, pop_to_mark, stack)
    except _Malformed:
        raise
    except Exception as exc:  # genops: ValueError for unknown opcodes or bytes that end before STOP
        raise _Malformed(f"{where}: {exc}") from None
    return head


def _generic(op: pickletools.OpcodeInfo, pop: Any, pop_to_mark: Any, stack: list[Any]) -> None:
    """Any other opcode: pop what it consumes (down to the mark, if it takes one), push unknowns."""
    before = op.stack_before
    marks = [i for i, item in enumerate(before) if item is pickletools.markobject]
    if marks:
        pop_to_mark()
        for _ in range(marks[0]):
            pop()
    else:
        for _ in before:
            pop()
    stack.extend(None for _ in op.stack_after)


def _is_legacy_magic(head: list[tuple[str, Any]]) -> bool:
    return any(name in ("LONG1", "LONG4", "LONG", "INT") and arg == LEGACY_TORCH_MAGIC for name, arg in head)


def scan_stream(data: bytes, *, path: str = "<bytes>", label: str = "pickle") -> PickleScan:
    """Scan raw bytes holding one or more pickles in sequence (not a zip archive)."""
    scan = PickleScan(path=path, container="pickle")
    _scan_sequence(data, scan, label)
    return scan


def _scan_sequence(data: bytes, scan: PickleScan, label: str) -> None:
    stream = io.BytesIO(data)
    index = 0
    legacy = False
    last_end = 0
    while stream.tell() < len(data):
        if legacy and index >= LEGACY_TORCH_PICKLES:
            break  # the rest of a legacy torch file is raw storage bytes, never unpickled
        index += 1
        where = label if index == 1 and not legacy else f"{label} {index}"
        try:
            head = _walk(stream, where, scan)
        except _Malformed as exc:
            if index > 1 and not legacy:
                scan.errors.append(f"{len(data) - last_end} trailing bytes after pickle {index - 1} are not a pickle ({exc})")
            else:
                scan.errors.append(str(exc))
            return
        scan.pickles += 1
        last_end = stream.tell()
        if index == 1 and _is_legacy_magic(head):
            legacy = True
            scan.container = "legacy_torch"
    if legacy and index < LEGACY_TORCH_PICKLES:
        scan.errors.append(f"legacy torch file with {index} of {LEGACY_TORCH_PICKLES} pickles (truncated)")


def _scan_zip(fh: IO[bytes], scan: PickleScan) -> None:
    """Every pickle torch could load from the archive, taken from torch's own zip reader; an archive
    the readers see differently is refused whole (`torch_zip.py`)."""
    from .torch_zip import read_view

    scan.container = "torch_zip"
    view = read_view(fh, MAX_PICKLE_BYTES)
    scan.ambiguous += view.ambiguous
    scan.errors += view.errors
    if not view.pickles and not view.errors:
        scan.errors.append("zip archive without a .pkl member: not a torch checkpoint")
    for name, data in view.pickles.items():
        _scan_sequence(data, scan, name)


def scan_file(path: str | os.PathLike[str], fh: IO[bytes] | None = None) -> PickleScan:
    """Scan a pickle-based checkpoint (.pt/.pth/.bin/.ckpt, or anything whose bytes are a pickle).

    Pass `fh` (positioned anywhere) to scan an already-open file: the loader scans the same open
    file it hashed and later loads.
    """
    import time

    started = time.perf_counter()
    owned = fh is None
    handle = open_regular(path) if owned else fh
    try:
        handle.seek(0)
        magic = handle.read(4)
        handle.seek(0)
        scan = PickleScan(path=str(path), container="pickle")
        if magic.startswith(b"PK"):
            _scan_zip(handle, scan)
        else:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_PICKLE_BYTES and not _looks_legacy(handle):
                scan.errors.append(f"{size} bytes of raw pickle, more than any state dict needs")
            else:
                _scan_sequence(handle.read(min(size, MAX_PICKLE_BYTES)), scan, "pickle")
    finally:
        if owned:
            handle.close()
    scan.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    return scan


def _looks_legacy(handle: IO[bytes]) -> bool:
    head = handle.read(64)
    handle.seek(0)
    try:
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(io.BytesIO(head))]
    except Exception:
        return False
    return _is_legacy_magic(ops)
