"""The `wan-compat` command line (also `python -m wan_compat`).

Each command lives in its own module and is imported only when it runs, so `wan-compat inspect`
never pays for torch, diffusers or pydantic. Exit codes: 0 nothing of severity error, 1 an error
was found (or the command failed), 2 usage errors.
"""
from __future__ import annotations

import argparse
import importlib
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo_cmd", "run every stage on a tiny built-in Wan model: writes an MP4, a WebM and a report"),
    "inspect": ("inspect_cmd", "what a model file or folder really is (headers and configs only)"),
    "load": ("load_cmd", "load one diffusion-model file alone (every key checked): what it became, memory and time"),
    "check-workflow": ("check_workflow_cmd", "check the files a ComfyUI workflow picks: each file, and how the graph pairs them"),
    "scan": ("scan_cmd", "inspect every model under a folder, e.g. ComfyUI's models/"),
    "get": ("get_cmd", "download a missing model from the Hugging Face Hub into models/, verified (sha256, header), never overwriting"),
    "trust": ("trust_cmd", "show a model folder's code (files, sha256, imports) and the settings entry that would trust it"),
    "encode": ("encode_cmd", "encode frames (.npy or a PNG folder) to MP4/WebM/...; never overwrites"),
    "fixtures": ("fixtures_cmd", "write sparse real-size copies of every known Wan model (headers only) to try the tools"),
    "smoke": ("smoke_cmd", "a minimal generation through every stage: checks the frames, reports time and memory"),
    "doctor": ("doctor_cmd", "check the environment: versions, ffmpeg and encoders, GPU, memory, settings"),
    "config": ("config_cmd", "show, set or validate the settings"),
    "perf": ("perf_cmd", "recent runs' speed and memory, and regressions"),
    "errors": ("errors_cmd", "the error catalogue: each code's summary, cause and fix"),
}


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter, told the terminal width as argparse would find it (COLUMNS, then the
    terminal, else 80): left to itself it imports shutil (and with it bz2 and lzma) for that, which
    costs more than `inspect`'s own work on a single file."""
    import os

    try:
        width = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (ValueError, OSError, AttributeError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 11))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command named there has its module imported (the others
    need just their one-line help), so each run pays for one command's imports."""
    parser = argparse.ArgumentParser(
        prog="wan-compat",
        description="Detect, check, load and run Wan 2.1 / 2.2 video models; see README.md.",
        formatter_class=_formatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    parser.add_argument("--comfyui", metavar="DIR", help="the ComfyUI folder whose settings (DIR/user/wan-compat/settings.json) "
                        "the nodes read; found by itself when run from inside a ComfyUI folder")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_formatter)
        if argv is None or name == wanted:
            _module(module_name).add_arguments(command_parser)
    return parser


def _module(module_name: str):  # noqa: ANN202 - a command module
    return importlib.import_module(f".{module_name}", __name__)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    if args.comfyui:
        import os

        from ..settings.location import COMFYUI_DIR_ENV

        os.environ[COMFYUI_DIR_ENV] = args.comfyui
    run = _module(COMMANDS[args.command][0]).run
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the CLI never shows a raw traceback unless asked
        if args.debug:
            raise
        from ..core.errors import WanCompatError

        if isinstance(exc, WanCompatError):
            print(exc.message(), file=sys.stderr)
            _error_json(args, exc.problem.to_dict())
            return 2 if exc.code == "USAGE" else 1
        print(f"wan-compat {args.command}: unexpected error: {type(exc).__name__}: {exc}\n"
              "Run again with --debug for the traceback and report it.", file=sys.stderr)
        _error_json(args, {"code": "UNEXPECTED_ERROR", "severity": "error", "summary": f"{type(exc).__name__}: {exc}",
                           "fix": "Run again with --debug for the traceback and report it."})
        return 1


def _error_json(args: argparse.Namespace, problem: dict[str, Any]) -> None:
    """With --json a failed command still prints its one JSON document (scripts parse stdout)."""
    if getattr(args, "json", False):
        from .output import emit_json

        emit_json({"ok": False, "problems": [problem]})
