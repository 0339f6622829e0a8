"""The classic pix2pix U-Net generator (Isola et al. 2017, `unet_256`), as a baseline in our framework.

Kept faithful to the paper: 4x4 stride-2 convs, LeakyReLU 0.2 down, ReLU + transposed conv up,
dropout in the three innermost decoder blocks, tanh out. Only the channel counts (1 in, 2 out) and the
padding to its stride (any input size works) differ.
"""
import torch
from torch import nn

from gan_colorizer.models.generator import ChromaPrediction, Generator
from gan_colorizer.models.layers import norm_layer, pad_to_multiple
from gan_colorizer.models.registry import register


@register("pix2pix_unet", "generator")
class Pix2PixUNet(Generator):
    """L_n (B, 1, H, W) in [-1, 1] -> ab_n (B, 2, H, W) in [-1, 1]. Stride 2**depth (256 by default).

    Trained from scratch, as in the paper: no pretrained encoder, no colour hint.
    """

    def __init__(self, *, base_channels: int = 64, depth: int = 8, norm: str = "batch",
                 dropout: float = 0.5) -> None:
        super().__init__()
        if depth < 2 or base_channels < 1:
            raise ValueError(f"need depth >= 2 and base_channels >= 1, got {depth} and {base_channels}")
        widths = [min(base_channels * 2**i, base_channels * 8) for i in range(depth)]
        bias = norm != "batch"  # BatchNorm's shift makes a conv bias redundant
        self.stride = 2**depth
        self.down = nn.ModuleList()
        in_ch = 1
        for level, out_ch in enumerate(widths):
            layers: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2, inplace=True)]
            layers.append(nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=bias))
            if 0 < level < depth - 1:  # pix2pix: no norm on the outermost and innermost downs
                layers.append(norm_layer(norm, out_ch))
            self.down.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            out_ch = 2 if level == 0 else widths[level - 1]
            skip_in = widths[level] if level == depth - 1 else widths[level] * 2
            layers = [nn.ReLU(inplace=True), nn.ConvTranspose2d(skip_in, out_ch, 4, stride=2, padding=1,
                                                                 bias=bias or level == 0)]
            if level == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, out_ch))
                if depth - 4 <= level <= depth - 2 and dropout > 0:  # the 3 innermost below the bottom
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, L_n: torch.Tensor, hint: torch.Tensor | None = None, points: torch.Tensor | None = None,
                vividness: torch.Tensor | float | None = None,
                details: bool = False) -> torch.Tensor | ChromaPrediction:
        """hint, points, vividness: must be None (this baseline takes none)."""
        self.refuse_hint(hint, points, vividness)
        x, (height, width) = pad_to_multiple(L_n, self.stride)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[0](skips[-1])
        for block, skip in zip(self.up[1:], reversed(skips[:-1])):
            x = block(torch.cat([x, skip], dim=1))
        ab_n = x[..., :height, :width]
        return ChromaPrediction(ab_n, ab_n, None) if details else ab_n
