"""`wan-compat encode INPUT --out PATH [--format F] [--fps N] [--crf N] [--preset P] [--json]`.

INPUT is a .npy array (F, H, W, 3) of uint8, or of floats in [0, 1], or a folder of PNG frames such
as the fallback folder the encoder writes (its wan-compat-frames.json supplies fps, format and
metadata unless given here). What is still open comes from the settings' `encoder` section. `--out` is never overwritten: an existing file is an error, so a
re-run cannot destroy a result (delete or rename it first). No PNG fallback is written here, the
input frames are already on disk.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", help="a .npy (F,H,W,3) uint8/float array, or a folder of PNG frames")
    parser.add_argument("--out", help="the video file to write (the format's extension is added if missing); never overwritten")
    parser.add_argument("--format", help="mp4, webm, h265, av1, lossless, prores or a full name (default: --out's extension, else the settings' format)")
    parser.add_argument("--fps", type=float, help="frames per second (default: the folder's sidecar, else the settings, else 16)")
    parser.add_argument("--crf", type=int, help="quality (lower is better); the format's default when left out")
    parser.add_argument("--preset", help="encoder preset, e.g. medium (x264/x265) or realtime (VP9); the format's default when left out")
    parser.add_argument("--verify", choices=("index", "packets", "decode"), default="index",
                        help="read the file back from the container index (no second ffmpeg, default), by counting packets with ffmpeg, or by decoding every frame")
    parser.add_argument("--list-formats", action="store_true", help="list the formats and whether this ffmpeg can write them")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _load_input(path: Path) -> tuple[Any, dict[str, Any]]:
    from ..core.errors import EncodeError

    if path.is_dir():
        from ...encoders.png_sequence import PngSequence, read_sidecar

        return PngSequence(path), read_sidecar(path)
    if not path.is_file():
        raise EncodeError("ENCODE_INPUT_UNREADABLE", f"{path} does not exist")
    if path.suffix.lower() != ".npy":
        raise EncodeError("ENCODE_INPUT_UNREADABLE", f"{path.name}: expected a .npy file or a folder of PNG frames")
    from ...encoders.rawfile import open_uint8_npy

    raw = open_uint8_npy(path)  # plain uint8: ffmpeg reads the file itself, numpy is not even imported
    if raw is not None:
        return raw, {}
    import numpy as np

    try:
        frames = np.load(path, mmap_mode="r", allow_pickle=False)  # mapped: frames are read as they are sent
    except (OSError, ValueError) as exc:
        raise EncodeError("ENCODE_INPUT_UNREADABLE", f"{path.name} is not a readable .npy array: {exc}") from exc
    return frames, {}


def _choose_format(args: argparse.Namespace, sidecar: dict[str, Any]) -> Any:
    """--format, else --out's extension, else the folder's sidecar; None leaves it to the settings."""
    from ...encoders.formats import format_for_extension, get_format
    from ..core.errors import UsageError

    suffix = Path(args.out).suffix
    by_extension = format_for_extension(suffix) if suffix else None
    if args.format:
        fmt = get_format(args.format)
        if by_extension is not None and by_extension.extension != fmt.extension:
            raise UsageError("USAGE", f"--out ends in {suffix} but --format {fmt.name} writes .{fmt.extension}")
        return fmt
    if by_extension is not None:
        return by_extension
    return get_format(sidecar["format"]) if sidecar.get("format") else None


def _list_formats(as_json: bool) -> int:
    from ...encoders.ffmpeg import describe, find_ffmpeg
    from ...encoders.formats import all_formats
    from ..core.errors import EncodeError

    try:
        binary = find_ffmpeg()
        encoders, where = binary.video_encoders, describe(binary)
    except EncodeError as exc:
        encoders, where = frozenset(), {"error": exc.message()}
    rows = [{**f.to_dict(), "available": f.encoder in encoders} for f in all_formats()]
    if as_json:
        emit_json({"ffmpeg": where, "formats": rows})
    else:
        lines = [f"ffmpeg: {where.get('path') or where.get('error')}"]
        lines += [f"  {'yes' if r['available'] else 'no ':3}  {r['name']:11} .{r['extension']:5} {r['label']}" for r in rows]
        emit_text("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    from ..core.errors import UsageError

    if args.list_formats:
        return _list_formats(args.json)
    if not args.input or not args.out:
        raise UsageError("USAGE", "give INPUT and --out PATH (or --list-formats)")
    from ...encoders.defaults import choose
    from ...encoders.encode import encode_to_file

    frames, sidecar = _load_input(Path(args.input).expanduser())
    fps = args.fps if args.fps is not None else sidecar.get("fps")
    choice = choose(_choose_format(args, sidecar), args.crf, args.preset, fps)
    result = encode_to_file(frames, Path(args.out), fmt=choice.fmt, fps=choice.fps, crf=choice.crf, preset=choice.preset,
                            metadata=sidecar.get("metadata") or None, verify=args.verify)
    if args.json:
        emit_json(result.to_dict())
    else:
        emit_text(f"{result.path}\n{result.frames} frames, {result.width}x{result.height}, {result.fps:g} fps, "
                  f"{result.format}, {result.size_bytes} bytes, {result.seconds:.2f} s")
    return 0
