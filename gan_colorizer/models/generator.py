"""What every generator exposes, so training, validation, inference and benchmarks never probe a model.

A generator maps L_n to ab_n, may take a colour hint, and may have a pretrained encoder whose first
stages training can freeze. Pretrained weights are found the way torchvision finds its own: by their
standard file names in the torch cache (`$TORCH_HOME/hub/checkpoints/`), or at a path the user
gives. Unlike torchvision we never download: a missing file is an error that names it and gives the
one command that fetches it.
"""
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from gan_colorizer.errors import ConfigError, MissingWeightsError

log = logging.getLogger(__name__)

TRAIN_WITHOUT = "--set model.encoder_weights=none"  # the flag that trains from random initialisation


@dataclass(frozen=True)
class Pretrained:
    """A generator's pretrained encoder weights: what they are, where they are looked for, how to get them.

    files: standard names in the torch cache, in order of preference (the first is the one `fetch` gets).
    fetch: a shell command that puts `files[0]` into the torch cache; the user runs it, never we.
    """

    what: str
    files: tuple[str, ...]
    fetch: str


class ChromaPrediction(NamedTuple):
    """What a generator's `forward(..., details=True)` returns: the decoded colour, the regression
    head's calm estimate, and the colour distribution's logits (None without a distribution head)."""

    ab_n: torch.Tensor  # (B, 2, H, W) in [-1, 1]: what users get
    calm_ab_n: torch.Tensor  # (B, 2, H, W) in [-1, 1]: the L1-trained estimate
    logits: torch.Tensor | None  # (B, Q, ceil(H/4), ceil(W/4)): per-pixel scores of the model's bins


class Generator(nn.Module):
    """L_n (B, 1, H, W) in [-1, 1], optional hint (B, HINT_SIZE), optional colour points
    (B, POINT_CHANNELS, H, W), optional vividness -> ab_n (B, 2, H, W) in [-1, 1].

    takes_hint: `forward` accepts a colour hint (gan_colorizer.hint); others refuse one.
    takes_points: `forward` accepts a colour-point map (gan_colorizer.points); others refuse one.
    takes_vividness: it has a colour-distribution head (models.chroma_bins) and `forward` accepts a
        vividness; others refuse one.
    stride: inputs are padded internally to multiples of it (a caller may pick sizes that need none).
    pretrained: where the encoder's weights come from; None for a generator trained from scratch.
    """

    takes_hint: bool = False
    takes_points: bool = False
    takes_vividness: bool = False
    stride: int = 1
    pretrained: Pretrained | None = None

    def forward(self, L_n: torch.Tensor, hint: torch.Tensor | None = None, points: torch.Tensor | None = None,
                vividness: torch.Tensor | float | None = None,
                details: bool = False) -> torch.Tensor | ChromaPrediction:
        raise NotImplementedError

    def encoder_stages(self) -> nn.Sequential | None:
        """The pretrained encoder's blocks, input side first (`train.freeze_encoder_layers` freezes a
        prefix of them); None when there is no pretrained encoder."""
        return None

    def load_encoder_state(self, state: dict[str, torch.Tensor], source: Path) -> None:
        """Copy a pretrained state dict read from `source` into the encoder; ConfigError if it does not fit."""
        raise NotImplementedError

    def load_pretrained(self, weights: str) -> Path | None:
        """Initialise the encoder: "imagenet" (the torch cache), "none" (keep random), or a file path.

        Returns the file read, None for "none". The same values as config key model.encoder_weights.
        """
        if weights == "none":
            return None
        if self.pretrained is None:
            raise ConfigError(f"model.encoder_weights: this generator has no pretrained encoder to load "
                              f"{weights!r} into; set it to none")
        state, path = read_weights(self.pretrained, weights)
        self.load_encoder_state(state, path)
        log.info("encoder initialised from %s", path)
        return path

    def refuse_hint(self, hint: torch.Tensor | None, points: torch.Tensor | None = None,
                    vividness: torch.Tensor | float | None = None) -> None:
        """For `forward`: a generator built without hint, point or vividness support must not silently ignore one."""
        if hint is not None and not self.takes_hint:
            raise ValueError("this generator was built without hint=True, so it takes no colour hint")
        if points is not None and not self.takes_points:
            raise ValueError("this generator was built without points=True, so it takes no colour points")
        if vividness is not None and not self.takes_vividness:
            raise ValueError("this generator has no colour-distribution head, so it takes no vividness")


def read_weights(pretrained: Pretrained, weights: str, key: str = "model.encoder_weights",
                 without: str = TRAIN_WITHOUT) -> tuple[dict, Path]:
    """The state dict `weights` names ("imagenet": found in the torch cache, else a file path), and its file.

    key: the config key that chose `weights`; without: the flag that trains without them. Both go
    into the one-line MissingWeightsError for a missing or unreadable file.
    """
    path = find_weights(pretrained, without) if weights == "imagenet" else Path(weights).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"{key}: {path}: no such file; or train without: {without}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch fails on truncated or foreign files in many different ways
        raise MissingWeightsError(f"{path}: not a readable weights file; replace it or {without}") from None
    if not isinstance(state, dict):
        raise MissingWeightsError(f"{path}: expected a state_dict of tensors; replace it or {without}")
    return state, path


def find_weights(pretrained: Pretrained, without: str = TRAIN_WITHOUT) -> Path:
    """The first of `pretrained.files` in the torch cache; MissingWeightsError (one line) when none is there."""
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    for name in pretrained.files:
        if (cache / name).is_file():
            return cache / name
    first, *others = pretrained.files
    alternatives = f" (nor {', '.join(others)})" if others else ""
    raise MissingWeightsError(f"{pretrained.what} {first} not found in {cache}/{alternatives}; fetch it once with: "
                              f"{pretrained.fetch} , or train without: {without}")
