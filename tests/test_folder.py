"""folder: bounded memory per file and per batch, whole files after Ctrl-C/SIGTERM, progress lines in logs,
the file list split over torchrun processes."""
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from gan_colorizer import folder, images, inference, memory
from tests.test_distributed import LOOPBACK, torchrun_command
from tools import colorize

TOOL = Path(__file__).resolve().parents[1] / "tools" / "colorize.py"
PROGRESS_LINE = re.compile(r"^colorize: (\d+)/(\d+) \(\d+\.\d %\) [\d.e+-]+ img/s, ETA (\d+ (s|min)|[\d.]+ h)$")


def tiny_images(folder_path: Path, count: int, size: tuple[int, int] = (12, 16)) -> list[Path]:
    """`count` small gray PNGs of random texture, named so that sorted order is numeric."""
    folder_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = [folder_path / f"{index:04d}.png" for index in range(count)]
    for path in paths:
        cv2.imwrite(str(path), rng.integers(0, 256, size, dtype=np.uint8))
    return paths


def run(*args: str | Path):
    return CliRunner().invoke(colorize.main, [str(arg) for arg in args])


# SIGTERM takes the same path as Ctrl-C (one handler for both): slow, to keep one subprocess in the default run.
@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_signal_stops_the_run_with_whole_files_and_a_resume_hint(tmp_path: Path, tiny_checkpoint: Path,
                                                                   signum: int) -> None:
    """The reported failure: Ctrl-C printed only `Aborted!` and exited 1, like a run with skipped files."""
    source, out = tmp_path / "in", tmp_path / "out"
    count = 300  # far more than are written while the test notices the first outputs
    tiny_images(source, count)
    command = [sys.executable, str(TOOL), "--in", str(source), "--out", str(out), "--checkpoint",
               str(tiny_checkpoint), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline and len(list(out.glob("*.png"))) < 5:
        time.sleep(0.02)
    assert process.poll() is None, process.stdout.read()
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    written = sorted(out.glob("*.png"))
    assert process.returncode == 130, output
    assert output.splitlines()[-1] == (f"interrupted: {len(written)} of {count} written into {out}; "
                                       f"run the same command with --skip-existing to continue")
    assert 5 <= len(written) < count and "Traceback" not in output
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in written]  # no temporary files left
    for path in written:  # every file is whole
        assert images.read_image(path).rgb.shape == (12, 16, 3)
    if signum == signal.SIGINT:
        resumed = run("--in", source, "--out", out, "--checkpoint", tiny_checkpoint, "--skip-existing")
        assert resumed.exit_code == 0, resumed.output
        assert f"{count - len(written)} image(s) colorized into {out}; {len(written)} already there" in resumed.output
        assert len(list(out.glob("*.png"))) == count


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """The reported failure: under nohup or in a log, progress was invisible. CliRunner's streams are no tty."""
    tiny_images(tmp_path / "in", 4)
    result = run("--in", tmp_path / "in", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                 "--progress-interval", 0)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines and all(PROGRESS_LINE.match(line) for line in lines), lines
    assert [PROGRESS_LINE.match(line).group(1, 2) for line in lines][-1] == ("4", "4")
    quiet = run("--in", tmp_path / "in", "--out", tmp_path / "again", "--checkpoint", tiny_checkpoint)
    assert quiet.exit_code == 0 and quiet.stderr == ""  # the default interval (10 s) outlasts this run


def test_a_file_too_large_for_free_memory_is_skipped_from_its_header(tmp_path: Path, tiny_checkpoint: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_images(tmp_path / "in", 2)
    cv2.imwrite(str(tmp_path / "in" / "big.png"), np.zeros((1500, 2000), np.uint8))
    monkeypatch.setattr(memory, "available_memory", lambda: 300_000_000)
    result = run("--in", tmp_path / "in", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                 "--render-size", 1024)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    refusal = [line for line in result.output.splitlines() if "big.png" in line]
    assert len(refusal) == 1 and refusal[0].startswith(f"{tmp_path / 'in' / 'big.png'} (3.0 MP): --render-size 1024 "
                                                       f"needs about ")
    assert "this machine has 0.3 GB available: use --render-size " in refusal[0] and refusal[0].endswith(" or less")
    suggested = int(refusal[0].split("use --render-size ")[1].split()[0])
    assert memory.memory_needed(1500, 2000, suggested, folder.FULL_SIZE_IMAGES_IN_FLIGHT) <= 300_000_000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0000.png", "0001.png"]


def test_batches_hold_no_more_images_than_fit_in_memory(tmp_path: Path, tiny_checkpoint: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_images(tmp_path / "in", 6, size=(200, 300))
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=200)
    one_call = memory.network_memory(200, 300, 200)
    batches = []
    predict = colorizer.predict
    monkeypatch.setattr(colorizer, "predict",
                        lambda Ls, *args: batches.append(len(Ls)) or predict(Ls, *args))
    monkeypatch.setattr(folder, "available_memory", lambda: int(2.5 * memory.HEADROOM * one_call))
    report = folder.colorize_folder(tmp_path / "in", tmp_path / "out", colorizer)
    assert report.written == 6 and batches == [2, 2, 2]


def test_too_large_render_size_is_refused_by_the_cap(tmp_path: Path, tiny_checkpoint: Path) -> None:
    tiny_images(tmp_path / "in", 1)
    result = run("--in", tmp_path / "in", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                 "--render-size", 3000)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: --render-size 3000 is above --max-render-size 1536: a 4:3 photo needs "
                                    "about ") and result.output.endswith("raise --max-render-size to allow it\n")
    assert not (tmp_path / "out").exists()


def test_two_processes_share_the_files_and_rank0_reports_all(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """torchrun, 2 gloo processes: each takes every other file, --skip-existing resumes, one summary."""
    source, out = tmp_path / "in", tmp_path / "out"
    paths = tiny_images(source, 10)
    (source / "0005_broken.png").write_text("not an image")  # 11 files; rank 1 gets this one (sorted index 6)
    out.mkdir()
    for done in paths[:3]:  # a previous run's outputs
        cv2.imwrite(str(out / done.name), np.zeros((12, 16, 3), np.uint8))
    command = torchrun_command("colorize", "--in", source, "--out", out, "--checkpoint", tiny_checkpoint,
                               "--skip-existing", "--progress-interval", 0)
    result = subprocess.run(command, cwd=tmp_path, env=LOOPBACK, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines.count(f"{source / '0005_broken.png'}: not a readable image (corrupt, truncated or unsupported "
                       f"format)") == 1
    assert lines.count(f"7 image(s) colorized into {out}; 3 already there") == 1
    assert [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error:")] == \
        ["Error: 1 file(s) skipped; reasons printed above"]
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in paths]
    progress = [PROGRESS_LINE.match(line) for line in result.stderr.splitlines() if line.startswith("colorize:")]
    assert progress and all(match and match.group(2) == "6" for match in progress)  # rank 0's share alone


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc tuning is glibc's")
def test_reuse_freed_memory_serves_the_next_large_array_from_pages_already_there():
    """A 12 MP photo's float arrays freed and made again: without the setting each one is a fresh
    mapping the kernel zeroes page by page; with it the same pages come back, and the memory check
    counts them as free (a fresh process, since the setting is process-wide)."""
    script = """
import resource
import numpy as np
from gan_colorizer import memory

def faults_of_large_arrays():
    np.ones((3000, 4000), np.float32)  # the first one may grow the heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        np.ones((3000, 4000), np.float32)  # 48 MB, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

plain = faults_of_large_arrays()
memory.reuse_freed_memory()
reused = faults_of_large_arrays()
print(plain, reused, memory._kept_free_bytes())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    plain, reused, kept = map(int, done.stdout.split())
    assert plain >= 8  # 4 x 48 MB of new pages, 4 KB or 2 MB each
    assert reused < plain / 10
    assert kept >= 48e6  # and the memory check counts the kept 48 MB as free for the next photo
