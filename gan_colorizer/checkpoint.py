"""Checkpoints: self-describing, written atomically, loaded without running any pickled code.

Layout (format 1): {"format": 1, "kind": "training" | "generator",
 "generator": {"name", "args", "state_dict"}, "discriminator": {...} (GAN runs),
 "ema": state_dict (GAN runs), "optimizers": {...}, "schedulers": {...}, "step": optimiser steps done,
 "stage": "pretrain" | "gan", "run_config": asdict(RunConfig), "metrics": {name: float}}.
Only dicts, lists, str, numbers, bools, None and tensors go in, so `weights_only=True` loads it.
"""
import os
from pathlib import Path

import torch
from torch import nn

from gan_colorizer.errors import CheckpointError, ConfigError
from gan_colorizer.models import build
from gan_colorizer.runtime import unwrap

FORMAT = 1
ADDABLE_ARGS = ("points", "bins")  # builder args whose new weights start at zero: a trained generator may gain them


def save(path: Path, payload: dict) -> None:
    """Write a temp file, fsync and rename, so a crash or a full disk mid-save keeps the previous file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: could not write checkpoint ({err.strerror or err}); "
                              f"the previous file is unchanged") from None


def read(path: Path) -> dict:
    """Load tensors and plain data only: opening a checkpoint can never run code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch fails on truncated, foreign or unsafe pickles in many different ways
        raise CheckpointError(f"{path}: not a readable checkpoint file (truncated, foreign, or holds "
                              f"objects that are not plain data)") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "generator" not in ckpt:
        raise CheckpointError(f"{path}: not a gan_colorizer checkpoint (format {FORMAT})")
    return ckpt


def network_entry(name: str, args: dict, module: nn.Module) -> dict:
    """{"name", "args", "state_dict"} of an unwrapped module (DDP/compile wrappers are peeled off)."""
    return {"name": name, "args": dict(args), "state_dict": unwrap(module).state_dict()}


def build_network(entry: dict, path: Path, added: dict | None = None) -> nn.Module:
    """Rebuild a network from its checkpoint entry; any mismatch is a one-line CheckpointError.

    added: builder flags (ADDABLE_ARGS) the recorded network lacks; the weights they bring are the only
    ones the file may lack, and only while they are all zero as built (a gained capability that
    starts out doing nothing).
    """
    try:
        module = build(entry["name"], **{**entry.get("args", {}), **(added or {})})
        loaded = module.load_state_dict(entry["state_dict"], strict=not added)
        fresh = module.state_dict()
        strays = loaded.unexpected_keys + [key for key in loaded.missing_keys if fresh[key].any()]
        if strays:
            raise RuntimeError(f"the file does not fit {strays[0]}")
    except (KeyError, TypeError, ConfigError, RuntimeError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: network does not match its recorded architecture ({first_line})") from None
    return module


def load_generator(path: Path, device: torch.device | str = "cpu", use_ema: bool = True) -> tuple[nn.Module, dict]:
    """The generator (the EMA copy when the file has one) in eval mode, and the checkpoint dict.

    Works on training checkpoints of either stage and on generator-only exports.
    """
    ckpt = read(path)
    return generator_from(ckpt, path, device, use_ema), ckpt


def generator_from(ckpt: dict, path: Path, device: torch.device | str = "cpu", use_ema: bool = True,
                   added: dict | None = None) -> nn.Module:
    """The generator of a checkpoint already read (`read`), so a command reads each file once;
    added: capabilities to gain (`build_network`)."""
    generator = build_network(ckpt["generator"], path, added)
    if use_ema and ckpt.get("ema") is not None:
        try:
            generator.load_state_dict(ckpt["ema"], strict=not added)
        except RuntimeError:
            raise CheckpointError(f"{path}: EMA weights do not match the generator") from None
    return generator.to(device).eval()


def export_generator(src: Path, dst: Path) -> None:
    """Write the small generator-only file that inference reads (EMA weights when present)."""
    generator, ckpt = load_generator(src)
    save(dst, {"kind": "generator", "generator": network_entry(ckpt["generator"]["name"], ckpt["generator"]["args"], generator),
               "step": ckpt.get("step", 0), "stage": ckpt.get("stage", "pretrain"),
               "run_config": ckpt.get("run_config", {}), "metrics": ckpt.get("metrics", {})})
