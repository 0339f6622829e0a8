"""A projected-GAN-style discriminator (Sauer et al. 2021): small trainable heads on frozen ImageNet features.

A PatchGAN trained from scratch on a few hundred photos has to learn what grass, skin and sky are
before it can judge their colours, and it over-fits the training set while doing so. Projected
GANs score a picture in the feature space of a frozen pretrained network instead: D starts knowing
objects, and only its small heads learn. Sauer et al. use EfficientNet-Lite; we use MobileNetV2,
whose ImageNet weights the generator's encoder already finds in the torch cache (same files, same
loading), so no new network has to be written or fetched.

Input is RGB, not (L, ab): the backbone was trained on sRGB photos. `takes_rgb` tells the trainer
to render D's input with the differentiable Lab->RGB (GanTrainer.critic_input), so G's adversarial
gradient flows back to its a*b* through the frozen backbone.

Layout: the RGB picture, ImageNet-normalised, runs through MobileNetV2's `features` up to the
deepest tap; at each tap (default strides 4, 8, 16) a head projects the features with a 1x1 conv,
brings them to the deepest tap's stride with 3x3 stride-2 convs, adds one 3x3 conv and scores each
position with a 3x3 conv to one logit. Every scale thus gives about as many patch logits as the
others (16x16 each at 256^2), and their concatenation weighs the scales alike in the loss's mean,
as Sauer et al.'s per-scale discriminators, which all end at 4x4, do. Sauer et al.'s fixed random
channel and scale mixing (CCM, CSM) is left out: the trainable 1x1 projection plays its part here.

The backbone stays frozen (no gradients, BatchNorm in eval mode whatever `train()` says): it is a
fixed measuring instrument. Its weights are part of the state dict, so a resumed run needs no file.
"""
import logging
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from gan_colorizer.errors import ConfigError
from gan_colorizer.models.generator import Pretrained, read_weights
from gan_colorizer.models.mobilenet_unet import _IMAGENET_MEAN, _IMAGENET_STD, MobileNetUNet
from gan_colorizer.models.registry import register

log = logging.getLogger(__name__)

_LEAK = 0.2  # LeakyReLU slope of the heads, as in PatchGAN and Sauer et al.
WITHOUT = "--set gan.discriminator=patchgan"  # the flag that trains without pretrained features
# The generator's encoder weights: the same MobileNetV2 files, so one fetch serves both.
_BACKBONE = Pretrained(what="MobileNetV2 ImageNet weights (projected_patchgan's backbone)",
                       files=MobileNetUNet.pretrained.files, fetch=MobileNetUNet.pretrained.fetch)


def _stride_of(features: nn.Sequential, index: int) -> int:
    """Total stride of MobileNetV2 `features[: index + 1]`: the product of its convs' strides."""
    stride = 1
    for conv in (m for m in features[: index + 1].modules() if isinstance(m, nn.Conv2d)):
        stride *= conv.stride[0]
    return stride


@register("projected_patchgan", "discriminator")
class ProjectedPatchGAN(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> raw patch logits of all scales, concatenated: (B, 1, N), any H, W >= 1.

    N = sum over taps of ceil(H / s) * ceil(W / s) (about), s the deepest tap's stride: 3 x 16 x 16
    at 256^2. taps: MobileNetV2 `features` indices whose outputs are scored (0-17; 3, 6, 13 are the
    last blocks at strides 4, 8, 16). head_channels: width of each head. width_mult: backbone width;
    ImageNet weights exist only for 1.0 (smaller is for tests).
    """

    takes_rgb = True  # GanTrainer.critic_input renders (L, ab) to sRGB for this D
    pretrained = _BACKBONE

    def __init__(self, *, taps: tuple[int, ...] = (3, 6, 13), head_channels: int = 64, spectral_norm: bool = True,
                 width_mult: float = 1.0) -> None:
        super().__init__()
        if not taps or list(taps) != sorted(set(taps)) or taps[0] < 0 or taps[-1] > 17:
            raise ValueError(f"taps must be increasing MobileNetV2 features indices in 0-17, got {list(taps)}")
        if head_channels < 1:
            raise ValueError(f"head_channels must be >= 1, got {head_channels}")
        features = torchvision.models.mobilenet_v2(width_mult=width_mult).features
        self.backbone = features[: taps[-1] + 1].requires_grad_(False).eval()
        self.taps = tuple(taps)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        def conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Module:
            layer = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)
            return apply_spectral_norm(layer) if spectral_norm else layer

        deepest = _stride_of(features, taps[-1])
        heads = []
        for tap in taps:
            channels = MobileNetUNet._out_channels(features[tap])
            layers = [conv(channels, head_channels, 1), nn.LeakyReLU(_LEAK, inplace=True)]
            stride = _stride_of(features, tap)
            while stride < deepest:  # down to the deepest tap's grid, so every scale scores as many patches
                layers += [conv(head_channels, head_channels, 3, stride=2), nn.LeakyReLU(_LEAK, inplace=True)]
                stride *= 2
            layers += [conv(head_channels, head_channels, 3), nn.LeakyReLU(_LEAK, inplace=True),
                       conv(head_channels, 1, 3)]
            heads.append(nn.Sequential(*layers))
        self.heads = nn.ModuleList(heads)

    def train(self, mode: bool = True) -> "ProjectedPatchGAN":
        """Train the heads only: the frozen backbone's BatchNorm keeps its ImageNet statistics."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = (rgb - self.mean) / self.std
        logits = []
        for index, layer in enumerate(self.backbone):
            x = layer(x)
            if index in self.taps:
                logits.append(self.heads[self.taps.index(index)](x).flatten(1))  # (B, h * w)
        return torch.cat(logits, dim=1).unsqueeze(1)  # (B, 1, N)

    def load_pretrained(self, weights: str) -> Path | None:
        """Fill the backbone: "imagenet" (the torch cache), "none" (keep random: tests), or a file path.

        Takes torchvision's classifier (`features.N...`) or the features alone (`N...`), like the
        generator's encoder. The same values as config key gan.discriminator_weights.
        """
        if weights == "none":
            return None
        state, path = read_weights(self.pretrained, weights, "gan.discriminator_weights", WITHOUT)
        features = {key.removeprefix("features."): value for key, value in state.items()}
        own = self.backbone.state_dict()
        # BatchNorm's step counter is not a weight (files saved before torch 0.4.1 lack it): keep ours then.
        wanted = {key: features.get(key, tensor if key.endswith("num_batches_tracked") else None)
                  for key, tensor in own.items()}
        missing = [key for key, value in wanted.items() if value is None]
        if missing:
            raise ConfigError(f"gan.discriminator_weights: {path} lacks {len(missing)} backbone tensors "
                              f"(e.g. {missing[0]}); is it MobileNetV2 ImageNet weights?")
        try:
            self.backbone.load_state_dict(wanted)
        except RuntimeError:  # right keys, wrong shapes: another width
            raise ConfigError(f"gan.discriminator_weights: {path} does not fit this backbone; "
                              f"ImageNet weights need width_mult 1.0") from None
        log.info("projected_patchgan backbone initialised from %s", path)
        return path
