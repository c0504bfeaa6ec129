"""Test- and benchmark-only ComfyUI nodes (never shipped: tests/test_native_server.py and
benchmarks/encode_server.py link this folder into a private custom_nodes).

WanCompatTestTextEmbeds: seeded UMT5-width text embeddings as CONDITIONING.

ComfyUI builds the Wan text encoder only at its real size (UMT5-XXL, 5.7 B parameters), too big
for a CI machine; the native-graph test feeds KSampler with these embeddings (the shape the real
encoder gives) instead. The CLIP hand-off itself is tested on real-size shapes on `meta`.

WanCompatBenchFrames: moving-gradient frames as a float32 IMAGE (the content of
benchmarks/encode.py), so the encode benchmark runs inside a real server.
"""
import torch


class WanCompatTestTextEmbeds:
    CATEGORY = "_for_testing"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31}), "tokens": ("INT", {"default": 8, "min": 1, "max": 512})}}

    def make(self, seed, tokens):
        generator = torch.Generator().manual_seed(seed)
        return ([[torch.randn(1, tokens, 4096, generator=generator) * 0.1, {}]],)


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


NODE_CLASS_MAPPINGS = {"WanCompatTestTextEmbeds": WanCompatTestTextEmbeds, "WanCompatBenchFrames": WanCompatBenchFrames}
