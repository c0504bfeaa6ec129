"""Benchmark-only ComfyUI node: moving-gradient frames as a float32 IMAGE (the content of
benchmarks/encode.py), so the encode benchmark runs inside a real server. Never shipped: only
benchmarks/encode_server.py links this folder into a private custom_nodes."""
import torch


class WanCompatBenchFrames:
    CATEGORY = "_for_testing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"frames": ("INT", {"default": 81, "min": 1, "max": 1000}),
                             "width": ("INT", {"default": 832, "min": 16, "max": 4096}),
                             "height": ("INT", {"default": 480, "min": 16, "max": 4096})}}

    def make(self, frames, width, height):
        t = torch.arange(frames, dtype=torch.float32)[:, None, None]
        y = torch.arange(height, dtype=torch.float32)[None, :, None]
        x = torch.arange(width, dtype=torch.float32)[None, None, :]
        shape = (frames, height, width)
        r = (((x + 3 * t) % 256) / 255).expand(shape)
        g = (((y + 2 * t) % 256) / 255).expand(shape)
        b = (((x + y + t) % 256) / 255).expand(shape)
        return (torch.stack([r, g, b], dim=-1).contiguous(),)


NODE_CLASS_MAPPINGS = {"WanCompatBenchFrames": WanCompatBenchFrames}
