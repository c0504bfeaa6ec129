"""The tensors of one component, from a single safetensors file or a sharded set with its index.

Only headers are read. A sharded set is checked against its `*.safetensors.index.json`: every
shard it names exists (and is a plain file name in the same folder), and the shards hold exactly
the tensors the index lists.
"""
from __future__ import annotations

from pathlib import Path

from ..core import safe_json
from ..core.errors import ModelFileError
from .safetensors_header import SafetensorsHeader, TensorInfo, dtype_bytes, read_header

INDEX_SUFFIX = ".safetensors.index.json"


class WeightSet:
    """All tensors of one component, whichever files hold them."""

    def __init__(self, files: list[Path], tensors: dict[str, TensorInfo], metadata: dict[str, str] | None = None,
                 file_bytes: int = 0) -> None:
        self.files, self.tensors, self.file_bytes = files, tensors, file_bytes
        self.metadata = metadata or {}

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: info.shape for name, info in self.tensors.items()}

    def dtype_bytes(self) -> dict[str, int]:
        return dtype_bytes(self.tensors)

    @property
    def params(self) -> int:
        return sum(info.numel for info in self.tensors.values())


def from_header(header: SafetensorsHeader) -> WeightSet:
    return WeightSet([header.path], header.tensors, header.metadata, header.file_size)


def read_gguf(path: Path) -> WeightSet:
    from .gguf_header import read_gguf_header

    header = read_gguf_header(path)
    text = {k: v for k, v in header.metadata.items() if isinstance(v, str) and not k.startswith("tokenizer.")}
    return WeightSet([path], header.tensors, text, header.file_size)


def read_single(path: Path) -> WeightSet:
    return from_header(read_header(path))


def find_index(folder: Path) -> Path | None:
    indexes = sorted(folder.glob("*" + INDEX_SUFFIX))
    return indexes[0] if indexes else None


def read_sharded(index_path: Path) -> WeightSet:
    """Read every shard named by an index file and check the index against the shards."""
    folder = index_path.parent
    try:
        doc = safe_json.load_file(index_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError("SHARD_INDEX_INVALID", f"{index_path.name}: not readable JSON ({exc})", path=str(index_path)) from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not weight_map or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise ModelFileError("SHARD_INDEX_INVALID", f"{index_path.name}: 'weight_map' must map tensor names to shard file names", path=str(index_path))
    shard_names = sorted(set(weight_map.values()))
    for name in shard_names:
        if Path(name).name != name or name in (".", ".."):
            raise ModelFileError("SHARD_INDEX_INVALID", f"{index_path.name}: shard name {name!r} is not a plain file name in this folder", path=str(index_path))
    missing = [n for n in shard_names if not (folder / n).is_file()]
    if missing:
        raise ModelFileError("SHARD_MISSING", f"{folder.name}: missing {', '.join(missing)}", path=str(folder))

    tensors: dict[str, TensorInfo] = {}
    metadata: dict[str, str] = {}
    files: list[Path] = []
    total = 0
    for name in shard_names:
        header = read_header(folder / name)
        files.append(header.path)
        total += header.file_size
        metadata.update(header.metadata)
        for key, info in header.tensors.items():
            if key in tensors:
                raise ModelFileError("SHARD_INDEX_INVALID", f"tensor '{key}' is stored in more than one shard", path=str(folder))
            if weight_map.get(key) != name:
                raise ModelFileError("SHARD_INDEX_INVALID", f"tensor '{key}' is in {name} but the index puts it in {weight_map.get(key)!r}", path=str(index_path))
            tensors[key] = info
    absent = [k for k in weight_map if k not in tensors]
    if absent:
        raise ModelFileError("SHARD_INDEX_INVALID", f"the index lists {len(absent)} tensor(s) no shard holds, e.g. '{absent[0]}'", path=str(index_path))
    return WeightSet(files, tensors, metadata, total)


_VARIANT_INFIXES = frozenset({"fp16", "bf16", "fp32", "fp8", "ema", "non_ema"})


def _is_variant_file(path: Path) -> bool:
    parts = path.name.split(".")
    return len(parts) >= 3 and parts[-2] in _VARIANT_INFIXES


def read_folder(folder: Path) -> WeightSet | None:
    """The weights stored directly in a component folder, or None when it has none."""
    index = find_index(folder)
    if index is not None:
        return read_sharded(index)
    shards = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    plain = [p for p in shards if not _is_variant_file(p)]
    shards = plain or shards  # diffusers keeps `*.fp16.safetensors` copies beside the default weights
    if not shards:
        return None
    if len(shards) == 1:
        return read_single(shards[0])
    merged = WeightSet([], {})
    for shard in shards:
        part = read_single(shard)
        for key in part.tensors:
            if key in merged.tensors:
                raise ModelFileError("SHARD_INDEX_INVALID", f"tensor '{key}' is stored in more than one file and no index says which to use", path=str(folder))
        merged.files += part.files
        merged.tensors.update(part.tensors)
        merged.metadata.update(part.metadata)
        merged.file_bytes += part.file_bytes
    return merged
