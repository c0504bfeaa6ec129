"""Where files go, and publishing them without ever overwriting anything.

Names follow ComfyUI's `folder_paths.get_save_image_path`: `filename_prefix` may hold subfolders
(`video/Wan`), `%width%`, `%height%` and `%year%`-style date fields, and files are named
`<name>_<counter:05>_.<ext>` with the counter one above the highest already in the folder. Unlike
ComfyUI's check (which normalises the text only), the folder is checked after resolving links, so a
symlinked subfolder cannot lead outside the output folder, and absolute prefixes or `..` are refused.

Writes go to a hidden temp file in the target folder; publishing hard-links it to the final name
(`os.link` fails if the name exists, so concurrent writers never collide: the loser takes the next
counter) and then removes the temp name. Where hard links are unsupported (FAT, some network
shares) the name is claimed with `open(..., "xb")` and the temp file renamed onto that placeholder,
which this process created and owns. `os.replace` is never used on a file someone else made.
"""
from __future__ import annotations

import errno
import functools
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..compat.core.errors import EncodeError, SecurityError

_MAX_ATTEMPTS = 100_000
_NO_LINK = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
TEMP_PREFIX = ".wan-compat-"


def os_error(exc: OSError, folder: Path | str) -> EncodeError:
    """An OSError from writing output, as the matching catalogue error."""
    code = {
        errno.ENOSPC: "ENCODE_DISK_FULL", errno.EFBIG: "ENCODE_DISK_FULL", errno.EDQUOT: "ENCODE_DISK_FULL",
        errno.EROFS: "ENCODE_TARGET_READ_ONLY", errno.EACCES: "ENCODE_TARGET_READ_ONLY", errno.EPERM: "ENCODE_TARGET_READ_ONLY",
    }.get(exc.errno or 0, "ENCODE_TARGET_UNWRITABLE")
    return EncodeError(code, f"{exc.strerror or exc} ({exc.filename or folder})", folder=str(folder))


def _expand(prefix: str, width: int, height: int) -> str:
    if "%" not in prefix:
        return prefix
    now = time.localtime()
    for key, value in (("width", width), ("height", height), ("year", now.tm_year), ("month", f"{now.tm_mon:02}"),
                       ("day", f"{now.tm_mday:02}"), ("hour", f"{now.tm_hour:02}"), ("minute", f"{now.tm_min:02}"),
                       ("second", f"{now.tm_sec:02}")):
        prefix = prefix.replace(f"%{key}%", str(value))
    return prefix


def _within(root: Path, path: Path) -> bool:
    try:
        return os.path.commonpath([str(root), str(path)]) == str(root)
    except ValueError:  # different drives on Windows
        return False


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read without changing it where the OS says it (os.umask(0) would briefly
    loosen it for every thread of ComfyUI)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class SaveTarget:
    """A folder inside the output folder and a file stem; `exact` targets use the stem as the name."""

    folder: Path
    stem: str
    subfolder: str = ""
    exact: bool = False

    def temp_file(self, extension: str) -> Path:
        """A new empty hidden file in the target folder (created exclusively)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=f".part.{extension}", dir=self.folder)
        except OSError as exc:
            raise os_error(exc, self.folder) from exc
        try:
            # mkstemp makes the file private (0600); a published video gets the usual mode instead.
            os.fchmod(fd, 0o666 & ~_umask())
        except (OSError, AttributeError):  # Windows has no fchmod
            pass
        finally:
            os.close(fd)
        return Path(name)

    def next_counter(self) -> int:
        """One above the highest `<stem>_NNNNN_` counter in the folder (ComfyUI's rule)."""
        pattern = re.compile(re.escape(os.path.normcase(self.stem)) + r"_(\d+)_")
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 1
        counters = [int(m.group(1)) for n in names if (m := pattern.match(os.path.normcase(n)))]
        return max(counters, default=0) + 1

    def names(self, extension: str) -> "list[str] | _Counted":
        if self.exact:
            return [self.stem + (f".{extension}" if extension else "")]
        return _Counted(self, extension)

    def publish(self, temp: Path, extension: str) -> Path:
        """Give `temp` its final name without overwriting anything; the temp name is gone after."""
        try:
            for name in self.names(extension):
                final = self.folder / name
                try:
                    os.link(temp, final)
                except FileExistsError:
                    continue
                except OSError as exc:
                    if exc.errno not in _NO_LINK:
                        raise os_error(exc, self.folder) from exc
                    if not _claim_by_placeholder(temp, final):
                        continue
                    return final
                os.unlink(temp)
                return final
        finally:
            _remove(temp)
        if self.exact:
            raise EncodeError("ENCODE_OUTPUT_EXISTS", f"{self.folder / self.stem}.{extension} exists", path=str(self.folder / f"{self.stem}.{extension}"))
        raise EncodeError("ENCODE_TARGET_UNWRITABLE", f"no free counter for {self.stem} in {self.folder}")

    def claim_dir(self, suffix: str) -> Path:
        """Create a new folder `<stem>_NNNNN_<suffix>` (exclusive, like publish)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, self.folder) from exc
        for name in _Counted(self, "", suffix=suffix):
            path = self.folder / name
            try:
                path.mkdir(parents=False)
                return path
            except FileExistsError:
                continue
            except OSError as exc:
                raise os_error(exc, self.folder) from exc
        raise EncodeError("ENCODE_TARGET_UNWRITABLE", f"no free counter for {self.stem} in {self.folder}")


class _Counted:
    """Candidate names `<stem>_NNNNN_[suffix][.ext]` from the next free counter upwards."""

    def __init__(self, target: SaveTarget, extension: str, suffix: str = "") -> None:
        self.target, self.extension, self.suffix = target, extension, suffix

    def __iter__(self):  # noqa: ANN204
        start = self.target.next_counter()
        ext = f".{self.extension}" if self.extension else ""
        for counter in range(start, start + _MAX_ATTEMPTS):
            yield f"{self.target.stem}_{counter:05}_{self.suffix}{ext}"


def _claim_by_placeholder(temp: Path, final: Path) -> bool:
    try:
        with open(final, "xb"):
            pass
    except FileExistsError:
        return False
    os.replace(temp, final)  # onto the placeholder created just above by this process
    return True


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass


def target_in_output(output_dir: Path | str, filename_prefix: str, *, width: int = 0, height: int = 0) -> SaveTarget:
    """The folder and stem for a ComfyUI-style prefix, refused if it would leave `output_dir`."""
    raw = _expand(str(filename_prefix or "").strip(), width, height)
    if not raw or "\x00" in raw:
        raise SecurityError("ENCODE_PATH_OUTSIDE_OUTPUT", f"filename_prefix {filename_prefix!r} is empty or invalid")
    parts = [p for p in re.split(r"[\\/]+", raw)]
    if os.path.isabs(raw) or raw[:1] in "/\\" or re.match(r"^[A-Za-z]:", raw):
        raise SecurityError("ENCODE_PATH_OUTSIDE_OUTPUT", f"filename_prefix {filename_prefix!r} is an absolute path")
    if any(p == ".." for p in parts):
        raise SecurityError("ENCODE_PATH_OUTSIDE_OUTPUT", f"filename_prefix {filename_prefix!r} contains '..'")
    parts = [p for p in parts if p not in ("", ".")]
    if not parts:
        raise SecurityError("ENCODE_PATH_OUTSIDE_OUTPUT", f"filename_prefix {filename_prefix!r} names no file")
    root = Path(os.path.realpath(output_dir))
    folder = root.joinpath(*parts[:-1])
    real = Path(os.path.realpath(folder))  # resolves every link that exists so far
    if not _within(root, real):
        # Where the link leads is not said: the message reaches whoever queued the prompt.
        raise SecurityError("ENCODE_PATH_OUTSIDE_OUTPUT", f"{'/'.join(parts[:-1])} leads outside the output folder")
    return SaveTarget(folder=real, stem=parts[-1], subfolder="/".join(parts[:-1]))


def target_exact(path: Path | str, extension: str) -> SaveTarget:
    """An exact output path (the CLI's --out): no counter, and an existing file is an error.

    The format's extension is added unless the name already ends with it.
    """
    p = Path(path).expanduser()
    if not p.name or p.name in (".", ".."):
        raise EncodeError("ENCODE_TARGET_UNWRITABLE", f"{path} names no file")
    folder = Path(os.path.realpath(p.parent))
    stem = p.name[: -len(extension) - 1] if p.name.lower().endswith(f".{extension.lower()}") else p.name
    return SaveTarget(folder=folder, stem=stem, exact=True)
