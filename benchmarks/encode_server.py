"""Wan Encode Video inside a real ComfyUI server against bare ffmpeg, side by side in one run.

    COMFYUI_DIR=/path/to/ComfyUI python benchmarks/encode_server.py [--frames 81] [--width 832] [--height 480] [--repeat 5]

1. Per format (H.264 and VP9 realtime, each at the format's default quality and preset): the
   server's execution time of Wan Encode Video on a float32 IMAGE (moving gradients, from a
   benchmark-only node whose output stays cached, so only the encode runs; from ComfyUI's own
   execution_start/execution_success timestamps) against bare ffmpeg with the same arguments
   reading the same frames as a raw uint8 file. Median of --repeat interleaved runs, wall time and
   CPU time (server process plus its ffmpeg child, against the bare ffmpeg's; the steadier figure
   when other work shares the machine). Goals: H.264 <= 1.05x, VP9 <= 1.1x.
   With audio: the same, plus a soundtrack (stereo 48 kHz, from ComfyUI's own Load Video + Get
   Video Components, cached like the frames) muxed as AAC in MP4 and Opus in WebM, against bare
   ffmpeg muxing the same samples from a raw f32le file with the same arguments.
2. The read-back of one written file: the container index read (default) against ffmpeg's packet
   read (the former default), in process, median of 20.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from comfyui_server import comfy_python, start, stop  # noqa: E402

from wan_compat.encoders.container_probe import read_index  # noqa: E402
from wan_compat.encoders.ffmpeg import find_ffmpeg  # noqa: E402
from wan_compat.encoders.formats import get_format  # noqa: E402
from wan_compat.encoders.probe import probe_video  # noqa: E402
from wan_compat.encoders.writer import ffmpeg_args  # noqa: E402

FORMATS = ("h264-mp4", "vp9-webm")
RATE = 48000


def gradients(f: int, h: int, w: int) -> np.ndarray:
    """The bench node's frames, as uint8 (what bare ffmpeg reads)."""
    t = np.arange(f, dtype=np.float32)[:, None, None]
    y = np.arange(h, dtype=np.float32)[None, :, None]
    x = np.arange(w, dtype=np.float32)[None, None, :]
    shape = (f, h, w)
    planes = [np.broadcast_to(((x + 3 * t) % 256) / 255, shape), np.broadcast_to(((y + 2 * t) % 256) / 255, shape),
              np.broadcast_to(((x + y + t) % 256) / 255, shape)]
    return np.clip(np.stack(planes, axis=-1) * 255 + 0.5, 0, 255).astype(np.uint8)


def _cpu(process: "psutil.Process") -> float:
    """CPU seconds of the server and its finished children (ffmpeg), user + system."""
    t = process.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def server_seconds(entry: dict) -> float:
    stamps = {kind: data.get("timestamp") for kind, data in entry["status"]["messages"]}
    return (stamps["execution_success"] - stamps["execution_start"]) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    comfy = Path(os.environ.get("COMFYUI_DIR", ""))
    python = comfy_python(comfy) if comfy.name else None
    if python is None:
        print("set COMFYUI_DIR to a ComfyUI checkout with its venv", file=sys.stderr)
        return 2
    binary = find_ffmpeg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = work / "base"
        (base / "custom_nodes").mkdir(parents=True)
        (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(ROOT, target_is_directory=True)
        (base / "custom_nodes" / "wan_compat_test_nodes").symlink_to(ROOT / "tests" / "comfy_nodes" / "wan_compat_test_nodes")
        raw = work / "raw.rgb"
        raw.write_bytes(gradients(args.frames, args.height, args.width).tobytes())
        # The soundtrack: an MP4 with audio for ComfyUI's Load Video, and the same samples (cut to
        # the video's length, as the pack cuts them) as raw f32le for bare ffmpeg.
        seconds = args.frames / 16
        (base / "input").mkdir()
        subprocess.run([str(binary.path), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=16:duration={seconds + 1}",
                        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={RATE}:duration={seconds + 1}", "-ac", "2", "-c:v", "libx264",
                        "-c:a", "aac", str(base / "input" / "sound.mp4")], check=True)
        raw_audio = work / "audio.f32"
        samples = -(-args.frames * RATE // 16)
        subprocess.run([str(binary.path), "-hide_banner", "-loglevel", "error", "-i", str(base / "input" / "sound.mp4"), "-map", "0:a:0",
                        "-f", "f32le", "-ar", str(RATE), "-ac", "2", "-frames:a", str(samples), str(raw_audio)], check=True)
        server = start(comfy, base, python)
        rows = []
        written: dict[str, Path] = {}
        try:
            for name, with_audio in [(n, False) for n in FORMATS] + [(n, True) for n in FORMATS]:
                fmt = get_format(name)
                crf, preset = fmt.resolve_quality(None), fmt.resolve_preset(None)
                audio_input = ["-f", "f32le", "-ar", str(RATE), "-ac", "2", "-i", str(raw_audio)] if with_audio else None
                bare_args = ffmpeg_args(fmt, width=args.width, height=args.height, channels=3, fps=16, output=work / "bare.out",
                                        crf=crf, preset=preset, audio_input=audio_input)
                bare_args[bare_args.index("pipe:0")] = str(raw)
                ours, bare, ours_cpu, bare_cpu = [], [], [], []
                process = psutil.Process(server.process.pid)
                for i in range(args.repeat + 1):  # the first run warms the server (frames node, imports)
                    encode = {"images": ["1", 0], "fps": 16.0, "format": name, "crf": -1, "preset": "default",
                              "filename_prefix": f"bench/{name}{'_audio' if with_audio else ''}_{i}", "save_metadata": False}
                    prompt = {"1": {"class_type": "WanCompatBenchFrames", "inputs": {"frames": args.frames, "width": args.width, "height": args.height}},
                              "2": {"class_type": "WanEncodeVideo", "inputs": encode}}
                    if with_audio:
                        prompt["3"] = {"class_type": "LoadVideo", "inputs": {"file": "sound.mp4"}}
                        prompt["4"] = {"class_type": "GetVideoComponents", "inputs": {"video": ["3", 0]}}
                        encode["audio"] = ["4", 1]
                    cpu0 = _cpu(process)
                    entry, _ = server.run(prompt)
                    cpu1 = _cpu(process)
                    assert entry["status"]["status_str"] == "success", entry["status"]
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    started = time.perf_counter()
                    subprocess.run([str(binary.path), *bare_args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wall = time.perf_counter() - started
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    if i:
                        ours.append(server_seconds(entry))
                        bare.append(wall)
                        ours_cpu.append(cpu1 - cpu0)
                        bare_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                if not with_audio:
                    written[name] = next((base / "output" / "bench").glob(f"{name}_1*"))
                o, b = statistics.median(ours), statistics.median(bare)
                oc, bc = statistics.median(ours_cpu), statistics.median(bare_cpu)
                label = f"{name} + {fmt.audio_encoder}" if with_audio else f"{name} (crf {crf}, {preset})"
                rows.append((label, o, b, o / b, oc, bc, oc / bc))
        finally:
            stop(server)
        print(f"\nWan Encode Video in a real ComfyUI server vs bare ffmpeg ({args.frames} frames {args.width}x{args.height}, float32 IMAGE in; "
              f"audio: stereo {RATE} Hz, {samples / RATE:.2f} s; median of {args.repeat}; load average {os.getloadavg()[0]:.1f})")
        print(f"{'format':<30} {'ours wall':>9} {'bare wall':>9} {'ratio':>6} {'ours CPU':>9} {'bare CPU':>9} {'ratio':>6}")
        for label, o, b, ratio, oc, bc, cratio in rows:
            print(f"{label:<30} {o:9.3f} {b:9.3f} {ratio:6.3f} {oc:9.3f} {bc:9.3f} {cratio:6.3f}")
        print("\nRead-back of the written file (median of 20)")
        print(f"{'format':<12} {'index read (ms)':>16} {'ffmpeg packet read (ms)':>24}")
        for name, path in written.items():
            index, packets = [], []
            for _ in range(20):
                t = time.perf_counter()
                read_index(path)
                index.append(time.perf_counter() - t)
                t = time.perf_counter()
                probe_video(path, binary)
                packets.append(time.perf_counter() - t)
            print(f"{name:<12} {statistics.median(index) * 1000:16.2f} {statistics.median(packets) * 1000:24.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
