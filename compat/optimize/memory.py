"""Memory estimate for one generation: weights from their sizes, activations from the shapes.

Weights: the parameter count of every component (from the file headers, or from the loaded
modules) times the bytes of the precision they run in. Activations come from the video's shape:
- the transformer: per latent token `2*ffn + 5*hidden` values in the compute dtype plus a
  `2*hidden` fp32 residual stream (the attention kernels torch uses keep attention O(tokens)),
  and for TI2V-5B the per-token timestep embeddings (`7*hidden` fp32); cond and uncond passes run
  one after the other, so guidance does not double it;
- the text encoder: 512 tokens through one layer at a time;
- the VAE: the causal decoder runs one latent frame per call, so its peak grows with the frame
  area, not with the frame count; the per-pixel cost below was measured on CPU (torch's conv3d
  unfolds its input there; GPUs with cuDNN need less, so the figure is conservative on GPUs);
- the output frames (float32 IMAGE). A full decode accumulates the video where the decoder runs
  (on a GPU: in VRAM) and then makes about three more copies (clamp, post-processing); those copies
  come after the decoder's activations are freed, so they set the peak only for very long videos.
  Chunked decode moves each chunk to the IMAGE tensor in RAM as it is decoded.

The constants are measured with `benchmarks/estimate_vs_rss.py`, which prints each estimate beside
the measured peak.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIB = 1024**2
TEXT_TOKENS = 512  # Wan pads every prompt to 512 tokens
TRANSFORMER_FIXED = 64 * MIB  # text context, allocator and kernel buffers of one forward
# VAE decode per decoder call on CPU, fp32: (bytes per output pixel, fixed bytes) at the reference
# decoder width (96 for the Wan 2.1 VAE, 256 for the Wan 2.2 VAE); other widths scale linearly.
VAE_PER_PIXEL = {"2.1": (20_000, 245 * MIB, 96), "2.2": (21_900, 150 * MIB, 256)}
FULL_DECODE_COPIES = 3  # extra copies of the whole video a full (non-chunked) decode holds
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8_e4m3fn": 1, "fp8_e5m2": 1, "float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class ModelShape:
    """What the estimate needs to know about a model (parameter counts and a few widths)."""

    params: dict[str, int]  # component -> parameter count
    hidden: int
    ffn_dim: int
    head_dim: int = 128
    patch: tuple[int, int, int] = (1, 2, 2)
    in_channels: int = 16
    z_dim: int = 16
    expand_timesteps: bool = False
    image_conditioned: bool = False  # I2V/FLF2V: the condition video is VAE-encoded at full size
    text_d_model: int = 4096
    text_d_ff: int = 10240
    vae_version: str = "2.1"
    vae_width: int = 96  # the decoder's base width
    vae_spatial: int = 8
    vae_temporal: int = 4
    loaded_bytes: dict[str, int] = field(default_factory=dict)  # component -> bytes now in memory (live pipelines)
    device_bytes: dict[str, int] = field(default_factory=dict)  # device type -> parameter bytes there now (live pipelines)
    fp8_params: dict[str, int] = field(default_factory=dict)  # component -> parameters held in fp8 (1 byte whatever the precision)
    storable_share: float = 0.97  # share of a transformer's parameters fp8 weight storage takes (its block linear weights)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> "ModelShape":
        """From the loaded modules (exact parameter counts and configs)."""
        params: dict[str, int] = {}
        loaded: dict[str, int] = {}
        on_device: dict[str, int] = {}
        fp8: dict[str, int] = {}
        for name, module in pipeline.components.items():
            if not hasattr(module, "parameters"):
                continue
            params[name] = loaded[name] = 0
            for p in module.parameters():
                size = p.numel()
                params[name] += size
                if p.is_floating_point() and p.element_size() == 1:
                    fp8[name] = fp8.get(name, 0) + size
                loaded[name] += size * p.element_size()
                on_device[p.device.type] = on_device.get(p.device.type, 0) + size * p.element_size()
        t = pipeline.transformer or pipeline.transformer_2
        tc, vc = t.config, pipeline.vae.config
        te = getattr(pipeline.text_encoder, "config", None)
        return cls(
            params=params,
            hidden=tc.num_attention_heads * tc.attention_head_dim,
            ffn_dim=tc.ffn_dim,
            head_dim=tc.attention_head_dim,
            patch=tuple(tc.patch_size),
            in_channels=tc.in_channels,
            z_dim=vc.z_dim,
            expand_timesteps=bool(pipeline.config.get("expand_timesteps")),
            image_conditioned=tc.in_channels == 2 * tc.out_channels + 4,
            text_d_model=getattr(te, "d_model", 4096),
            text_d_ff=getattr(te, "d_ff", 10240),
            vae_version="2.2" if vc.get("is_residual") else "2.1",
            vae_width=vc.get("decoder_base_dim") or vc.base_dim,
            vae_spatial=vc.scale_factor_spatial,
            vae_temporal=vc.scale_factor_temporal,
            loaded_bytes=loaded,
            device_bytes=on_device,
            fp8_params=fp8,
        )

    @classmethod
    def from_model_info(cls, info: Any) -> "ModelShape":
        """From detection alone (file headers and configs): before anything is loaded."""
        from ..detect import registry

        comps = info.components or {}
        t = comps.get("transformer") or {}
        vae = comps.get("vae") or {}
        te = comps.get("text_encoder") or {}
        variant = registry.by_id(info.variant) if info.variant else None
        config = (variant.get("config") if variant else None) or {}
        vae_variant = registry.by_id(vae["variant"]) if vae.get("variant") else None
        vae_config = (vae_variant.get("config") if vae_variant else None) or {}
        hidden = t.get("hidden") or config.get("num_attention_heads", 12) * config.get("attention_head_dim", 128)
        z_dim = vae.get("z_dim") or t.get("out_channels") or 16
        version = "2.2" if vae.get("in_channels") == 12 or z_dim == 48 else "2.1"
        return cls(
            params={name: int(c.get("params") or 0) for name, c in comps.items() if c.get("params")},
            hidden=hidden,
            ffn_dim=t.get("ffn_dim") or config.get("ffn_dim") or 4 * hidden,
            head_dim=config.get("attention_head_dim", 128),
            patch=tuple(t.get("patch_size") or (1, 2, 2)),
            in_channels=t.get("in_channels") or 16,
            z_dim=z_dim,
            expand_timesteps=bool((info.requirements or {}).get("expand_timesteps")),
            image_conditioned=t.get("in_channels") == 2 * (t.get("out_channels") or 16) + 4,
            text_d_model=te.get("d_model") or 4096,
            text_d_ff=int(2.5 * (te.get("d_model") or 4096)),
            vae_version=version,
            vae_width=vae_config.get("decoder_base_dim") or vae.get("base_dim") or VAE_PER_PIXEL[version][2],
            vae_spatial=16 if version == "2.2" else 8,
            vae_temporal=4,
        )


@dataclass
class Sizes:
    width: int
    height: int
    num_frames: int
    videos: int = 1

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def describe(self) -> str:
        return f"{self.width}x{self.height}, {self.num_frames} frames" + (f" x {self.videos} videos" if self.videos > 1 else "")


@dataclass
class MemoryEstimate:
    """Bytes per part, and the peak on the device and in RAM for the chosen offload."""

    parts: dict[str, int]
    device_peak: int
    ram_peak: int
    device: str
    phases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "device_peak_bytes": self.device_peak, "ram_peak_bytes": self.ram_peak,
                "parts_bytes": self.parts, "phases_bytes": self.phases}


def weight_bytes(shape: ModelShape, precision: str, vae_precision: str = "fp32", storage: str = "default") -> dict[str, int]:
    """Transformers and text encoder at `precision`; the VAE and CLIP at `vae_precision`. Parameters
    held in fp8 take one byte (at `precision` with `storage` "upcast": keep_fp8_storage off); with
    fp8 `storage` so do the transformers' storable linear weights."""
    out = {}
    for name, count in shape.params.items():
        dtype = vae_precision if name in ("vae", "image_encoder") else precision
        fp8 = shape.fp8_params.get(name, 0) if storage != "upcast" else 0
        if storage not in ("default", "upcast") and name.startswith("transformer"):
            fp8 = max(fp8, int(count * shape.storable_share))
        out[name] = (count - fp8) * DTYPE_BYTES[dtype] + fp8
    return out


def transformer_tokens(shape: ModelShape, sizes: Sizes) -> int:
    """The rows one transformer call processes: latent frames x patches per frame x videos."""
    latent_frames = (sizes.num_frames - 1) // shape.vae_temporal + 1
    lat_h, lat_w = sizes.height // shape.vae_spatial, sizes.width // shape.vae_spatial
    return latent_frames * (lat_h // shape.patch[1]) * (lat_w // shape.patch[2]) * sizes.videos


def activation_bytes(shape: ModelShape, sizes: Sizes, precision: str, vae_precision: str = "fp32") -> dict[str, int]:
    compute = DTYPE_BYTES[precision]
    latent_frames = (sizes.num_frames - 1) // shape.vae_temporal + 1
    lat_h, lat_w = sizes.height // shape.vae_spatial, sizes.width // shape.vae_spatial
    tokens = transformer_tokens(shape, sizes)
    per_token = (2 * shape.ffn_dim + 5 * shape.hidden) * compute + 2 * shape.hidden * 4 + 2 * shape.head_dim * 4
    if shape.expand_timesteps:
        per_token += 7 * shape.hidden * 4
    per_pixel, fixed, width = VAE_PER_PIXEL[shape.vae_version]
    scale = shape.vae_width / width * DTYPE_BYTES[vae_precision] / 4
    vae_call = int((per_pixel * sizes.width * sizes.height + fixed) * scale)
    latents = sizes.videos * shape.in_channels * latent_frames * lat_h * lat_w * 4
    return {
        "text_encoder": TEXT_TOKENS * (6 * shape.text_d_model + 2 * shape.text_d_ff) * compute,
        "transformer": TRANSFORMER_FIXED + tokens * per_token,
        "latents": 6 * latents,  # latents, two noise predictions, the scheduler's history
        "vae_encode": vae_call if shape.image_conditioned and not shape.expand_timesteps else 0,
        "vae_decode": vae_call,
        "frames": sizes.videos * sizes.num_frames * sizes.width * sizes.height * 3 * 4,
    }


def estimate(shape: ModelShape, sizes: Sizes, *, precision: str, device: str = "cpu", offload: str = "none",
             chunked_decode: bool = True, tiling: bool = False, vae_precision: str = "fp32", storage: str = "default") -> MemoryEstimate:
    """The peak of each phase (text encoding, denoising, VAE encode/decode) on the device and in RAM."""
    weights = weight_bytes(shape, precision, vae_precision, storage)
    act = activation_bytes(shape, sizes, precision, vae_precision)
    frames = act["frames"]
    decode = act["vae_decode"]
    if tiling:
        tile = 256 * 256
        decode = int(decode * min(1.0, tile / max(1, sizes.width * sizes.height))) + 2 * frames
    experts = [w for n, w in weights.items() if n.startswith("transformer")]
    on_gpu = device != "cpu"
    if chunked_decode:  # frames leave the decoder chunk by chunk for the IMAGE tensor in RAM
        decode += 0 if on_gpu else frames
    else:  # the video accumulates where the decoder runs; its copies come after the decoder's activations are freed
        decode = max(decode + frames, (1 + FULL_DECODE_COPIES) * frames)
    phase_parts = {
        "text": (["text_encoder"], act["text_encoder"]),
        "denoise": ([n for n in weights if n.startswith("transformer")] + (["image_encoder"] if "image_encoder" in weights else []),
                    act["transformer"] + act["latents"]),
        "vae_encode": (["vae"], act["vae_encode"]),
        "vae_decode": (["vae"], decode),
    }
    total_weights = sum(weights.values())
    phases: dict[str, int] = {}
    for phase, (names, activation) in phase_parts.items():
        if offload == "none" or not on_gpu:
            resident = total_weights
            if offload == "group" and not on_gpu:  # group offload to disk: only two blocks of each expert in RAM
                resident = total_weights - sum(experts) + _two_blocks(experts)
        elif offload == "model":
            held = [weights[n] for n in names if n in weights]
            resident = sum(held) if phase != "denoise" else max(experts or [0])
        elif offload == "group":
            resident = weights.get("vae", 0) + weights.get("text_encoder", 0) * (phase == "text") + _two_blocks(experts)
        else:  # sequential: one layer at a time
            resident = max(weights.values() or [0]) // 40
        phases[phase] = resident + activation
    device_peak = max(phases.values())
    if on_gpu:
        ram_peak = (total_weights if offload != "none" else 0) + frames
    else:
        ram_peak = device_peak
    parts = {f"weights.{n}": w for n, w in weights.items()} | {f"activations.{n}": a for n, a in act.items()}
    return MemoryEstimate(parts=parts, device_peak=device_peak, ram_peak=ram_peak, device=device, phases=phases)


def _two_blocks(experts: list[int]) -> int:
    """Block-level group offload keeps about two blocks (the running one and the prefetched one)
    of the running expert on the device; Wan transformers have 30-40 blocks."""
    return 2 * max(experts or [0]) // 30
