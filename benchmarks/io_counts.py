"""I/O counts of a load and of a run: how often headers are parsed, the model detected and the frames
scanned, counted by profiling the functions that do it (sys.setprofile on their code objects), so
the same script measures any commit of the pack.

Header parses per load, on a tiny Wan 2.1 T2V pipeline, from a cold header cache:
- a diffusers folder and the same model as ComfyUI single files (transformer, VAE, text encoder);
- "Safe Load alone": the loader given the path; "Detect + Safe Load": Wan Detect Architecture first,
  then Safe Load given Detect's model_info (where the loader takes it; else the path again, as the
  workflows did: the model picked twice). Parses count `parse_header` calls; "model detections"
  count the detector's `_inspect_path` calls on the model path itself.

Frame scans per run: Wan Sample -> Wan Frame Process -> Wan Encode Video through the node classes,
inside torch.inference_mode() as ComfyUI runs them. Each scan is counted in frames and shown as
passes over the video: `first_non_finite` and the encoder's streaming chunk check (NaN/inf),
`value_bounds` (range).

Run: python benchmarks/io_counts.py
Another commit: mkdir -p /tmp/old/wan_compat && git archive COMMIT | tar -x -C /tmp/old/wan_compat, then
PYTHONPATH=/tmp/old python benchmarks/io_counts.py (the first line printed says which pack was measured).
Everything is built in a temp folder; nothing is downloaded.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable


class Counter:
    """Counts calls of chosen code objects while active; `weigh(frame)` gives each call's weight."""

    def __init__(self, watched: dict[Any, tuple[str, Callable[[Any], float]]]) -> None:
        self.watched, self.counts = watched, {name: 0.0 for name, _ in watched.values()}

    def _profile(self, frame: Any, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code in self.watched:
            name, weigh = self.watched[frame.f_code]
            self.counts[name] += weigh(frame)

    def __enter__(self) -> "Counter":
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)


def _one(_frame: Any) -> float:
    return 1.0


def _header_counter(model: Path) -> Counter:
    from wan_compat.compat.detect import detector, safetensors_header

    def on_model(frame: Any) -> float:
        return 1.0 if os.path.realpath(str(frame.f_locals.get("path"))) == os.path.realpath(model) else 0.0

    return Counter({
        safetensors_header.parse_header.__code__: ("parses", _one),
        detector.ArchitectureDetector._inspect_path.__code__: ("detections", on_model),
    })


def _cold() -> None:
    from wan_compat.compat.detect import safetensors_header

    getattr(safetensors_header, "clear_header_cache", lambda: None)()


def _takes_model_info() -> bool:
    import inspect

    from wan_compat.compat.loading import load_pipeline

    return "model_info" in inspect.signature(load_pipeline).parameters


def header_rows(folder: Path, files: dict[str, Path]) -> list[tuple[str, int, float, float]]:
    from wan_compat.compat.detect.detector import ArchitectureDetector
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    cases = [
        ("diffusers folder", folder, len(list(folder.rglob("*.safetensors"))), {}),
        ("single files", files["transformer"], 3, {"vae": files["vae"], "text_encoder": files["text_encoder"], "config_source": folder}),
    ]
    rows = []
    for label, model, count, kwargs in cases:
        for with_detect in (False, True):
            _cold()
            with _header_counter(model) as counter:
                info = ArchitectureDetector().inspect(model) if with_detect else None
                extra = {"model_info": info} if info is not None and _takes_model_info() else {}
                load_pipeline(model, options=LoadOptions(dtype="fp32"), **kwargs, **extra)
            name = f"{label}: {'Detect + Safe Load' if with_detect else 'Safe Load alone'}"
            rows.append((name, count, counter.counts["parses"], counter.counts["detections"]))
    return rows


def frame_counter() -> Counter:
    from wan_compat.compat.frames import arrays
    from wan_compat.encoders import convert

    def frames_of(name: str) -> Callable[[Any], float]:
        return lambda frame: float(frame.f_locals[name].shape[0])

    def float_chunk(frame: Any) -> float:  # before the check had its own function it ran inline on every float chunk
        part = frame.f_locals["part"]
        return 0.0 if str(part.dtype).endswith("uint8") else float(part.shape[0])

    watched = {
        arrays.first_non_finite.__code__: ("nan", frames_of("x")),
        arrays.value_bounds.__code__: ("range", frames_of("x")),
    }
    check = getattr(convert.Uint8Converter, "_check_chunk", None)
    if check is not None:
        watched[check.__code__] = ("nan", frames_of("part"))
    else:
        watched[convert.Uint8Converter.convert.__code__] = ("nan", float_chunk)
    return Counter(watched)


def frame_rows(folder: Path, out: Path) -> list[tuple[str, int, float, float]]:
    import torch

    from wan_compat.compat.loading import LoadOptions, load_pipeline
    from wan_compat.nodes.encode_video import WanEncodeVideo
    from wan_compat.nodes.frame_process import WanFrameProcess
    from wan_compat.nodes.sample import WanSample

    os.environ["WAN_COMPAT_OUTPUT_DIR"] = str(out)
    os.environ["WAN_COMPAT_CONFIG_DIR"] = str(out / "settings")
    handle = load_pipeline(folder, options=LoadOptions(dtype="fp32"))
    rows = []
    stages = ("Wan Sample", "Wan Frame Process", "Wan Encode Video")
    with torch.inference_mode():  # as ComfyUI runs every node
        counter = frame_counter()
        with counter:
            frames, _stats, fps, _ = WanSample().sample(handle, "a cat walks on the grass", width=16, height=16, num_frames=9,
                                                        steps=2, seed=1)["result"]
        total = int(frames.shape[0])
        rows.append((stages[0], total, counter.counts["nan"] / total, counter.counts["range"] / total))
        counter = frame_counter()
        with counter:
            images, fps, info = WanFrameProcess().process(fps=fps, size_mode="keep", multiple_of=2, value_range="auto", images=frames)
        rows.append((stages[1], total, counter.counts["nan"] / total, counter.counts["range"] / total))
        counter = frame_counter()
        with counter:
            WanEncodeVideo().encode(images, fps, "h264-mp4", -1, "default", "io_counts", frames_info=info)
        rows.append((stages[2], total, counter.counts["nan"] / total, counter.counts["range"] / total))
    rows.append(("the run", total, sum(r[2] for r in rows), sum(r[3] for r in rows)))
    return rows


def main() -> None:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    import wan_compat
    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.fixtures.tiny import tiny_pipeline_path
    from wan_compat.compat.loading import key_naming

    print(f"wan_compat from {Path(wan_compat.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="wan-io-counts-") as tmp:
        root = Path(tmp)
        folder = tiny_pipeline_path("wan2.1-t2v", root / "cache")
        files = export_single_files(folder, root / "single", prefix=key_naming.COMFY_PREFIX, name="t2v")
        print("\nHeader parses per load (cold header cache)")
        print(f"{'load':44} {'weight files':>12} {'parses':>7} {'per file':>9} {'model detections':>17}")
        for name, count, parses, detections in header_rows(folder, files):
            print(f"{name:44} {count:>12} {parses:>7.0f} {parses / count:>9.2f} {detections:>17.0f}")
        print("\nFrame scans per run (passes over the video; Sample -> Frame Process -> Encode, inference mode)")
        print(f"{'stage':22} {'frames':>7} {'NaN/inf passes':>15} {'range passes':>13}")
        for name, total, nan, value_range in frame_rows(folder, root / "out"):
            print(f"{name:22} {total:>7} {nan:>15.2f} {value_range:>13.2f}")


if __name__ == "__main__":
    main()
