"""Test-only ComfyUI node: seeded UMT5-width text embeddings as CONDITIONING.

ComfyUI builds the Wan text encoder only at its real size (UMT5-XXL, 5.7 B parameters), too big
for a CI machine; the native-graph test feeds KSampler with these embeddings (the shape the real
encoder gives) instead. The CLIP hand-off itself is tested on real-size shapes on `meta`.
Never shipped: only tests/test_native_server.py links this folder into a private custom_nodes.
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


NODE_CLASS_MAPPINGS = {"WanCompatTestTextEmbeds": WanCompatTestTextEmbeds}
