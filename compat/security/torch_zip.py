"""The members of a torch zip checkpoint as torch itself reads them.

torch opens checkpoints with its own zip reader (`torch._C.PyTorchFileReader`, miniz), finds members
case-insensitively (`DATA.PKL` answers for `data.pkl`) and strips the archive's folder prefix;
Python's `zipfile` does neither and can settle differently on an archive with two central
directories. A scanner that reads with `zipfile` can therefore clear one pickle while torch loads
another. Here every pickle is taken from torch's reader, and an archive the two readers see
differently (other member names or sizes, names that differ only by case, other bytes for a pickle)
is refused as ambiguous: nothing of it is trusted.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import IO

# Records torch unpickles: `data.pkl` (torch.load), `constants.pkl` (TorchScript), any other `.pkl`.
PICKLE_SUFFIX = ".pkl"
MAIN_PICKLE = "data.pkl"


@dataclass
class ZipView:
    """What torch would read: its record names, and the bytes of each pickle it could load."""

    records: list[str] = field(default_factory=list)
    pickles: dict[str, bytes] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)  # how the two readers disagree
    errors: list[str] = field(default_factory=list)  # torch could not read the archive at all


def _python_view(data: IO[bytes]) -> tuple[dict[str, zipfile.ZipInfo], list[str]]:
    """zipfile's members by name with the archive folder stripped, and the disagreements it shows
    on its own (a name twice, names equal but for case, bytes before the first member)."""
    notes: list[str] = []
    archive = zipfile.ZipFile(data)
    infos = archive.infolist()
    first = min((i.header_offset for i in infos), default=0)
    if first:  # the end record points at an archive that starts later: what lies before (another
        # archive with its own central directory) is what a reader searching from the front would load
        notes.append(f"the archive's first member starts {first} bytes into the file: two central directories, "
                     "or data before the archive, which readers resolve differently")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        notes.append("a member name appears twice in the central directory")
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        twins = sorted({n for n in names if lowered.count(n.lower()) > 1})[:4]
        notes.append(f"member names differ only by case: {', '.join(twins)} (torch finds members case-insensitively)")
    stripped = {(i.filename.split("/", 1)[1] if "/" in i.filename else i.filename): i for i in infos}
    return stripped, notes


def read_view(fh: IO[bytes], max_pickle_bytes: int) -> ZipView:
    """Members and pickles as torch reads them, with every disagreement between the readers."""
    import torch

    view = ZipView()
    fh.seek(0)
    try:
        python_members, notes = _python_view(fh)
        view.ambiguous += notes
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        python_members = None
        view.ambiguous.append(f"Python's zipfile cannot read it ({str(exc)[:120]})")
    fh.seek(0)
    try:
        reader = torch._C.PyTorchFileReader(fh)
        view.records = sorted(reader.get_all_records())
    except Exception as exc:  # torch raises RuntimeError with prose for anything it cannot read
        view.errors.append(f"torch's zip reader cannot read it ({(str(exc).splitlines() or [''])[0][:200]})")
        if python_members is not None:  # torch would refuse it; still say what its pickles would import
            _compare_with_zipfile(fh, python_members, view, max_pickle_bytes, torch_read=False)
        return view
    if python_members is not None and sorted(python_members) != view.records:
        only_torch = sorted(set(view.records) - set(python_members))[:4]
        only_python = sorted(set(python_members) - set(view.records))[:4]
        view.ambiguous.append(f"torch's reader and zipfile list different members (torch only: {only_torch}, zipfile only: {only_python})")
    wanted = sorted({r for r in view.records if r.lower().endswith(PICKLE_SUFFIX)} | {MAIN_PICKLE})
    for name in wanted:
        if not reader.has_record(name):
            continue
        try:
            size = reader.get_record_size(name)
            if size > max_pickle_bytes:
                view.errors.append(f"{name}: {size} bytes, more than any state dict needs")
                continue
            data = bytes(reader.get_record(name))
        except Exception as exc:
            view.errors.append(f"{name}: torch cannot read it ({str(exc).splitlines()[0][:200]})")
            continue
        if len(data) > max_pickle_bytes:
            view.errors.append(f"{name}: {len(data)} bytes, more than any state dict needs")
            continue
        view.pickles[name] = data
    if python_members is not None:
        _compare_with_zipfile(fh, python_members, view, max_pickle_bytes)
    return view


def _compare_with_zipfile(fh: IO[bytes], members: dict[str, zipfile.ZipInfo], view: ZipView, max_pickle_bytes: int,
                          torch_read: bool = True) -> None:
    """Every pickle as zipfile reads it: other bytes than torch's make the archive ambiguous, and
    those bytes are scanned too, so the report names what either reading would import."""
    fh.seek(0)
    try:
        archive = zipfile.ZipFile(fh)
    except Exception:  # noqa: BLE001 - already recorded as a disagreement
        return
    for name, info in sorted(members.items()):
        if not name.lower().endswith(PICKLE_SUFFIX) or info.file_size > max_pickle_bytes:
            continue
        try:
            theirs = archive.read(info)
        except Exception as exc:  # noqa: BLE001 - any failure is a disagreement
            view.ambiguous.append(f"{name}: zipfile cannot read it ({str(exc)[:120]})")
            continue
        if not torch_read:
            view.pickles[f"{name} (as zipfile reads it)"] = theirs
        elif view.pickles.get(name) != theirs:
            view.ambiguous.append(f"{name}: torch's reader and zipfile read different bytes")
            view.pickles[f"{name} (as zipfile reads it)"] = theirs


def read_view_bytes(data: bytes, max_pickle_bytes: int) -> ZipView:
    """`read_view` for bytes in memory (fuzzing, tests)."""
    return read_view(io.BytesIO(data), max_pickle_bytes)
