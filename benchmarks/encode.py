"""Encoding cost against its floors, measured side by side in one run (ratios; absolute times are noisy).

    python benchmarks/encode.py [--frames 81] [--width 832] [--height 480] [--repeat 5] [--noise]

1. Whole-process encode: `wan-compat encode FRAMES.npy` (Python start-up, loading, float->uint8,
   the pipe, ffmpeg, read-back, publish) against bare ffmpeg with the same arguments reading the
   same frames from a raw uint8 file (and, for float input, ffmpeg reading the float32 .npy itself).
   Median of --repeat runs, interleaved; wall and CPU time (CPU is steadier when other work shares
   the machine). The issue's goal for MP4 is a ratio <= 1.15.
2. float->uint8 of the whole clip: the chunked converter against the naive numpy and torch one-liners
   (time and the extra memory each allocates).
3. Peak RSS of an in-process encode against the size of the frames tensor.

Content is noise-free moving gradients (non-trivial for the encoder, reproducible); --noise adds a
row with uniform noise, the worst case for the encoder.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from wan_compat.encoders.convert import Uint8Converter, to_uint8_naive
from wan_compat.encoders.ffmpeg import find_ffmpeg
from wan_compat.encoders.formats import get_format
from wan_compat.encoders.writer import ffmpeg_args


def moving_gradients(f: int, h: int, w: int) -> np.ndarray:
    t = np.arange(f, dtype=np.float32)[:, None, None]
    y = np.arange(h, dtype=np.float32)[None, :, None]
    x = np.arange(w, dtype=np.float32)[None, None, :]
    shape = (f, h, w)
    r = np.broadcast_to(((x + 3 * t) % 256) / 255, shape)
    g = np.broadcast_to(((y + 2 * t) % 256) / 255, shape)
    b = np.broadcast_to(((x + y + t) % 256) / 255, shape)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def _npy_offset(path: Path) -> int:
    """Where the data of a version-1 .npy starts."""
    with open(path, "rb") as handle:
        head = handle.read(10)
    assert head[6] == 1, "npy format version 1 expected"
    return 10 + int.from_bytes(head[8:10], "little")


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the process and its children, ffmpeg included).
    CPU time is the steadier figure when other work shares the machine."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_whole_process(work: Path, frames: np.ndarray, label: str, fmt_name: str, crf: int, preset: str,
                        repeat: int) -> list[tuple[str, float, float, float, float]]:
    binary = find_ffmpeg()
    fmt = get_format(fmt_name)
    f, h, w, _ = frames.shape
    u8 = np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8)
    (work / "raw.rgb").write_bytes(u8.tobytes())
    np.save(work / "u8.npy", u8)
    np.save(work / "f32.npy", frames)
    same = ffmpeg_args(fmt, width=w, height=h, channels=3, fps=16, output=work / "bare.out", crf=crf, preset=preset)
    same[same.index("pipe:0")] = str(work / "raw.rgb")
    floats = ffmpeg_args(fmt, width=w, height=h, channels=3, fps=16, output=work / "bare_f32.out", crf=crf, preset=preset)
    floats[floats.index("pipe:0") - 1:floats.index("pipe:0") + 1] = ["-skip_initial_bytes", str(_npy_offset(work / "f32.npy")), "-i", str(work / "f32.npy")]
    floats[floats.index("rgb24")] = "rgbf32le"
    minimal = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-framerate", "16", "-i", str(work / "raw.rgb"), *fmt.codec_args(crf, preset), "-f", fmt.muxer, str(work / "min.out")]
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "bare_min": [], "bare_f32": [], "ours_u8": [], "ours_f32": []}
    for i in range(repeat):
        for key in runs:
            out = work / f"{key}_{i}.{fmt.extension}"
            if key == "bare":
                runs[key].append(timed([binary.path, *same]))
            elif key == "bare_min":
                runs[key].append(timed([binary.path, *minimal]))
            elif key == "bare_f32":
                runs[key].append(timed([binary.path, *floats]))
            else:
                src = work / ("u8.npy" if key == "ours_u8" else "f32.npy")
                runs[key].append(timed([sys.executable, "-m", "wan_compat", "encode", str(src), "--format", fmt.name,
                                        "--crf", str(crf), "--preset", preset, "--fps", "16", "--out", str(out)]))
    names = {"bare": "bare ffmpeg, same args, raw uint8 file", "bare_min": "bare ffmpeg, codec args only",
             "bare_f32": "bare ffmpeg, same args, reading the float32 .npy itself (rgbf32le)",
             "ours_u8": "wan-compat encode uint8 .npy", "ours_f32": "wan-compat encode float32 .npy"}
    wall0 = statistics.median(w for w, _ in runs["bare"])
    cpu0 = statistics.median(c for _, c in runs["bare"])
    rows = []
    for key, name in names.items():
        wall = statistics.median(w for w, _ in runs[key])
        cpu = statistics.median(c for _, c in runs[key])
        rows.append((f"{label} {fmt.name}: {name}", wall, wall / wall0, cpu, cpu / cpu0))
    return rows


def bench_conversion(frames: np.ndarray, repeat: int) -> list[tuple[str, float, float, float]]:
    import tracemalloc

    import torch

    def chunked() -> None:
        conv = Uint8Converter(frames.shape[1:])
        for start in range(0, frames.shape[0], conv.frames_per_chunk):
            conv.convert(frames[start:start + conv.frames_per_chunk])

    def naive_numpy() -> None:
        to_uint8_naive(frames)

    tensor = torch.from_numpy(frames)

    def naive_torch() -> None:
        (tensor * 255).round().clamp(0, 255).to(torch.uint8)

    rows = []
    base = None
    for name, fn in (("chunked converter (ours)", chunked), ("naive numpy clip(x*255+.5).astype", naive_numpy), ("naive torch (x*255).round().clamp().to(uint8)", naive_torch)):
        fn()  # warm-up
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()  # numpy reports its buffers here; torch's CPU allocator does not
        tracemalloc.stop()
        median = statistics.median(times)
        base = base or median
        rows.append((name, median, median / base, peak / 2**20))
    return rows


_RSS_SCRIPT = textwrap.dedent("""
    import sys, tempfile, threading, time
    import psutil
    sys.path.insert(0, sys.argv[4])
    from encode import moving_gradients
    from wan_compat.encoders.encode import encode_video

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    f, h, w = map(int, sys.argv[1:4])
    frames = moving_gradients(f, h, w)
    with tempfile.TemporaryDirectory() as out:
        encode_video(frames[:2], output_dir=out, fmt="h264-mp4", fps=16)  # imports and ffmpeg discovery done
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak (VmHWM) to the current RSS: building the frames peaked higher
        before = status("VmRSS")
        ffmpeg_peak, done = [0], threading.Event()

        def watch():  # ffmpeg's RSS, sampled (its rusage would count the forked parent's pages)
            while not done.is_set():
                for child in psutil.Process().children():
                    try:
                        if "ffmpeg" in child.name():  # not a child still between fork and exec
                            ffmpeg_peak[0] = max(ffmpeg_peak[0], child.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        encode_video(frames, output_dir=out, fmt="h264-mp4", fps=16)
        done.set()
        watcher.join()
    peak = status("VmHWM")
    print(frames.nbytes, before, peak, ffmpeg_peak[0])
""")


def bench_rss(f: int, h: int, w: int) -> tuple[int, int, int, int]:
    """Linux only (/proc/self/clear_refs resets the peak so only the encode is measured)."""
    done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(f), str(h), str(w), str(Path(__file__).parent)],
                          capture_output=True, text=True, check=True)
    nbytes, before, peak, ffmpeg_peak = map(int, done.stdout.split())
    return nbytes, before, peak, ffmpeg_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--noise", action="store_true", help="also time uniform-noise frames (slow for x264)")
    args = parser.parse_args()
    f, h, w = args.frames, args.height, args.width
    frames = moving_gradients(f, h, w)
    binary = find_ffmpeg()
    print(f"# {f} frames {w}x{h}, ffmpeg {binary.version} ({binary.source}), median of {args.repeat}")
    print()
    print("| whole process | wall s | wall ratio | CPU s | CPU ratio |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = bench_whole_process(work, frames, "gradients", "h264-mp4", 19, "medium", args.repeat)
        rows += bench_whole_process(work, frames, "gradients", "vp9-webm", 32, "realtime", args.repeat)
        if args.noise:
            noise = np.random.default_rng(0).random(frames.shape, dtype=np.float32)
            rows += bench_whole_process(work, noise, "noise", "h264-mp4", 19, "medium", args.repeat)
    for name, wall, wall_ratio, cpu, cpu_ratio in rows:
        print(f"| {name} | {wall:.3f} | {wall_ratio:.3f} | {cpu:.3f} | {cpu_ratio:.3f} |")
    print()
    print(f"| float->uint8, whole clip ({frames.nbytes / 2**20:.0f} MiB float32) | seconds | ratio | extra MiB (numpy, tracemalloc) |")
    print("|---|---:|---:|---:|")
    for name, seconds, ratio, mib in bench_conversion(frames, max(args.repeat, 3)):
        extra = f"{mib:.1f}" if "torch" not in name else "n/a (torch allocator)"
        print(f"| {name} | {seconds:.3f} | {ratio:.2f} | {extra} |")
    print()
    nbytes, before, peak, ffmpeg_peak = bench_rss(f, h, w)
    print("| memory of an in-process encode_video (h264-mp4) | MiB |")
    print("|---|---:|")
    print(f"| frames tensor (float32) | {nbytes / 2**20:.1f} |")
    print(f"| RSS before encoding (Python + frames) | {before / 2**20:.1f} |")
    print(f"| peak RSS while encoding | {peak / 2**20:.1f} |")
    print(f"| added by encoding (peak - before) | {(peak - before) / 2**20:.1f} ({(peak - before) / nbytes:.1%} of the frames) |")
    print(f"| ffmpeg's own peak RSS (separate process, sampled every 10 ms) | {ffmpeg_peak / 2**20:.1f} |")


if __name__ == "__main__":
    main()
