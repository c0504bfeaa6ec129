"""Every Wan conditioning node of ComfyUI: what it feeds the model, and what becomes of it in a
given model, decided the way ComfyUI decides it.

Facts (read in Comfy-Org/ComfyUI, the newest `comfy_extras/nodes_wan.py`, `nodes_wanmove.py`,
`nodes_scail.py`, the WanDancer, AR-video and Bernini node files, `comfy/model_base.py`,
`comfy/supported_models.py`, `comfy/model_detection.py`):
- Every node makes the noise latent itself: 16 channels (`torch.zeros([b, 16, ...])`), except
  `Wan22ImageToVideoLatent` (48) and the nodes that take `vae.latent_channels` (FLF, Fun inpaint,
  Wan 2.2 Fun control).
- Image conditioning travels as `concat_latent_image` (+ `concat_mask`). `model_base.WAN21.concat_cond`:
  extra = the model's `patch_embedding` input channels - the noise latent's. extra 0: the image is
  dropped (the model runs text-only). No image: zeros of `extra` channels. extra = image + 4:
  mask + image. extra = image, or the model is not `image_to_video`: the image alone (a channel
  count that differs then fails in the patch embedding). An `image_to_video` model otherwise gets
  the image cut to extra - 4 channels plus the mask.
- `image_to_video` (supported_models.py): WAN21_I2V (in 36 with `img_emb`), WAN22_T2V (out 48: the
  5B family), WanDancer and Animate 2; every other Wan model class passes False.
- Other conditioning is read only by its model class (model_base.py): `camera_conditions` by
  WAN21_Camera (`control_adapter`), `audio_embed` by WAN22_S2V (`casual_audio_encoder`),
  WAN21_HuMo (`audio_proj`) and WanDancer (`patch_embedding_global`), `pose_video_latent` /
  `face_video_pixels` by WAN22_Animate (`face_adapter`, `motion_encoder`) and WAN21_SCAIL
  (`patch_embedding_pose` / `patch_embedding_mask`), `vace_frames` by WAN21_Vace
  (`vace_patch_embedding`), `clip_vision_output` by any model with `img_emb`. Any other model
  ignores them without a word: the graph runs and the input is lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Feed:
    """One thing a node hands the model besides channels. `input`: the optional input that makes it
    (None: always sent); `markers`: the model modules that read it ("vace": VACE blocks);
    `expected`: the model needs it to do its task (a missing link is worth a warning)."""

    input: str | None
    what: str
    markers: tuple[str, ...] = ()
    expected: bool = False


@dataclass(frozen=True)
class Node:
    task: str
    latent: int | str = 16  # noise latent channels: a number, or "vae" (vae.latent_channels)
    image: str | None = None  # concat_latent_image channels: "z", "2z" (of the latent), or None
    image_input: str | None = None  # the optional input that makes the image (None: always made)
    mask: bool = False  # a concat_mask comes with the image
    feeds: tuple[Feed, ...] = field(default_factory=tuple)
    clip: str | None = None  # the input that takes CLIP vision features (read by models with `img_emb`)
    clip_expected: bool = True  # an I2V model here is expected to get them (the official graphs link them)


_AUDIO = "the audio (speech)"
_CV = "clip_vision_output"

# node type -> what it builds. Channel rules and feeds from the node definitions named above.
NODES: dict[str, Node] = {
    "WanImageToVideo": Node("image-to-video", image="z", image_input="start_image", mask=True, clip=_CV),
    "WanFirstLastFrameToVideo": Node("first/last-frame", latent="vae", image="z", mask=True, clip="clip_vision_start_image"),
    "WanFunInpaintToVideo": Node("Fun inpaint", latent="vae", image="z", mask=True, clip=_CV),
    "WanFunControlToVideo": Node("Fun control (2.1)", image="2z", clip=_CV),
    "Wan22FunControlToVideo": Node("Fun control (2.2)", latent="vae", image="2z", mask=True,
                                   feeds=(Feed("ref_image", "the reference image", ("ref_conv.",)),)),
    "WanCameraImageToVideo": Node("camera control", image="z", image_input="start_image", mask=True, clip=_CV,
                                  feeds=(Feed("camera_conditions", "the camera motion", ("control_adapter.",), expected=True),)),
    "WanTrackToVideo": Node("ATI track control", image="z", mask=True, clip=_CV),
    "WanMoveTrackToVideo": Node("Wan-Move track control", image="z", mask=True, clip=_CV),
    # the official InfiniteTalk graph (video_wan2_1_infinitetalk) runs its I2V model without CLIP vision
    "WanInfiniteTalkToVideo": Node("InfiniteTalk", image="z", image_input="start_image", mask=True, clip=_CV, clip_expected=False),
    "WanAnimateToVideo": Node("Animate", image="z", mask=True, clip=_CV, feeds=(
        Feed("pose_video", "the pose video", ("face_adapter.", "motion_encoder."), expected=True),
        Feed("face_video", "the face video", ("face_adapter.",)))),
    "WanAnimate2ToVideo": Node("Animate 2", image="z", mask=True, clip=_CV),
    "WanDancerVideo": Node("WanDancer", image="z", image_input="start_image", mask=True, clip=_CV, feeds=(
        Feed("audio_encoder_output", "the music", ("patch_embedding_global.",), expected=True),)),
    "WanVaceToVideo": Node("VACE", feeds=(Feed(None, "the VACE control video and masks", ("vace",)),)),
    "WanSoundImageToVideo": Node("speech-to-video", feeds=(Feed("audio_encoder_output", _AUDIO, ("casual_audio_encoder.",), expected=True),)),
    "WanSoundImageToVideoExtend": Node("speech-to-video", feeds=(Feed("audio_encoder_output", _AUDIO, ("casual_audio_encoder.",), expected=True),)),
    "WanHuMoImageToVideo": Node("HuMo", feeds=(Feed("audio_encoder_output", _AUDIO, ("audio_proj.",), expected=True),)),
    "WanSCAILToVideo": Node("SCAIL", clip=_CV, feeds=(
        Feed("pose_video", "the pose video", ("patch_embedding_pose.", "patch_embedding_mask."), expected=True),)),
    "WanPhantomSubjectToVideo": Node("Phantom subject"),
    "Wan22ImageToVideoLatent": Node("TI2V (image in the latent)", latent=48),
    "ARVideoI2V": Node("causal (autoregressive) image-to-video"),
    "BerniniConditioning": Node("Bernini in-context"),
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    detail: str


def image_to_video(facts: dict) -> bool:
    """ComfyUI's `image_to_video` flag for this model (supported_models.py)."""
    markers = set(facts.get("markers") or ())
    if "patch_embedding_global." in markers:
        return True
    if facts.get("out_channels") == 48:
        return True
    return bool(facts.get("has_image_embedder")) and facts.get("in_channels") == 36 and not markers and not facts.get("vace")


def _has(facts: dict, markers: tuple[str, ...]) -> bool:
    found = set(facts.get("markers") or ())
    return any((m == "vace" and facts.get("vace")) or m in found for m in markers)


def latent_channels(node: Node, vae_z: int | None) -> int | None:
    return vae_z if node.latent == "vae" else node.latent  # type: ignore[return-value]


def outcome(node_type: str, linked: set[str], facts: dict, vae_z: int | None) -> list[Finding]:
    """What happens when this node conditions a model with these facts (transformer numbers from
    the header): certain failures as errors, silently lost inputs as warnings."""
    node = NODES[node_type]
    found: list[Finding] = []
    z = latent_channels(node, vae_z)
    model_in, model_z = facts.get("in_channels"), facts.get("out_channels")
    if z and model_z and z != model_z:
        return [Finding("WF_MODEL_TASK_MISMATCH", "error",
                        f"{node_type} makes a {z}-channel latent; the model works in {model_z} channels (its output layer)")]
    image = None
    if node.image and (node.image_input is None or node.image_input in linked) and z:
        image = z * (2 if node.image == "2z" else 1)
    if z and model_in:
        extra = model_in - z
        if extra == 0 and image:
            found.append(Finding("WF_CONDITIONING_DROPPED", "warning",
                                 f"the model takes {model_in} input channels, no more than the {z}-channel latent: ComfyUI drops the "
                                 f"{image}-channel image {node_type} builds and runs on the text alone"))
        elif image and extra not in (image, image + 4):
            if not image_to_video(facts):
                found.append(Finding("WF_MODEL_TASK_MISMATCH", "error",
                                     f"{model_in} input channels; {node_type} gives {z} (latent) + {image} (image"
                                     f"{' + 4 mask' if node.mask else ''}) = {z + image + (4 if node.mask else 0)}"))
            elif image < extra - 4:
                found.append(Finding("WF_MODEL_TASK_MISMATCH", "error",
                                     f"{model_in} input channels; {node_type} gives {z} + 4 (mask) + {image} (image) = {z + 4 + image}"))
            else:
                found.append(Finding("WF_CONDITIONING_DROPPED", "warning",
                                     f"ComfyUI cuts the {image}-channel image of {node_type} to {extra - 4} channels for this "
                                     f"{model_in}-channel model: part of the conditioning is lost"))
    for feed in node.feeds:
        sent = feed.input is None or feed.input in linked
        if not feed.markers:
            continue
        if sent and not _has(facts, feed.markers):
            found.append(Finding("WF_CONDITIONING_DROPPED", "warning",
                                 f"{feed.what} from {node_type} is ignored: the model has no {' / '.join(m.rstrip('.') for m in feed.markers)} module"))
        elif not sent and feed.expected and _has(facts, feed.markers):
            found.append(Finding("WF_CONDITIONING_INPUT_MISSING", "warning",
                                 f"{node_type} gets nothing on {feed.input}: the model runs without {feed.what}"))
    return found
