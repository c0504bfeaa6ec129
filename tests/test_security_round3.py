"""Security, third round (issue 19): each finding of the red team, reproduced; the server stalls as
bounded work, the path findings, the typed errors. Every test here fails on the code before the fix
(checked on main) and passes now. The real-server side is in test_security_round3_server.py."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.core import safe_json, translate
from wan_compat.compat.core.errors import WanCompatError
from wan_compat.compat.fixtures.template_files import write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.graph import parse
from wan_compat.compat.workflow.report import check_workflow
from wan_compat.nodes import comfy_routes

# ------------------------------------------------------------------ server stalls: bounded work


class _Recording:
    """A compiled pattern that records how much text each call may scan."""

    def __init__(self, pattern: re.Pattern[str], spans: list[int]) -> None:
        self.pattern, self.spans = pattern, spans

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        self.spans.append(min(endpos, len(text)) - pos)
        return self.pattern.search(text, pos, endpos)

    def __getattr__(self, name: str) -> object:
        return getattr(self.pattern, name)


# The red team's message: 10-22 s per request through the explain route (a cubic backtrack).
HOSTILE_MESSAGES = [("Pipeline X expected [], but only {" * 600)[:20000], ("Cannot load because x expected shape " * 600)[:20000],
                    ("expected input[" * 1400)[:20000], ('"a" not implemented for \'Float8_e' * 700)[:20000]]


@pytest.mark.parametrize("message", HOSTILE_MESSAGES, ids=["pipeline", "cannot_load", "conv", "fp8"])
def test_translation_rules_scan_bounded_windows_only(message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spans: list[int] = []
    rules = tuple(dataclasses.replace(rule, pattern=_Recording(rule.pattern, spans)) for rule in translate.RULES)  # type: ignore[arg-type]
    monkeypatch.setattr(translate, "RULES", rules)
    translate.translate(RuntimeError(message))
    # Each regex run sees at most one window, and each rule at most MAX_WINDOWS of them per anchor.
    assert spans and max(spans) <= translate.WINDOW + 200
    assert len(spans) <= sum(len(r.anchors) for r in rules) * translate.MAX_WINDOWS


def test_translation_still_finds_a_real_message_after_long_noise() -> None:
    noise = "x" * 15000 + "\n"
    found = translate.translate(RuntimeError(noise + "Given groups=1, weight of size [8, 16, 1, 1, 1], expected input[1, 48, 1, 2, 2] "
                                             "to have 16 channels, but got 48 channels instead"))
    assert found is not None and found.code == "LATENT_CHANNEL_MISMATCH"


# 64 KB of escaped quotes in an unterminated string: 14-49 s in the old pre-parse depth check.
UNTERMINATED = [b'{"a": "' + b'\\"' * 32000, b'{"k": "' + b'\\\\' * 100 + b'\\"' * 20000 + b"\\", b'[["a", "' + b'\\"[' * 20000]


@pytest.mark.parametrize("raw", UNTERMINATED, ids=["escaped_quotes", "escaped_backslashes", "quote_brackets"])
def test_string_removal_consumes_an_unterminated_string_once(raw: bytes) -> None:
    """Linear: the unterminated string's match runs to the end, so no later quote starts another scan."""
    first = safe_json._STRINGS.match(raw, raw.index(b"\\") - 1)
    assert first is not None and first.end() == len(raw)
    with pytest.raises(safe_json.JsonLimitError):
        safe_json.loads(raw)


@pytest.mark.parametrize("depth,over", [(32, False), (33, True)])
def test_depth_is_counted_once_for_long_and_short_inputs(depth: int, over: bool) -> None:
    one = "[" * depth + '"]}{["' + "]" * depth
    assert safe_json.depth_over(one, 32) is over
    assert safe_json.depth_over(one * 3000, 32) is over  # long: the numpy path
    assert safe_json.depth_over("[" * 40 + "]" * 39, 64) is True  # left open


def _fan_out(levels: int, width: int = 3) -> dict:
    """A 1.5 KB UI workflow whose subgraphs use the next one `width` times, `levels` deep."""
    subgraphs = []
    for i in range(levels):
        inner = f"sg{i + 1}" if i + 1 < levels else "VAELoader"
        subgraphs.append({"id": f"sg{i}", "nodes": [{"id": j + 1, "type": inner, "widgets_values": ["x.safetensors"]} for j in range(width)],
                          "links": []})
    return {"nodes": [{"id": 1, "type": "sg0"}], "links": [], "definitions": {"subgraphs": subgraphs}}


def test_subgraph_fan_out_is_refused_within_the_budget() -> None:
    doc = _fan_out(12)  # 531,441 nodes once expanded (16-18 s, +450-600 MB before)
    assert len(json.dumps(doc)) < 3000
    with pytest.raises(WanCompatError) as caught:
        parse(doc)
    assert caught.value.code == "WORKFLOW_TOO_LARGE"


def test_a_large_real_shaped_graph_is_still_checked() -> None:
    doc = _fan_out(6)  # 729 loaders: within the budget
    assert len(parse(doc).nodes) == 3 ** 6


ODD_WORKFLOWS = [
    {"nodes": [{"id": [1], "type": "VAELoader", "inputs": [{"name": ["x"], "link": [2]}]}], "links": [[[2], 1, 0, 1, 0, "VAE"]]},
    {"nodes": [{"id": {"a": 1}, "type": "x"}, {"id": 2, "type": "KSampler", "inputs": [{"name": "model", "link": {"x": 1}}]}], "links": [{"id": [1]}]},
    {"nodes": [{"id": 1, "type": "sg", "inputs": "x"}], "links": [], "definitions": {"subgraphs": [{"id": "sg", "nodes": "x", "links": 5, "outputs": [7]}]}},
    {"nodes": [{"id": 1, "type": 5, "properties": {"models": "x"}}], "links": [[1, 1, "slot", 1, 0]], "definitions": {"subgraphs": [{"id": 5}]}},
    {"1": {"class_type": "VAELoader", "inputs": [["vae_name", "x"]]}},
    {"1": {"class_type": ["VAELoader"], "inputs": {"vae_name": {"a": [1]}, "x": [[1], 0]}, "_meta": {"models": 5}}},
]


@pytest.mark.parametrize("doc", ODD_WORKFLOWS)
def test_workflow_ids_and_inputs_of_any_json_type_are_typed(doc: dict, tmp_path: Path) -> None:
    """Unhashable ids, list `inputs`, strings where lists belong: a verdict, never a TypeError (HTTP 500)."""
    result = check_workflow(doc, ModelFolders({"vae": [str(tmp_path)]}))
    assert isinstance(result["problems"], list)


def test_routes_take_only_json_from_the_page_itself() -> None:
    lan = {"Host": "studio.lan:8188"}
    # A cross-site text/plain POST (no preflight) reached the explain route on a LAN host name.
    assert comfy_routes.refused({**lan, "Origin": "http://evil.example"}, "text/plain")[0] == 415
    assert comfy_routes.refused({**lan, "Origin": "http://evil.example"}, "application/json")[0] == 403
    assert comfy_routes.refused({**lan, "Origin": "http://studio.lan:8188"}, "application/json") is None
    assert comfy_routes.refused({"Host": "studio.lan", "Origin": "http://studio.lan"}, "application/json") is None
    assert comfy_routes.refused(lan, "application/json") is None  # not a browser: no Origin


def test_on_prompt_returns_the_body_and_starts_nothing_outside_comfyui() -> None:
    body = {"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "x.safetensors"}}}}
    assert comfy_routes.on_prompt(body) is body and "prompt_id" not in body


def test_prompt_bytes_keep_what_the_check_reads_and_drop_big_values() -> None:
    prompt = {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "v.safetensors", "image": "x" * 100000, "nested": {"a": [1]}}},
              "2": {"class_type": "KSampler", "inputs": {"vae": ["1", 0], "seed": 3}, "_meta": {"models": [{"name": "v", "url": "u", "x": [1]}]}}}
    kept = json.loads(comfy_routes._prompt_bytes(prompt))["prompt"]
    assert kept["1"]["inputs"] == {"vae_name": "v.safetensors"} and kept["2"]["inputs"] == {"vae": ["1", 0], "seed": 3}
    assert kept["2"]["_meta"] == {"models": [{"name": "v", "url": "u"}]}
    # The UI workflow sent beside the prompt gives its download links (for the log), filtered the same way.
    body = {"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": {"nodes": [
        {"properties": {"models": [{"name": "v.safetensors", "url": "https://huggingface.co/a/b/resolve/main/v.safetensors",
                                    "directory": "vae", "huge": "x" * 100000}]}}, "not a node"]}}}}
    links = json.loads(comfy_routes._prompt_bytes(prompt, body))["models"]
    assert links == [{"name": "v.safetensors", "url": "https://huggingface.co/a/b/resolve/main/v.safetensors", "directory": "vae"}]


# ------------------------------------------------------------------ paths

def test_a_fifo_model_is_refused_without_opening_it(tmp_path: Path) -> None:
    """A FIFO placed as a model file hung inspect, scan and Detect for good; now a typed refusal."""
    models = tmp_path / "models" / "diffusion_models"
    models.mkdir(parents=True)
    fifo = models / "wan.safetensors"
    os.mkfifo(fifo)
    for args in (["inspect", str(fifo), "--json"], ["scan", str(tmp_path / "models"), "--json"]):
        done = subprocess.run([sys.executable, "-m", "wan_compat", *args], capture_output=True, text=True, timeout=120)
        assert "PATH_NOT_A_FILE" in done.stdout and "named pipe" in done.stdout, done.stderr[-2000:]
    from wan_compat.compat.core.regular_file import open_regular

    with pytest.raises(WanCompatError) as caught:
        open_regular(fifo)
    assert caught.value.code == "PATH_NOT_A_FILE" and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_the_workflow_check_uses_inspects_link_rule(tmp_path: Path) -> None:
    """A link inside a downloaded diffusers folder that leads outside was followed by the workflow
    check (the route's code), which showed the target's first bytes; refused like `inspect` does."""
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "diffusion_pytorch_model.safetensors").write_bytes(b"TOP-SECRET-BYTES" * 8)
    (secret / "config.json").write_text('{"_class_name": "WanTransformer3DModel"}')
    folder = tmp_path / "models" / "diffusers" / "Leaky"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "WanPipeline", "transformer": ["diffusers", "WanTransformer3DModel"]}')
    (folder / "transformer").symlink_to(secret, target_is_directory=True)
    doc = {"1": {"class_type": "WanDetectArchitecture", "inputs": {"model": "diffusers/Leaky"}}}
    result = check_workflow(doc, ModelFolders({"diffusers": [str(tmp_path / "models" / "diffusers")]}))
    text = json.dumps(result)
    assert "PATH_OUTSIDE_ROOTS" in text and "TOP-SECRET" not in text


def test_a_picked_name_stays_inside_its_folder(tmp_path: Path) -> None:
    from wan_compat.compat.security.paths import inside_folder

    base = tmp_path / "models" / "diffusers"
    base.mkdir(parents=True)
    for name in ("../../..", "x/../../..", "/etc", "..", "a//b", "C:/x"):
        assert inside_folder(base, name) is None
    (base / "elsewhere").symlink_to(tmp_path, target_is_directory=True)  # a link placed in the folder: followed
    assert inside_folder(base, "elsewhere") == base / "elsewhere"
    assert ModelFolders({"diffusers": [str(base)]}).resolve("diffusers", "diffusers/../../..") is None


def test_lora_path_input_runs_the_policy_before_any_existence_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wan_compat.nodes.lora import WanLoRA

    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    there = tmp_path / "there.safetensors"
    there.write_bytes(b"x")
    answers = {WanLoRA.VALIDATE_INPUTS(lora_1_path=str(path)).replace(str(path), "<path>") for path in (there, tmp_path / "missing.safetensors")}
    assert len(answers) == 1 and "outside" in next(iter(answers)).lower()


# ------------------------------------------------------------------ the check service

def test_the_check_service_answers_every_body_with_json(tmp_path: Path) -> None:
    from wan_compat.compat.workflow.check_service import answer

    write_template_file(tmp_path / "models", "vae", "wan_2.1_vae.safetensors")
    folders = {"vae": [str(tmp_path / "models" / "vae")]}
    ok = answer("check", json.dumps({"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}}}}).encode(), folders)
    assert ok["ok"] and ok["files"][0]["kind"] == "vae"
    again = answer("check", json.dumps({"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}}}}).encode(), folders)
    assert again is ok  # cached by content while the file is unchanged
    (tmp_path / "models" / "vae" / "wan_2.1_vae.safetensors").unlink()
    gone = answer("check", json.dumps({"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}}}}).encode(), folders)
    assert gone is not ok and gone["problems"][0]["code"] == "WF_FILE_MISSING"
    for raw in (b"[" * 100000, b"\xff", b'{"workflow": 1e999999}', b"", b'"' + b"\\\"" * 30000):
        assert answer("check", raw, folders)["ok"] in (True, False)
    assert answer("explain", json.dumps({"message": HOSTILE_MESSAGES[0]}).encode(), {}) == {"explained": False}


# ------------------------------------------------------------------ settings

def test_a_deep_settings_file_is_a_typed_error(tmp_path: Path) -> None:
    """A 100k-deep settings file gave RecursionError in every path check."""
    from wan_compat.compat.settings.store import SettingsStore

    (tmp_path / "settings.json").write_text('{"security": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(WanCompatError) as caught:
        SettingsStore(tmp_path).load({})
    assert caught.value.code == "SETTINGS_FILE_CORRUPT"


def test_settings_are_not_read_from_a_client_writable_folder(tmp_path: Path) -> None:
    """ComfyUI's POST /userdata writes <user>/<user id>/...: settings there would let a client add `/`
    to the model roots. The pack's own <user>/wan-compat is not writable that way."""
    from wan_compat.compat.core.errors import catalogue
    from wan_compat.compat.settings.store import settings_dir

    user = tmp_path / "user"
    for writable in (user / "default" / "wan-compat", user / "default", user / "someone_1234" / "x"):
        with pytest.raises(WanCompatError) as caught:
            settings_dir(user, {"WAN_COMPAT_CONFIG_DIR": str(writable)})
        assert caught.value.code == "SETTINGS_DIR_CLIENT_WRITABLE" and "clients can write" in caught.value.message()
    assert settings_dir(user, {"WAN_COMPAT_CONFIG_DIR": str(user / "wan-compat")}) == user / "wan-compat"
    assert settings_dir(user, {"WAN_COMPAT_CONFIG_DIR": str(tmp_path / "elsewhere")}) == tmp_path / "elsewhere"
    assert settings_dir(user, {}) == user / "wan-compat"
    # No fix text sends the settings into a client-writable folder.
    assert not [code for code, entry in catalogue().items() if "user/default" in entry["fix"]]


# ------------------------------------------------------------------ GGUF header validation

def _gguf(path: Path, tensors: dict[str, tuple[int, ...]]) -> Path:
    """A real GGUF written by llama.cpp's own writer (the `gguf` package), F32 tensors of zeros."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch="wan")
    for name, shape in tensors.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _patch(path: Path, name: str, *, type_id: int | None = None, dims: tuple[int, ...] | None = None, offset: int | None = None) -> None:
    """Rewrite one tensor-table entry in place: [name][n_dims u32][dims u64...][type u32][offset u64]."""
    import struct

    raw = bytearray(path.read_bytes())
    at = raw.index(name.encode()) + len(name)
    n_dims = struct.unpack_from("<I", raw, at)[0]
    at += 4
    if dims is not None:
        assert len(dims) == n_dims
        struct.pack_into(f"<{n_dims}Q", raw, at, *dims)
    at += 8 * n_dims
    if type_id is not None:
        struct.pack_into("<I", raw, at, type_id)
    if offset is not None:
        struct.pack_into("<Q", raw, at + 4, offset)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("change,expected", [
    ({"type_id": 99}, "ggml type 99"),  # passed inspect with "verdict: OK", then an untyped ValueError on load
    ({"type_id": 8}, "not a multiple of its block"),  # Q8_0 with 64-value rows: fine; 48: not
    ({"dims": (48, 2**40)}, "past the end of the file"),
    ({"offset": 3}, "alignment"),
    ({"offset": 0}, "overlap"),
])
def test_impossible_gguf_tensor_tables_are_refused_before_ok(tmp_path: Path, change: dict, expected: str) -> None:
    path = _gguf(tmp_path / "m.gguf", {"blocks.0.a": (2, 48), "blocks.0.b": (2, 48)})
    _patch(path, "blocks.0.b", **change)
    done = subprocess.run([sys.executable, "-m", "wan_compat", "inspect", str(path), "--json"], capture_output=True, text=True, timeout=120)
    doc = json.loads(done.stdout)
    assert done.returncode == 1 and any(p["code"] == "GGUF_INVALID" and expected in (p.get("detail") or "") for p in doc["problems"]), doc["problems"]


def test_a_well_formed_gguf_still_reads(tmp_path: Path) -> None:
    from wan_compat.compat.detect.gguf_header import read_gguf_header

    header = read_gguf_header(_gguf(tmp_path / "m.gguf", {"blocks.0.a": (2, 48), "blocks.0.b": (3, 64)}))
    assert {n: (t.dtype, t.shape, t.nbytes) for n, t in header.tensors.items()} == {"blocks.0.a": ("F32", (2, 48), 384), "blocks.0.b": ("F32", (3, 64), 768)}


# ------------------------------------------------------------------ LoRA validation

@pytest.fixture(scope="module")
def tiny_transformer():
    """A real (tiny) diffusers Wan transformer, as in diffusers' own Wan tests."""
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                                 text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                                 qk_norm="rms_norm_across_heads", rope_max_seq_len=32)


def _lora(alpha=None, down=None, up=None, **extra):
    import torch

    out = {"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(4, 24) if down is None else down,
           "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(24, 4) if up is None else up}
    if alpha is not None:
        out["diffusion_model.blocks.0.self_attn.q.alpha"] = alpha
    return {**out, **extra}


def _bad_loras():
    import torch

    nan = torch.zeros(4, 24)
    nan[1, 2] = float("nan")
    return {
        "nan alpha": _lora(alpha=torch.tensor(float("nan"))), "inf alpha": _lora(alpha=torch.tensor(float("inf"))),
        "zero alpha": _lora(alpha=torch.tensor(0.0)), "negative alpha": _lora(alpha=torch.tensor(-4.0)),
        "alpha of two values": _lora(alpha=torch.tensor([4.0, 4.0])), "NaN weight": _lora(down=nan),
        "scalar down": _lora(down=torch.tensor(1.0)), "rank 0": _lora(down=torch.zeros(0, 24), up=torch.zeros(24, 0)),
        "two namings": _lora(**{"blocks.0.attn1.to_q.lora_A.weight": torch.zeros(4, 24), "blocks.0.attn1.to_q.lora_B.weight": torch.zeros(24, 4)}),
    }


@pytest.mark.parametrize("case", ["nan alpha", "inf alpha", "zero alpha", "negative alpha", "alpha of two values", "NaN weight",
                                  "scalar down", "rank 0", "two namings"])
def test_lora_values_no_lora_can_have_are_refused(case: str, tiny_transformer) -> None:
    """Untyped errors for odd alpha/rank shapes; NaN/inf alpha and NaN weights accepted; one layer in
    two namings silently dropped a pair: now LORA_INVALID, each with its reason."""
    from wan_compat.compat.lora.spec import match_lora

    with pytest.raises(WanCompatError) as caught:
        match_lora(tiny_transformer, _bad_loras()[case], "transformer")
    assert caught.value.code == "LORA_INVALID"


def test_a_sound_lora_still_matches(tiny_transformer) -> None:
    import torch

    from wan_compat.compat.lora.spec import match_lora

    deltas, fmt, rank = match_lora(tiny_transformer, _lora(alpha=torch.tensor(2.0)), "transformer")
    assert (len(deltas), rank, deltas[0].scale) == (1, 4, 0.5)


# ------------------------------------------------------------------ the MP4/MKV index reader

def _box(kind: bytes, body: bytes = b"") -> bytes:
    import struct

    return struct.pack(">I4s", 8 + len(body), kind) + body


def _mp4(track_boxes: bytes) -> bytes:
    hdlr = _box(b"hdlr", b"\0" * 8 + b"vide" + b"\0" * 12)
    return _box(b"ftyp", b"isom\0\0\0\0") + _box(b"moov", _box(b"trak", _box(b"mdia", hdlr + track_boxes)))


def _stbl_tables(count: int) -> bytes:
    import struct

    tkhd = _box(b"tkhd", b"\0" * 84)
    stsz = _box(b"stsz", b"\0" * 4 + struct.pack(">II", 1, count))
    stsc = _box(b"stsc", b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">III", 1, 1, 1))
    stco = _box(b"stco", b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">I", 0))
    return tkhd + _box(b"minf", _box(b"stbl", stsz + stsc + stco))


@pytest.mark.parametrize("data,why", [
    (lambda: _mp4(_nested(3000)), "nested"),  # RecursionError before
    (lambda: _mp4(_stbl_tables(2**32 - 1)), "samples"),  # MemoryError before (a list of 4 billion sizes)
])
def test_the_container_reader_is_iterative_and_bounded(tmp_path: Path, data, why: str) -> None:
    from wan_compat.encoders.container_probe import read_index

    path = tmp_path / "v.mp4"
    path.write_bytes(data())
    with pytest.raises(WanCompatError) as caught:
        read_index(path)
    assert caught.value.code == "ENCODE_VERIFY_FAILED" and why in caught.value.detail


def _nested(levels: int) -> bytes:
    body = b""
    for _ in range(levels):
        body = _box(b"stbl", body)
    return body


# ------------------------------------------------------------------ the report page

ODD_REPORTS = [
    {"report_version": 1, "verdict": "ok", "problems": "x", "stages": {"load": 5, "sample": {"problems": [1, "x", None]}},
     "system": {"lines": 5}, "settings": [1], "recommendations": {"a": 1}},
    {"report_version": 1, "verdict": ["error"], "problems": [{"severity": ["x"], "code": {"a": 1}}, 7], "stages": [1, 2],
     "system": [1, 2], "settings": "x", "basic": {"x": 1}, "created": 5},
    {"report_version": 1, "verdict": "ok", "system": {"gpu": "x", "ram_gb": "many"}, "settings": {"security": 5}},
]


@pytest.mark.parametrize("doc", ODD_REPORTS)
def test_the_report_page_renders_report_shaped_json_of_any_types(doc: dict, tmp_path: Path) -> None:
    """Report-shaped JSON with other types gave HTTP 500; every field is now read by its type."""
    from wan_compat.nodes.comfy_report_route import respond

    (tmp_path / "r.json").write_text(json.dumps(doc))
    for level in ("basic", "detailed", "full"):
        status, kind, body, _ = respond({"filename": "r.json", "level": level}, tmp_path)
        assert status == 200 and kind == "text/html" and "<script" not in body


def test_the_report_page_reads_within_limits(tmp_path: Path) -> None:
    from wan_compat.nodes.comfy_report_route import NOT_FOUND, respond

    (tmp_path / "deep.json").write_text('{"report_version": 1, "verdict": "ok", "x": ' + "[" * 50000 + "]" * 50000 + "}")
    os.mkfifo(tmp_path / "fifo.json")
    for name in ("deep.json", "fifo.json"):
        assert respond({"filename": name}, tmp_path)[:3] == (404, "text/plain", NOT_FOUND)
