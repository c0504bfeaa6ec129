"""How a pipeline is loaded (precision and fp8 storage): a module of its own so that the loaders
it configures import it, not the entry point that runs them."""
from __future__ import annotations

from dataclasses import dataclass

from . import dtypes


@dataclass(frozen=True)
class LoadOptions:
    """Precision: `dtype` for the transformer(s) and text encoder; `vae_dtype` for the VAE and CLIP
    vision (fp32 as in the official Wan examples); fp8 `weight_storage` for the transformer(s)."""

    dtype: str = "bf16"
    vae_dtype: str = "fp32"
    weight_storage: str = "default"

    def check(self) -> None:
        """DTYPE_UNSUPPORTED before anything is read."""
        dtypes.torch_dtype(self.dtype)
        dtypes.torch_dtype(self.vae_dtype)
        dtypes.storage_dtype(self.weight_storage)
