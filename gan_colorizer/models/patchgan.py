"""PatchGAN discriminator (Isola et al. 2017, `NLayerDiscriminator`), conditioned on L.

It scores overlapping patches rather than the whole image: colour plausibility is local (is this
grass green, is this skin pink), and a patch critic has few weights, so it trains stably on few photos.
Conditioning on L (it sees `cat([L_n, ab_n])`) lets it judge whether the colours fit the scene, not only
whether they look like colours.

Layout, as in pix2pix: a 4x4 stride-2 conv without norm, `n_layers - 1` more 4x4 stride-2 convs and
one 4x4 stride-1 conv with norm (width doubling up to 8 * base_channels), each followed by
LeakyReLU 0.2, then a 4x4 stride-1 conv to one logit per patch.

Receptive field: walk the convs from the output back to the input with r = 1, then
r = (r - 1) * stride + kernel for each. The two stride-1 convs give 4, then 7; each of the
`n_layers` stride-2 convs gives 2 * r + 2. So r = 9 * 2**n_layers - 2: 16, 34, 70, 142 for
n_layers = 1, 2, 3, 4. The default (3) is pix2pix's 70x70 PatchGAN.

Output size: each stride-2 conv maps s to floor(s / 2) and each stride-1 conv to s - 1, so an input
of side s gives floor(s / 2**n_layers) - 2 patches (256 -> 30, as in pix2pix). Inputs smaller than
3 * 2**n_layers are replicate-padded up to it, so any size, even 1x1, gives at least one patch.

Norm (why the default is instance): the D step scores the real batch and the fake batch in separate
forward passes. BatchNorm (pix2pix's choice, kept as an option) normalises each of them by its own
statistics, which hides any batch-wide difference such as "every fake is too gray", and in eval mode
it switches to running statistics mixed from both. Instance norm normalises each image alone, so a
score does not depend on what else is in the batch, at any batch size and in train or eval alike.

Spectral norm (Miyato et al. 2018) bounds every conv's Lipschitz constant. BatchNorm's rescaling by
batch statistics undoes that bound and couples the samples again, so the pair is refused; instance
norm is allowed (pix2pixHD/SPADE's "spectralinstance" discriminator), and `norm="none"` is SNGAN's
plain choice.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from gan_colorizer.models.layers import norm_layer
from gan_colorizer.models.registry import register

_LEAK = 0.2  # pix2pix/DCGAN LeakyReLU slope: D passes gradient for negative activations too


@register("patchgan", "discriminator")
class PatchGAN(nn.Module):
    """cat([L_n, ab_n]) (B, in_channels, H, W) in [-1, 1] -> raw patch logits (B, 1, h, w), any H, W >= 1.

    h = max(H, 3 * 2**n_layers) // 2**n_layers - 2, likewise w. Logits are unbounded: the losses in
    `gan_colorizer.losses` apply the sigmoid (vanilla) or use them as scores (lsgan, hinge).
    """

    def __init__(self, *, base_channels: int = 64, n_layers: int = 3, norm: str = "instance",
                 spectral_norm: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        if base_channels < 1 or n_layers < 1 or in_channels < 1:
            raise ValueError(f"need base_channels, n_layers and in_channels >= 1, "
                             f"got {base_channels}, {n_layers} and {in_channels}")
        if spectral_norm and norm == "batch":
            raise ValueError("spectral_norm with batch norm: batch statistics undo its bound; "
                             "use norm 'instance' or 'none'")
        self.min_size = 3 * 2**n_layers  # smallest side that still leaves one patch (see module doc)

        def conv(in_ch: int, out_ch: int, stride: int, bias: bool) -> nn.Module:
            layer = nn.Conv2d(in_ch, out_ch, 4, stride=stride, padding=1, bias=bias)
            return apply_spectral_norm(layer) if spectral_norm else layer

        bias = norm == "none"  # a norm's own shift makes a conv bias redundant
        layers: list[nn.Module] = [conv(in_channels, base_channels, 2, True), nn.LeakyReLU(_LEAK, inplace=True)]
        in_ch = base_channels
        for level in range(1, n_layers + 1):
            out_ch = base_channels * min(2**level, 8)
            stride = 2 if level < n_layers else 1  # the last one widens the field without shrinking the map
            layers += [conv(in_ch, out_ch, stride, bias), norm_layer(norm, out_ch), nn.LeakyReLU(_LEAK, inplace=True)]
            in_ch = out_ch
        layers.append(conv(in_ch, 1, 1, True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = max(0, self.min_size - height), max(0, self.min_size - width)
        if pad_h or pad_w:
            # Replicate, centred: reflect cannot pad past the image's own size, and zeros would
            # frame a tiny image in gray (ab_n = 0), a large share of what D then scores.
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="replicate")
        return self.net(x)
