"""Building blocks that more than one network uses: normalisation choice, padding to a stride."""
import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "instance", "none")
HINT_SIZE = 5  # length of a colour hint row; its layout is defined in gan_colorizer.hint
POINT_CHANNELS = 3  # a colour-point map: a*b* where a point is set, and its mask (gan_colorizer.points)


def norm_layer(norm: str, channels: int) -> nn.Module:
    """`batch` | `instance` | `none`. Instance norm has no running stats, so it behaves alike in train/eval."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad (B, C, H, W) on the bottom/right to multiples of `multiple`; returns the original (H, W).

    Replicate rather than reflect: reflect needs the pad smaller than the image, which 1-pixel
    inputs break.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (height, width)


def pool_points(points: torch.Tensor, stride: int) -> torch.Tensor:
    """A colour-point map (B, 3, H, W), H and W multiples of `stride`, shrunk by `stride`: each cell's
    mean a*b* over its hinted pixels and a mask that is 1 where any pixel of the cell was hinted
    (averaging would fade a 1-pixel point to nothing at stride 16 and mix its colour with the zeros
    around it). A fixed kernel, not a target size, so an ONNX export keeps dynamic image sizes."""
    ab, mask = points[:, :2], points[:, 2:]
    density = F.avg_pool2d(mask, stride)
    ab = F.avg_pool2d(ab * mask, stride) / density.clamp_min(1e-6)
    return torch.cat([ab, (density > 0).to(points.dtype)], dim=1)
