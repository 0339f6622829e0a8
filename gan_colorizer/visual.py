"""Image grids for TensorBoard: gray input | prediction | ground truth, one photo per row."""
import numpy as np
import torch

from gan_colorizer import color


def lab_batch_to_rgb(L_n: torch.Tensor, ab_n: torch.Tensor) -> np.ndarray:
    """L_n (B, 1, H, W) and ab_n (B, 2, H, W) in [-1, 1] -> (B, H, W, 3) float32 sRGB in [0, 1]."""
    L = color.denormalize_L(L_n.detach().float().cpu().numpy())[:, 0]
    ab = color.denormalize_ab(ab_n.detach().float().cpu().numpy()).transpose(0, 2, 3, 1)
    return np.stack([color.lab_to_rgb(color.merge_lab(L[i], ab[i])) for i in range(len(L))])


def comparison_grid(L_n: torch.Tensor, fake_ab_n: torch.Tensor, real_ab_n: torch.Tensor) -> np.ndarray:
    """(B rows x 3 columns) grid as (3, B*H, 3*W) float32 in [0, 1], CHW as SummaryWriter.add_image wants."""
    gray = lab_batch_to_rgb(L_n, torch.zeros_like(real_ab_n))
    fake = lab_batch_to_rgb(L_n, fake_ab_n)
    real = lab_batch_to_rgb(L_n, real_ab_n)
    rows = [np.concatenate([g, f, r], axis=1) for g, f, r in zip(gray, fake, real)]  # each (H, 3W, 3)
    return np.concatenate(rows, axis=0).transpose(2, 0, 1)
