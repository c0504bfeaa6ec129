"""Wan Encode Video: IMAGE frames to MP4/WebM/... in ComfyUI's output folder, previewed in the UI."""
from __future__ import annotations

from typing import Any

from . import comfy_env, comfy_video

CATEGORY = "Wan Compat/Save video"
DEFAULT = "default"


def _format_choices() -> list[str]:
    """Formats this ffmpeg can write; every format when no ffmpeg is found (the run explains why)."""
    from ..encoders.formats import all_formats

    formats = all_formats()
    try:
        from ..encoders.ffmpeg import find_ffmpeg

        binary = find_ffmpeg()
        usable = [f.name for f in formats if binary.has_encoder(f.encoder)]
        return usable or [f.name for f in formats]
    except Exception:  # no ffmpeg: keep workflows loadable, fail at run time with install guidance
        return [f.name for f in formats]


def _preset_choices() -> list[str]:
    from ..encoders.formats import all_formats

    names: list[str] = [DEFAULT]
    for fmt in all_formats():
        names += [p for p in fmt.presets if p not in names]
    return names


def _ui_entry(video: Any) -> dict[str, str]:
    return {"filename": video.filename, "subfolder": video.subfolder, "type": "output"}


class WanEncodeVideo:
    DESCRIPTION = (
        "Encodes IMAGE frames to a video in ComfyUI's output folder (MP4 H.264, WebM VP9, H.265, AV1, lossless FFV1, ProRes), "
        "streaming them to ffmpeg, with the audio of a connected AUDIO or VIDEO (AAC in MP4, Opus in WebM). Odd sizes are padded, prompt, workflow and model verdict are embedded, files are "
        "never overwritten (name_00001_.mp4 counters) and each file is read back before it is published. If encoding "
        "fails, the frames are saved as PNG with a note on how to encode them later, and the error says why."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING", "WAN_ENCODE_RESULT", "VIDEO")
    RETURN_NAMES = ("path", "encode_result", "video")
    OUTPUT_TOOLTIPS = (
        "Absolute path of the video (one per line when a batch held several videos).",
        "What was written and any problem, for Wan Diagnose.",
        "The written file as ComfyUI's VIDEO (the first one when a batch held several), for core SaveVideo, "
        "GetVideoComponents and other packs' video nodes.",
    )
    FUNCTION = "encode"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "fps": ("FLOAT", {"default": 16.0, "min": 0.01, "max": 1000.0, "step": 0.001,
                                  "tooltip": "Frames per second: 16 for Wan 2.1 and 2.2 A14B, 24 for Wan 2.2 TI2V-5B."}),
                "format": (_format_choices(), {"default": "h264-mp4",
                                               "tooltip": "h264-mp4 plays everywhere; vp9-webm is small and fast here; h265/av1 are smaller and slower; ffv1-mkv is lossless; prores-mov is for editors. Only formats this ffmpeg can write are listed."}),
                "crf": ("INT", {"default": -1, "min": -1, "max": 63,
                                "tooltip": "Quality, lower is better: -1 uses your settings (when they name this format) or the format's default (H.264 19, VP9 32, H.265 24, AV1 35). Ranges: H.264/H.265 0-51, VP9/AV1 0-63; not used by ffv1/prores."}),
                "preset": (_preset_choices(), {"default": DEFAULT,
                                               "tooltip": "Speed/size trade-off of the chosen format: x264/x265 ultrafast..veryslow, VP9 realtime/fast/good, AV1 2..12 (higher is faster), ProRes proxy/lt/standard/hq. default: your settings' preset (when they name this format), else the format's own."}),
                "filename_prefix": ("STRING", {"default": "video/Wan",
                                               "tooltip": "Name inside the output folder; subfolders allowed ('video/Wan'), also %width%, %height%, %year%... Files become <prefix>_00001_.mp4."}),
            },
            "optional": {
                "images": ("IMAGE", {"tooltip": "The frames (any IMAGE batch; from Wan Frame Process or any other node). Connect this or video."}),
                "video": ("VIDEO", {"tooltip": "Instead of images: ComfyUI's VIDEO (core CreateVideo, Load Video, other packs); its frames are encoded at its own frame rate (fps is then not used) and its audio is kept."}),
                "audio": ("AUDIO", {"tooltip": "A soundtrack (Load Audio, Get Video Components, speech-to-video graphs): AAC in MP4, Opus in WebM, cut to the video's length. Wins over the audio of a connected VIDEO."}),
                "frames_info": ("WAN_FRAMES_INFO", {"tooltip": "From Wan Frame Process: splits a batch into its videos (one file each) and adds its facts to the metadata. Without it, the videos of a batch from Wan Sample are still written one file each."}),
                "model_info": ("WAN_MODEL_INFO", {"tooltip": "From Wan Detect Architecture: its verdict is embedded in the metadata."}),
                "save_metadata": ("BOOLEAN", {"default": True, "tooltip": "Embed prompt, workflow and model verdict in the file (drag the video onto ComfyUI to get the workflow back)."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, format: str = "h264-mp4", crf: int = -1, preset: str = DEFAULT, fps: float = 16.0,
                        filename_prefix: str = "video/Wan") -> bool | str:
        from ..compat.core.errors import WanCompatError
        from ..encoders.formats import get_format

        try:
            fmt = get_format(format)
            fmt.resolve_quality(None if crf is None or crf < 0 else crf)
            fmt.resolve_preset(preset)
        except WanCompatError as exc:
            return exc.message()
        if not filename_prefix or not filename_prefix.strip():
            return "filename_prefix is empty."
        try:  # the one path policy for outputs: inside ComfyUI's output folder, refused before the run
            from ..encoders.paths import target_in_output

            target_in_output(comfy_env.output_directory(), filename_prefix)
        except WanCompatError as exc:
            return exc.message()
        return True

    def encode(self, images: Any = None, fps: float = 16.0, format: str = "h264-mp4", crf: int = -1, preset: str = DEFAULT,
               filename_prefix: str = "video/Wan", frames_info: Any = None, model_info: Any = None, save_metadata: bool = True,
               prompt: Any = None, extra_pnginfo: Any = None, unique_id: Any = None, video: Any = None,
               audio: Any = None) -> dict[str, Any]:
        from ..compat.core.errors import UsageError
        from ..compat.frames.handler import model_verdict
        from ..encoders.audio import from_comfy
        from ..encoders.defaults import choose
        from ..encoders.encode import EncodeReport, encode_video

        if (images is None) == (video is None):
            raise UsageError("USAGE", "Wan Encode Video takes either images or video: connect exactly one of them")
        if video is not None:
            images, fps, video_audio = comfy_video.components(video)
            audio = audio if audio is not None else video_audio

        choice = choose(format, None if crf < 0 else crf, None if preset == DEFAULT else preset, fps,
                        user_dir=comfy_env.user_directory(), need_fallback_flag=True)
        fmt = choice.fmt
        total = int(images.shape[0]) if hasattr(images, "shape") else 0
        spans = _spans(images, frames_info, total)
        metadata = _metadata(prompt, extra_pnginfo, frames_info, model_verdict(model_info)) if save_metadata else None
        bar = comfy_env.progress_bar(max(total, 1))

        def progress(offset: int) -> Any:
            def update(done: int, _count: int) -> None:
                bar.update_absolute(offset + done, max(total, 1))
                comfy_env.throw_if_interrupted()
            return update

        report = EncodeReport()
        for number, (start, stop) in enumerate(spans):
            video = encode_video(
                images[start:stop], output_dir=comfy_env.output_directory(), filename_prefix=filename_prefix, fmt=fmt,
                fps=fps, crf=choice.crf, preset=choice.preset, metadata=metadata, fallback=choice.png_fallback,
                fallback_dirs=[comfy_env.temp_directory()], on_progress=progress(start),
                audio=from_comfy(audio, number) if audio is not None else None,
            )
            report.videos.append(video)
            comfy_env.send_progress_text(f"{video.filename}: {video.frames} frames {video.width}x{video.height}", unique_id)
        paths = "\n".join(str(v.path) for v in report.videos)
        ui: dict[str, list[Any]] = {"text": [f"{v.filename} ({v.frames} frames, {v.width}x{v.height}, {v.size_bytes // 1024} KiB"
                                             + (f", {_audio_words(v.audio)}" if v.audio else "") + ")" for v in report.videos]}
        if fmt.browser_preview:
            ui["images"] = [_ui_entry(v) for v in report.videos]
            ui["animated"] = [True]
        first = comfy_video.from_file(report.videos[0].path) if report.videos else None
        return {"ui": ui, "result": (paths, report, first)}


def _audio_words(audio: dict[str, Any]) -> str:
    channels = {1: "mono", 2: "stereo"}.get(audio["channels"], f"{audio['channels']} channels")
    return f"audio {audio['codec']} {channels} {audio['sample_rate']} Hz, {audio['seconds']:g} s"


def _spans(images: Any, frames_info: Any, total: int) -> list[tuple[int, int]]:
    """One (start, stop) per video: Wan Frame Process's frames_info when it describes these frames,
    else the videos Wan Sample marked on the tensor (frames/boundaries.py), else one video."""
    from ..compat.frames.boundaries import spans, video_lengths

    if frames_info is not None and frames_info.frames == total:
        return frames_info.boundaries()
    return spans(video_lengths(images) or [total])


def _metadata(prompt: Any, extra_pnginfo: Any, frames_info: Any, verdict: Any) -> dict[str, Any]:
    """ComfyUI's keys (prompt, workflow, ...) plus ours under wan_compat."""
    tags: dict[str, Any] = {}
    if prompt is not None:
        tags["prompt"] = prompt
    if isinstance(extra_pnginfo, dict):
        tags.update(extra_pnginfo)
    ours: dict[str, Any] = {}
    if frames_info is not None:
        ours["frames"] = {k: v for k, v in frames_info.to_dict().items() if k != "metadata"}
        ours.update(frames_info.metadata or {})
    if verdict is not None:
        ours["model"] = verdict
    if ours:
        tags["wan_compat"] = ours
    return tags


NODES = {"WanEncodeVideo": WanEncodeVideo}
DISPLAY_NAMES = {"WanEncodeVideo": "Wan Encode Video"}
