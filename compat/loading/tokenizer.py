"""The UMT5 tokenizer: from a tokenizer folder (a diffusers folder's `tokenizer/`, or one given
alone), or from the `spiece_model` tensor that ComfyUI's umt5 text-encoder files embed.

The embedded model is a sentencepiece Unigram model. transformers can convert it only with
protobuf installed (and without it silently builds a useless vocabulary), so the pieces and scores
are read with sentencepiece itself and served through a `tokenizers` Unigram model: the same ids
ComfyUI's own tokenizer produces, with NFKC normalisation and collapsed spaces.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..core.errors import LoadError

SPIECE_KEY = "spiece_model"
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json")


def is_tokenizer_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in TOKENIZER_FILES)


def from_folder(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # transformers raises many types for a broken folder
        raise LoadError("LOAD_FAILED", f"{folder}: {type(exc).__name__}: {exc}", component="tokenizer") from None


def spiece_bytes(state_dict: Mapping[str, Any]) -> bytes | None:
    tensor = state_dict.get(SPIECE_KEY)
    if tensor is None:
        return None
    return bytes(tensor.contiguous().view(-1).to("cpu").numpy().tobytes())


def from_sentencepiece(model_proto: bytes) -> Any:
    """A T5TokenizerFast with the pieces, scores and special ids of a sentencepiece model."""
    import sentencepiece
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    try:
        sp = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
    except Exception as exc:
        raise LoadError("LOAD_FAILED", f"the embedded spiece_model is not a sentencepiece model ({exc})", component="tokenizer") from None
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    backend = Tokenizer(models.Unigram(pieces, unk_id=sp.unk_id(), byte_fallback=False))
    backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    eos = sp.id_to_piece(sp.eos_id())
    backend.post_processor = processors.TemplateProcessing(single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, sp.eos_id())])
    return T5TokenizerFast(
        tokenizer_object=backend,
        pad_token=sp.id_to_piece(sp.pad_id()) if sp.pad_id() >= 0 else eos,
        eos_token=eos,
        unk_token=sp.id_to_piece(sp.unk_id()),
        extra_ids=0,
    )


def find_tokenizer(*, folder: Path | None, config_source: Path | None, text_encoder_state: Mapping[str, Any] | None) -> tuple[Any, str]:
    """(tokenizer, where it came from): an explicit folder first, then the model embedded in the
    text-encoder file (made for exactly that encoder), then the config source's tokenizer."""
    if folder is not None:
        sub = folder / "tokenizer"
        return from_folder(sub if is_tokenizer_folder(sub) else folder), str(folder)
    embedded = spiece_bytes(text_encoder_state) if text_encoder_state is not None else None
    if embedded:
        return from_sentencepiece(embedded), f"the {SPIECE_KEY} tensor of the text-encoder file"
    if config_source is not None and is_tokenizer_folder(config_source / "tokenizer"):
        return from_folder(config_source / "tokenizer"), str(config_source / "tokenizer")
    raise LoadError("TOKENIZER_NOT_FOUND", "no tokenizer folder was given and the text-encoder file has no spiece_model tensor")
