"""The config and class of a transformer loaded alone: the registry's row for a known Wan release,
or the transformer config of a diffusers folder of the same model (`config_source`), whose code,
if any, is refused: a config source lends its JSON only."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import SecurityError
from ..detect.model_info import ModelInfo
from ..security import paths
from ..security.policy import SecurityPolicy
from . import components, component_configs
from .folder_checks import checked_folder
from .report import LoadReport


def transformer_config(info: ModelInfo, config_source: str | Path | None, allowed: list[str], policy: SecurityPolicy, report: LoadReport) -> tuple[dict[str, Any], str]:
    """The transformer config and class: the registry's for a known release, else a folder's."""
    if config_source is None:
        configs = component_configs.from_registry(info, bool(info.moe))
    else:
        folder = paths.resolve_inside(Path(str(config_source)), allowed, expect="folder")
        index, _, needs_code = checked_folder(folder, allowed, policy, report, "config source")
        if needs_code:
            raise SecurityError("CUSTOM_CODE_FILES", f"{folder.name} is used only for its configs; a config source must carry no code", path=str(folder))
        configs = component_configs.from_folder(folder, index)
    components.expected_class("transformer", configs.transformer_class)
    report.allow("configs", configs.origin)
    return configs.transformer, configs.transformer_class
