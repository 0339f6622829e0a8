"""Crash safety of the training tools: SIGKILL mid-save, SIGTERM, a full disk, and pickled code.

The kill and SIGTERM tests start the real tool in a subprocess (as a user or a cluster scheduler
would stop it); the others run it in-process with CliRunner.
"""
import errno
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gan_colorizer import checkpoint
from tests.conftest import TINY_CONFIG
from tools import pretrain, train_gan

TOOLS = Path(__file__).resolve().parents[1] / "tools"
LONG_RUN = ["--config", TINY_CONFIG, "--steps", 10_000, "--set", "train.val_every=1", "--set", "train.grid_images=0"]


def invoke(tool, *args):
    return CliRunner().invoke(tool.main, [str(a) for a in args])


def start(tool: str, log: Path, *args) -> subprocess.Popen:
    """The tool as its own process, as `python tools/<tool>.py ...` from a shell; output goes to `log`."""
    with open(log, "w") as sink:  # a file, not a pipe: a full pipe would stall the child
        return subprocess.Popen([sys.executable, str(TOOLS / f"{tool}.py"), *map(str, args)],
                                stdout=sink, stderr=subprocess.STDOUT, text=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 900.0) -> None:
    """Poll every millisecond, so a checkpoint write of a few milliseconds is caught in progress."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"training exited early with status {proc.returncode}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the training process")
        time.sleep(0.001)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def test_sigkill_during_a_save_leaves_a_whole_checkpoint_and_resume_finishes(photo_zip, tmp_path, caplog):
    out = tmp_path / "run"
    last, partial = out / "last.pt", out / "last.pt.tmp"
    proc = start("pretrain", tmp_path / "log.txt", "--data", photo_zip, "--out", out, *LONG_RUN)
    wait_for(last.exists, proc)
    wait_for(partial.exists, proc)  # a later save is being written right now
    proc.kill()
    proc.wait()
    saved = checkpoint.read(last)  # raises if last.pt were partial
    print(f"SIGKILL during a save: last.pt whole at step {saved['step']}, "
          f"{partial.stat().st_size if partial.exists() else 'no'} bytes of last.pt.tmp left behind")
    assert 1 <= saved["step"] < 10_000 and saved["stage"] == "pretrain"

    caplog.set_level(logging.INFO, logger="gan_colorizer.train")
    result = invoke(pretrain, "--data", photo_zip, "--out", out, "--steps", saved["step"] + 2, "--resume")
    assert result.exit_code == 0, result.output
    assert f"at step {saved['step']} of {saved['step'] + 2}" in caplog.text
    assert checkpoint.read(last)["step"] == saved["step"] + 2
    assert not partial.exists()


def test_sigterm_writes_last_pt_and_exits_130(photo_zip, tmp_path):
    out = tmp_path / "run"
    proc = start("pretrain", tmp_path / "log.txt", "--data", photo_zip, "--out", out, *LONG_RUN)
    wait_for((out / "last.pt").exists, proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=900)
    output = (tmp_path / "log.txt").read_text()
    step = checkpoint.read(out / "last.pt")["step"]
    assert proc.returncode == 130, output
    assert f"stopped at step {step} (interrupted)" in output and "Traceback" not in output
    assert 1 <= step < 10_000


def test_sigterm_to_the_whole_process_group_with_loader_workers_still_saves(photo_zip, tmp_path):
    """A scheduler signals every process of the job, DataLoader workers included."""
    out, log = tmp_path / "run", tmp_path / "log.txt"
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, str(TOOLS / "pretrain.py"), "--data", str(photo_zip), "--out", str(out),
                                 *map(str, LONG_RUN), "--set", "data.workers=2"],
                                stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_for((out / "last.pt").exists, proc)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=900)
    output = log.read_text()
    assert proc.returncode == 130, output
    assert "Traceback" not in output and "(interrupted)" in output
    assert checkpoint.read(out / "last.pt")["step"] >= 1


def test_a_full_disk_keeps_the_previous_last_pt_and_gives_one_error_line(photo_zip, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert invoke(pretrain, "--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 2).exit_code == 0
    before = (out / "last.pt").read_bytes()

    def full_disk(obj, f, *args, **kwargs):
        f.write(before[: len(before) // 2])  # half a file reaches the disk, then it is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    result = invoke(pretrain, "--data", photo_zip, "--out", out, "--steps", 4, "--resume")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert error_lines(result.output) == [f"Error: {out / 'last.pt'}: could not write checkpoint "
                                          f"(No space left on device); the previous file is unchanged"]
    assert "Traceback" not in result.output
    assert (out / "last.pt").read_bytes() == before
    assert not (out / "last.pt.tmp").exists()


class OpensAFile:
    """Unpickling this runs `open(marker, "w")`: proof that loading executed pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("tool, flag", [(pretrain, "--resume"), (train_gan, "--resume"), (train_gan, "--init")])
def test_a_checkpoint_holding_code_is_refused_and_never_run(tool, flag, photo_zip, tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "run" / "last.pt" if flag == "--resume" else tmp_path / "evil.pt"
    evil.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": checkpoint.FORMAT, "kind": "training", "stage": "pretrain", "step": 3,
                "generator": OpensAFile(marker)}, evil)
    args = ["--data", photo_zip, "--out", tmp_path / "run", "--config", TINY_CONFIG, "--steps", 2]
    result = invoke(tool, *args, *(["--resume"] if flag == "--resume" else ["--init", evil]))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert error_lines(result.output) == [f"Error: {evil}: not a readable checkpoint file (truncated, foreign, "
                                          f"or holds objects that are not plain data)"]
    assert not marker.exists()
