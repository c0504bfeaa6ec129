"""Wan Frame Process: any frames (pipeline output or IMAGE) to a validated IMAGE plus fps and info."""
from __future__ import annotations

from typing import Any

from ..compat.frames.options import SIZE_MODES, VALUE_RANGES

CATEGORY = "Wan Compat/Frames"
KEEP_APART, MERGE = "keep videos apart", "merge into one video"


class WanFrameProcess:
    DESCRIPTION = (
        "Turns sampler output (numpy, torch or PIL, one video or a batch) or any IMAGE into a standard IMAGE "
        "(float32 in [0, 1], frames x height x width x 3), refusing empty, NaN or out-of-range frames with the fix, "
        "padding or resizing to an encodable size, and carrying fps and where each video of a batch starts: the "
        "videos of Wan Sample's videos=N stay apart (one file each in Wan Encode Video) unless batch says merge."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "FLOAT", "WAN_FRAMES_INFO")
    RETURN_NAMES = ("images", "fps", "frames_info")
    OUTPUT_TOOLTIPS = (
        "The frames as one IMAGE batch (videos of a batch one after another, still marked apart for Wan Encode Video), for any image or video node.",
        "The frame rate, for Wan Encode Video or any other video node.",
        "Video boundaries, sizes, fps, model verdict and what was changed, for Wan Encode Video and Diagnose.",
    )
    FUNCTION = "process"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "fps": ("FLOAT", {"default": 16.0, "min": 0.01, "max": 1000.0, "step": 0.001,
                                  "tooltip": "Frames per second: 16 for Wan 2.1 and 2.2 A14B, 24 for Wan 2.2 TI2V-5B."}),
                "size_mode": (list(SIZE_MODES), {"default": "keep",
                                                 "tooltip": "keep: leave the size (the encoder pads odd sizes itself); pad: add black borders up to a multiple of multiple_of; resize: scale to the nearest multiple."}),
                "multiple_of": ("INT", {"default": 2, "min": 1, "max": 256,
                                        "tooltip": "Alignment for pad/resize: 2 is enough for every video format, 16 matches Wan's own grid."}),
                "value_range": (list(VALUE_RANGES), {"default": "auto",
                                                     "tooltip": "Range of float inputs: auto accepts [0, 1] (small overshoot is clipped) and names the range otherwise; -1..1 for raw VAE output; 0..255 for pixel values stored as floats. uint8 input is always 0..255."}),
            },
            "optional": {
                "images": ("IMAGE", {"tooltip": "An IMAGE batch (frames x height x width x channels)."}),
                "video": ("*", {"tooltip": "Pipeline output instead of images: numpy (B,F,H,W,C), torch (B,F,C,H,W), lists of PIL images, or an object with .frames."}),
                "model_info": ("WAN_MODEL_INFO", {"tooltip": "Optional report from Wan Detect Architecture; its verdict is embedded in the video's metadata."}),
                "batch": ([KEEP_APART, MERGE], {"default": KEEP_APART,
                                                "tooltip": "Several videos from Wan Sample (videos > 1): keep them apart (Wan Encode Video writes one file each) or merge them into one video."}),
            },
        }

    def process(self, fps: float, size_mode: str, multiple_of: int, value_range: str, images: Any = None,
                video: Any = None, model_info: Any = None, batch: str = KEEP_APART) -> tuple[Any, float, Any]:
        from ..compat.core.errors import FrameError
        from ..compat.frames.boundaries import video_lengths
        from ..compat.frames.handler import FrameTensorHandler, model_verdict

        source = images if images is not None else video
        if source is None:
            raise FrameError("FRAMES_EMPTY", "connect images or video")
        metadata = {"model": model_verdict(model_info)} if model_info is not None else {}
        handler = FrameTensorHandler(value_range=value_range, size_mode=size_mode, multiple_of=multiple_of)  # type: ignore[arg-type]
        lengths = video_lengths(source) if batch == KEEP_APART else None
        image, info = handler.normalize(source, fps=fps, metadata=metadata, lengths=lengths)
        if batch == MERGE:
            info.video_lengths = [info.frames]
            if video_lengths(image):  # the input itself, marked by Wan Sample: a view without the mark, no copy
                image = image.view(image.shape)
        return image, info.fps, info


NODES = {"WanFrameProcess": WanFrameProcess}
DISPLAY_NAMES = {"WanFrameProcess": "Wan Frame Process"}
