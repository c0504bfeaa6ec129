"""Detection of parts that are already in memory: allowlisted pickles have no header to read, so
the detector sees the names, shapes and dtypes of their loaded tensors instead. Everything else
(the verdict, the compatibility checks) is the detector's own logic."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..detect.detector import ArchitectureDetector
from ..detect.model_info import ModelInfo
from ..detect.safetensors_header import TensorInfo
from ..detect.weights import WeightSet

_SAFETENSORS_DTYPES = {
    "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}


def weight_set(path: Path, tensors: Mapping[str, Any]) -> WeightSet:
    entries = {}
    for name, tensor in tensors.items():
        dtype = _SAFETENSORS_DTYPES.get(str(tensor.dtype).replace("torch.", ""), "U8")
        entries[name] = TensorInfo(dtype, tuple(tensor.shape), 0, tensor.numel() * tensor.element_size())
    return WeightSet([path], entries, {}, path.stat().st_size)


class TensorAwareDetector(ArchitectureDetector):
    """ArchitectureDetector that reads the given paths' tensors from memory instead of a header."""

    def __init__(self, loaded: Mapping[Path, Mapping[str, Any]]) -> None:
        super().__init__()
        self._loaded = {Path(k): v for k, v in loaded.items()}

    def _inspect_path(self, path: Path) -> ModelInfo:
        tensors = self._loaded.get(Path(path))
        if tensors is None:
            return super()._inspect_path(path)
        info = ModelInfo(path=str(path), format="pickle")
        self._analyse_weights(weight_set(Path(path), tensors), info, Path(path))
        return info
