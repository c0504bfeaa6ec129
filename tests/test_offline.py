"""Every library call of the pack that could reach the Hub passes `local_files_only=True`, as the
README says, and a whole load and run sends nothing to the network even where HF_HUB_OFFLINE is
unset (the test session sets it for everything else, which would hide a missing flag).

In a subprocess without HF_HUB_OFFLINE, with HF_ENDPOINT on a loopback server that records every
request: the libraries' own `from_pretrained`/`load_config` are wrapped (each call goes on to the
real one) to record the keyword arguments of every call the pack's code makes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = r"""
import json, sys
import diffusers, transformers
from diffusers.configuration_utils import ConfigMixin
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.image_processing_base import ImageProcessingMixin
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

calls = []

def spy(owner, name):
    original = owner.__dict__[name].__func__
    def wrapper(cls, *args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("wan_compat."):
            calls.append({"call": f"{cls.__name__}.{name}", "caller": caller, "local_files_only": kwargs.get("local_files_only")})
        return original(cls, *args, **kwargs)
    setattr(owner, name, classmethod(wrapper))

for owner, name in ((ConfigMixin, "load_config"), (diffusers.ModelMixin, "from_pretrained"), (diffusers.SchedulerMixin, "from_pretrained"),
                    (PreTrainedModel, "from_pretrained"), (PretrainedConfig, "from_pretrained"), (AutoTokenizer, "from_pretrained"),
                    (PreTrainedTokenizerBase, "from_pretrained"), (ImageProcessingMixin, "from_pretrained")):
    spy(owner, name)

from wan_compat.compat.loading import LoadOptions, load_pipeline
from wan_compat.compat.sampling import SampleRequest, sample
folder, i2v, tokenizer = sys.argv[1:4]
loaded = load_pipeline(folder, options=LoadOptions(dtype="fp32"))
load_pipeline(i2v, options=LoadOptions(dtype="fp32"))
sample(loaded, SampleRequest(prompt="a cat", width=32, height=32, num_frames=5, steps=2, seed=0), record=False)
from wan_compat.compat.loading.tokenizer import find_tokenizer
find_tokenizer(folder=__import__("pathlib").Path(tokenizer), config_source=None, text_encoder_state=None)
print(json.dumps(calls))
"""


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def _any(self) -> None:
        _Recorder.seen.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_HEAD = do_POST = _any  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def test_no_call_reaches_the_hub(tiny_path, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
        env.update(HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HOME=str(tmp_path / "hf"), WAN_COMPAT_CONFIG_DIR=str(tmp_path / "settings"))
        folder, i2v = tiny_path("wan2.1-t2v"), tiny_path("wan2.1-i2v")
        run = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), str(i2v), str(folder / "tokenizer")],
                             capture_output=True, text=True, timeout=600, env=env)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stderr[-3000:]
    calls = json.loads(run.stdout.strip().splitlines()[-1])
    assert {c["call"].split(".")[-1] for c in calls} >= {"load_config", "from_pretrained"}  # the spies saw the pack's calls
    assert {c["caller"] for c in calls} >= {"wan_compat.compat.loading.components", "wan_compat.compat.loading.folder_loader",
                                             "wan_compat.compat.loading.tokenizer"}
    missing = [c for c in calls if c["local_files_only"] is not True]
    assert not missing, missing
    assert _Recorder.seen == []
