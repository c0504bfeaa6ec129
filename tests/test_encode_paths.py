"""Safe writes: names stay inside the output folder, nothing is overwritten, concurrent writers never collide."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from wan_compat.compat.core.errors import EncodeError, SecurityError
from wan_compat.encoders import paths as paths_mod
from wan_compat.encoders.encode import encode_video
from wan_compat.encoders.paths import target_exact, target_in_output


def frames(f: int = 2) -> np.ndarray:
    return np.linspace(0, 1, f * 16 * 16 * 3, dtype=np.float32).reshape(f, 16, 16, 3)


@pytest.mark.parametrize("prefix", ["../escape", "video/../../escape", "..\\escape", "/etc/wan", "\\\\server\\share\\x", "C:/Windows/x", "", "./."])
def test_prefixes_that_leave_the_output_folder_are_refused(tmp_path, prefix):
    out = tmp_path / "output"
    out.mkdir()
    with pytest.raises(SecurityError) as err:
        encode_video(frames(), output_dir=out, filename_prefix=prefix)
    assert err.value.code == "ENCODE_PATH_OUTSIDE_OUTPUT" and "video/Wan" in err.value.fix
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["output"]  # nothing written anywhere


def test_symlinked_subfolder_leading_outside_is_refused(tmp_path):
    out, elsewhere = tmp_path / "output", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SecurityError) as err:
        encode_video(frames(), output_dir=out, filename_prefix="link/Wan")
    assert err.value.code == "ENCODE_PATH_OUTSIDE_OUTPUT" and str(elsewhere) not in err.value.detail  # where it leads is not said
    with pytest.raises(SecurityError):
        encode_video(frames(), output_dir=out, filename_prefix="link/deeper/Wan")
    assert list(elsewhere.iterdir()) == []


def test_symlinks_inside_the_output_folder_and_a_linked_output_folder_are_fine(tmp_path):
    real_out = tmp_path / "disk2" / "output"
    (real_out / "videos").mkdir(parents=True)
    out = tmp_path / "output"
    out.symlink_to(real_out, target_is_directory=True)  # ComfyUI's output folder on another disk
    (real_out / "latest").symlink_to(real_out / "videos", target_is_directory=True)
    result = encode_video(frames(), output_dir=out, filename_prefix="latest/Wan", fmt="webm")
    assert result.path == real_out / "videos" / "Wan_00001_.webm" and result.path.is_file()
    assert result.subfolder == "latest"


def test_comfyui_counter_rule_and_no_overwrite(tmp_path):
    target = target_in_output(tmp_path, "video/Wan")
    target.folder.mkdir(parents=True)
    (target.folder / "Wan_00007_.mp4").write_bytes(b"old seven")
    (target.folder / "Wan_00003_.png").write_bytes(b"old three")
    (target.folder / "Wanderer_00020_.mp4").write_bytes(b"other prefix")
    result = encode_video(frames(), output_dir=tmp_path, filename_prefix="video/Wan")
    assert result.path.name == "Wan_00008_.mp4"  # one above the highest counter of this prefix
    assert (target.folder / "Wan_00007_.mp4").read_bytes() == b"old seven"


def test_prefix_variables_are_expanded(tmp_path):
    target = target_in_output(tmp_path, "%width%x%height%/Wan", width=832, height=480)
    assert target.subfolder == "832x480" and target.stem == "Wan"


def _temp_with(target, content: bytes) -> Path:
    temp = target.temp_file("mp4")
    temp.write_bytes(content)
    return temp


def test_fifty_threads_publishing_at_once_never_collide(tmp_path):
    target = target_in_output(tmp_path, "Wan")
    temps = [_temp_with(target, f"video {i}".encode()) for i in range(50)]
    barrier = threading.Barrier(50)

    def publish(temp: Path) -> Path:
        barrier.wait()
        return target.publish(temp, "mp4")

    with ThreadPoolExecutor(50) as pool:
        finals = list(pool.map(publish, temps))
    assert len(set(finals)) == 50
    assert sorted(p.read_bytes() for p in finals) == sorted(f"video {i}".encode() for i in range(50))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"Wan_{i:05}_.mp4" for i in range(1, 51)]  # no temp left


def test_concurrent_encodes_in_threads(tmp_path):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: encode_video(frames(2 + i), output_dir=tmp_path, filename_prefix="Wan"), range(6)))
    assert len({r.path for r in results}) == 6
    assert sorted(r.frames for r in results) == [2, 3, 4, 5, 6, 7]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"Wan_{i:05}_.mp4" for i in range(1, 7)]


def test_concurrent_encodes_in_processes(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from wan_compat.encoders.encode import encode_video
        n = int(sys.argv[2])
        r = encode_video(np.full((n, 16, 16, 3), 0.5, np.float32), output_dir=sys.argv[1], filename_prefix="Wan", fmt="webm")
        print(r.path)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(2 + i)], stdout=subprocess.PIPE, text=True) for i in range(4)]
    paths = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(paths)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"Wan_{i:05}_.webm" for i in range(1, 5)]


def test_publish_without_hard_links_claims_the_name_first(tmp_path, monkeypatch):
    """FAT/exFAT and some shares refuse hard links: the name is claimed with O_EXCL, then filled."""
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(paths_mod.os, "link", no_links)
    target = target_in_output(tmp_path, "Wan")
    (tmp_path / "Wan_00001_.mp4").write_bytes(b"keep me")
    final = target.publish(_temp_with(target, b"new"), "mp4")
    assert final.name == "Wan_00002_.mp4" and final.read_bytes() == b"new"
    assert (tmp_path / "Wan_00001_.mp4").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Wan_00001_.mp4", "Wan_00002_.mp4"]


def test_exact_target_refuses_an_existing_file_and_removes_its_temp(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"precious")
    target = target_exact(tmp_path / "clip.mp4", "mp4")
    with pytest.raises(EncodeError) as err:
        target.publish(_temp_with(target, b"new"), "mp4")
    assert err.value.code == "ENCODE_OUTPUT_EXISTS"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"] and (tmp_path / "clip.mp4").read_bytes() == b"precious"
    assert target_exact(tmp_path / "clip", "webm").stem == "clip" and target_exact(tmp_path / "a.b.mp4", "mp4").stem == "a.b"


def test_fallback_folders_take_counters_too(tmp_path):
    target = target_in_output(tmp_path, "Wan")
    first, second = target.claim_dir("frames"), target.claim_dir("frames")
    assert (first.name, second.name) == ("Wan_00001_frames", "Wan_00002_frames")
    assert target.next_counter() == 3 and os.path.isdir(second)


def test_published_video_has_the_usual_file_mode(tmp_path) -> None:
    import os

    import numpy as np

    from wan_compat.encoders.encode import encode_video

    video = encode_video(np.zeros((3, 16, 16, 3), dtype=np.uint8), output_dir=tmp_path, filename_prefix="mode", fmt="h264-mp4")
    mask = os.umask(0)
    os.umask(mask)
    assert video.path.stat().st_mode & 0o777 == 0o666 & ~mask
