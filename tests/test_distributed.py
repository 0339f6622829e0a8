"""torchrun with 2 gloo processes on loopback against 1 process on the same global batch (CPU only).

Each rank takes `train.batch_size` samples of one global stream (data.StepSampler), so 2 ranks x 4
samples see exactly the samples of 1 process x 8, and DDP's averaged gradient is the one-process
gradient up to float summation order. The match tests use a generator without normalisation:
- BatchNorm: PyTorch's SyncBatchNorm needs a GPU, so each gloo rank normalises by its own 4 samples
  and the weights part ways (`test_batchnorm_generator_under_ddp` shows how far);
- a conv bias right before InstanceNorm has a true gradient of 0, so Adam turns float noise into
  steps of +-lr and such biases differ by ~lr between any two runs that sum in another order.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from gan_colorizer import checkpoint
from tests.conftest import TINY_CONFIG
from tools import pretrain, train_gan

TOOLS = Path(__file__).resolve().parents[1] / "tools"
NO_BATCHNORM = {"name": "pix2pix_unet", "args": {"base_channels": 4, "depth": 5, "norm": "none", "dropout": 0.0},
                "encoder_weights": "none"}
# Measured on CPU (torch 2.14, 2 cores): 2 ranks vs 1 process differ by at most 3e-8 (pretrain, with a
# resume) and 6e-7 (GAN generator): float summation order, amplified a little by Adam. A missing or
# wrong gradient sync moves weights by ~lr = 2e-3 per step.
MATCH_TOLERANCE = 1e-5


def write_config(tmp_path: Path, model: dict | None = None, **train: object) -> Path:
    """The tiny config with another model and train settings (constant lr: a resumed run then
    follows the same schedule as an uninterrupted one even when --steps grows)."""
    tree = yaml.safe_load(TINY_CONFIG.read_text())
    if model is not None:
        tree["model"] = model
    tree["train"].update(train)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def torchrun_command(tool: str, *args: object) -> list[str]:
    """`torchrun --nproc_per_node=2 tools/<tool>.py ... --device cpu`, rendezvous on 127.0.0.1."""
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
            "--master_addr=127.0.0.1", f"--master_port={port}", str(TOOLS / f"{tool}.py"),
            *map(str, args), "--device", "cpu"]


LOOPBACK = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}  # gloo talks over lo only


def torchrun(tool: str, cwd: Path, *args: object) -> subprocess.CompletedProcess:
    result = subprocess.run(torchrun_command(tool, *args), cwd=cwd, env=LOOPBACK, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def invoke(tool, *args):
    result = CliRunner().invoke(tool.main, [str(a) for a in args] + ["--device", "cpu"])
    assert result.exit_code == 0, result.output
    return result


def largest_difference(a: dict, b: dict) -> float:
    """Max |a - b| over the floating-point tensors of two state_dicts with the same keys."""
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point())


def assert_only_rank0_wrote(run_dir: Path, result: subprocess.CompletedProcess, cwd: Path, launches: int = 1) -> None:
    """One events file per launch (rank 0's), one of each other file, nothing in the working directory."""
    names = sorted(p.name for p in run_dir.iterdir())
    events = [n for n in names if n.startswith("events.out.tfevents.")]
    assert len(events) == launches and set(names) - set(events) == {"best.pt", "last.pt", "config.yaml", "split.json"}
    assert not list(cwd.iterdir())
    assert result.stdout.count("stopped at step") == 1


@pytest.mark.slow  # two torchrun starts: each imports torch in 3 processes
def test_two_processes_match_one_and_resume(photo_zip, tmp_path):
    config = write_config(tmp_path, NO_BATCHNORM, schedule="constant", batch_size=4, val_every=3)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    first = torchrun("pretrain", cwd, "--data", photo_zip, "--out", ddp, "--config", config, "--steps", 6)
    assert_only_rank0_wrote(ddp, first, cwd)
    resumed = torchrun("pretrain", cwd, "--data", photo_zip, "--out", ddp, "--steps", 8, "--resume")
    assert_only_rank0_wrote(ddp, resumed, cwd, launches=2)
    invoke(pretrain, "--data", photo_zip, "--out", single, "--config", config, "--steps", 8, "--batch-size", 8)

    ddp_ckpt, single_ckpt = checkpoint.read(ddp / "last.pt"), checkpoint.read(single / "last.pt")
    assert ddp_ckpt["step"] == single_ckpt["step"] == 8
    gap = largest_difference(ddp_ckpt["generator"]["state_dict"], single_ckpt["generator"]["state_dict"])
    print(f"pretrain, 2 ranks x 4 (6 steps + resume to 8) vs 1 x 8: max |weight difference| {gap:.2e}")
    assert gap < MATCH_TOLERANCE


def test_gan_two_processes_match_one(photo_zip, tmp_path):
    """The default suite's torchrun test: both networks DDP-wrapped, D frozen in G's step, rank-0 files."""
    config = write_config(tmp_path, NO_BATCHNORM, schedule="constant", batch_size=4)
    invoke(pretrain, "--data", photo_zip, "--out", tmp_path / "pre", "--config", config, "--steps", 2)
    init = tmp_path / "pre" / "last.pt"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run = torchrun("train_gan", cwd, "--data", photo_zip, "--init", init, "--out", tmp_path / "ddp",
                   "--config", config, "--steps", 4)
    assert_only_rank0_wrote(tmp_path / "ddp", run, cwd)
    invoke(train_gan, "--data", photo_zip, "--init", init, "--out", tmp_path / "single", "--config", config,
           "--steps", 4, "--batch-size", 8)

    ddp, single = (checkpoint.read(tmp_path / name / "last.pt") for name in ("ddp", "single"))
    gaps = {"generator": largest_difference(ddp["generator"]["state_dict"], single["generator"]["state_dict"]),
            "discriminator": largest_difference(ddp["discriminator"]["state_dict"],
                                                single["discriminator"]["state_dict"]),
            "ema": largest_difference(ddp["ema"], single["ema"])}
    print("GAN, 2 ranks x 4 vs 1 x 8, max |weight difference|: " + ", ".join(f"{k} {v:.2e}" for k, v in gaps.items()))
    assert max(gaps.values()) < MATCH_TOLERANCE


@pytest.mark.slow
def test_batchnorm_generator_under_ddp(photo_zip, tmp_path):
    """The tiny MobileNet U-Net (BatchNorm) with 2 frozen encoder blocks trains under DDP.

    Frozen parameters are left out of DDP's reducer, so find_unused_parameters stays off. With
    per-rank BatchNorm statistics (4 samples, 1x1 at stride 32) the weights are not comparable to a
    one-process run: the measured gap is printed, not asserted.
    """
    config = write_config(tmp_path, schedule="constant", batch_size=4, freeze_encoder_layers=2)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run = torchrun("pretrain", cwd, "--data", photo_zip, "--out", tmp_path / "ddp", "--config", config, "--steps", 4)
    assert_only_rank0_wrote(tmp_path / "ddp", run, cwd)
    invoke(pretrain, "--data", photo_zip, "--out", tmp_path / "single", "--config", config, "--steps", 4,
           "--batch-size", 8)
    ddp = checkpoint.read(tmp_path / "ddp" / "last.pt")["generator"]["state_dict"]
    single = checkpoint.read(tmp_path / "single" / "last.pt")["generator"]["state_dict"]
    frozen = {k for k in ddp if k.startswith(("encoder.0.", "encoder.1.")) and "running" not in k}
    assert frozen and all(torch.equal(ddp[k], single[k]) for k in frozen)  # both still hold the seeded init
    weights = [k for k in ddp if ddp[k].is_floating_point() and k not in frozen and "running" not in k]
    gap = largest_difference({k: ddp[k] for k in weights}, {k: single[k] for k in weights})
    print(f"BatchNorm generator, 2 ranks x 4 vs 1 x 8 (per-rank statistics): max |weight difference| {gap:.2e}")


@pytest.mark.slow
def test_an_error_on_rank0_alone_stops_both_with_one_line(photo_zip, tmp_path):
    """LPIPS weights missing: only rank 0 validates, so only it fails; rank 1 must not wait forever."""
    config = write_config(tmp_path, NO_BATCHNORM, batch_size=4)
    invoke(pretrain, "--data", photo_zip, "--out", tmp_path / "pre", "--config", config, "--steps", 2)
    command = torchrun_command("train_gan", "--data", photo_zip, "--init", tmp_path / "pre" / "last.pt",
                               "--out", tmp_path / "gan", "--config", config, "--steps", 4,
                               "--set", "train.best_metric=lpips")
    empty_cache = {**LOOPBACK, "TORCH_HOME": str(tmp_path / "no_weights")}
    result = subprocess.run(command, cwd=tmp_path, env=empty_cache, capture_output=True, text=True, timeout=1800)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error:")]
    assert result.returncode != 0
    assert len(errors) == 1 and "pretrained weights" in errors[0] and "not found" in errors[0]
    assert not (tmp_path / "gan" / "last.pt").exists()


def worker_pid(agent: int, local_rank: int) -> int:
    """The pid of torchrun's worker process with this LOCAL_RANK (Linux /proc)."""
    children = Path(f"/proc/{agent}/task/{agent}/children").read_text().split()
    for pid in children:
        if f"LOCAL_RANK={local_rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return int(pid)
    raise AssertionError(f"no worker with LOCAL_RANK {local_rank} among {children}")


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_both_after_the_same_step(photo_zip, tmp_path):
    """The ranks agree on stopping every step, so rank 0's last.pt is the step every rank reached."""
    out, log = tmp_path / "ddp", tmp_path / "log.txt"
    command = torchrun_command("pretrain", "--data", photo_zip, "--out", out, "--config", TINY_CONFIG,
                               "--steps", 10_000, "--set", "train.val_every=2")
    with open(log, "w") as sink:
        agent = subprocess.Popen(command, cwd=tmp_path, env=LOOPBACK, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 900
    while not (out / "last.pt").exists() and agent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent.poll() is None, log.read_text()[-3000:]
    os.kill(worker_pid(agent.pid, local_rank=1), signal.SIGTERM)  # rank 0 gets no signal
    agent.wait(timeout=900)
    step = checkpoint.read(out / "last.pt")["step"]
    output = log.read_text()
    assert output.count("stopped at step") == 1 and f"stopped at step {step} (interrupted)" in output
    assert 2 <= step < 10_000
