"""What the long stages report to a progress bar, in the backend (the real ComfyUI ProgressBar and
websocket are in tests/test_comfyui_server.py and tests/test_native_server.py): the weight bytes
Safe Load reads, tensor by tensor for single files and component by component for a folder; Safe
Load (native) file by file as ComfyUI builds each; the bytes of a VAE that VAE Fix swaps in."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")


class Bar:
    def __init__(self) -> None:
        self.updates: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.updates.append((done, total))


def _weight_bytes(*paths: Path) -> int:
    return sum(p.stat().st_size for path in paths for p in ([path] if path.is_file() else path.rglob("*.safetensors")))


def _assert_reads(bar: Bar, total: int, at_least: int) -> None:
    assert bar.updates[0] == (0, total) and bar.updates[-1] == (total, total)
    assert len(bar.updates) >= at_least and bar.updates == sorted(bar.updates)


def test_safe_load_reports_the_bytes_it_reads(tiny_path, files: dict[str, Path], private_settings: Path) -> None:
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    folder, bar = tiny_path("wan2.1-t2v"), Bar()
    load_pipeline(folder, options=LoadOptions(dtype="fp32"), on_progress=bar)
    _assert_reads(bar, _weight_bytes(*(folder / slot for slot in ("transformer", "vae", "text_encoder"))), at_least=4)

    bar = Bar()
    load_pipeline(files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=folder,
                  options=LoadOptions(dtype="fp32"), on_progress=bar)
    _assert_reads(bar, _weight_bytes(files["transformer"], files["vae"], files["text_encoder"]), at_least=50)  # tensor by tensor


def test_safe_load_native_moves_the_bar_as_the_host_reads_each_file(tiny_path, files: dict[str, Path]) -> None:
    """The pack reads only headers; the host (ComfyUI) reads each file's bytes once, from the mapped
    tensors, so the bar moves by a file's bytes when the host says it built that part, and ends at close."""
    from wan_compat.compat.loading.verified_state import verified_state_dicts

    bar = Bar()
    model, vae = files["transformer"].stat().st_size, files["vae"].stat().st_size
    with verified_state_dicts(files["transformer"], vae=files["vae"], config_source=tiny_path("wan2.1-t2v"), on_progress=bar) as checked:
        assert bar.updates == [(0, model + vae)]  # checked, nothing read yet
        checked.built("model")
        assert bar.updates[-1] == (model, model + vae)
        checked.built("vae")
    _assert_reads(bar, model + vae, at_least=3)
    bar.updates.clear()
    checked.built("vae")  # after close: the report keeps no reference to the bar
    assert bar.updates == []


def test_vae_fix_reports_a_swap_and_the_checks(tiny_loaded, files: dict[str, Path], tmp_path: Path) -> None:
    from wan_compat.compat.vae import fix_vae

    handle, bar = tiny_loaded("wan2.1-t2v"), Bar()
    fix_vae(handle, on_progress=bar)
    assert bar.updates == [(1, 1)]  # nothing to read: the checks
    bar = Bar()
    fix_vae(handle, vae=files["vae"], config_source=handle.model_info.path, roots=[str(tmp_path)], on_progress=bar)
    size = files["vae"].stat().st_size
    assert bar.updates[0] == (0, size) and (size, size) in bar.updates and bar.updates[-1] == (1, 1) and len(bar.updates) > 10
