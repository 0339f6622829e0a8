"""What a person sees: the users' render of (L, a*b*) tensors, the TensorBoard grid, labelled tiles."""
import cv2
import numpy as np
import torch

from gan_colorizer import color
from gan_colorizer.image_writer import to_uint8


def render_batch(L_n: torch.Tensor, ab_n: torch.Tensor) -> np.ndarray:
    """L_n (B, 1, H, W) and ab_n (B, 2, H, W) in [-1, 1] -> (B, H, W, 3) uint8 sRGB, rendered as users
    receive a photo (`color.lab_to_rgb_in_gamut`: L kept, out-of-gamut chroma lowered, not clipped)."""
    L = color.denormalize_L(L_n.detach().float().cpu().numpy())[:, 0]
    ab = color.denormalize_ab(ab_n.detach().float().cpu().numpy()).transpose(0, 2, 3, 1)
    return np.stack([to_uint8(color.lab_to_rgb_in_gamut(color.merge_lab(L[i], ab[i]))) for i in range(len(L))])


def comparison_grid(*columns: np.ndarray) -> np.ndarray:
    """Renders side by side, one photo per row: each column (B, H, W, 3) uint8 (e.g. gray input |
    prediction | truth) -> (3, B*H, k*W) float32 in [0, 1], CHW as SummaryWriter.add_image wants."""
    rows = [np.concatenate(row, axis=1) for row in zip(*columns)]  # each (H, k*W, 3)
    return (np.concatenate(rows, axis=0).transpose(2, 0, 1) / 255.0).astype(np.float32)


def label_tile(tile: np.ndarray, *lines: str, font_scale: float = 0.45) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 tile with each line of text on a dark band along its top edge
    (the example grids: docs/moods.jpg, docs/degradation.jpg)."""
    out = tile.copy()
    line_height = round(35 * font_scale)  # Hershey simplex: about 35 px per unit of scale, with spacing
    band = 6 + line_height * len(lines)
    out[:band] = (out[:band] * 0.35).astype(np.uint8)
    for row, text in enumerate(lines):
        cv2.putText(out, text, (6, line_height - 1 + line_height * row), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out
