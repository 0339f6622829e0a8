"""How a colorized video holds still: temporal flicker beside the truth's own, and chroma error per frame.

`evaluate --video clip.mp4` takes a colour video, makes each frame gray as `colorize` would see it,
and colours it twice in memory (before any lossy encode): each frame on its own, and with
`video.StableChroma`. Flicker (docs/metrics.md) is the mean a*b* distance between a frame and the
previous frame warped onto it by optical flow computed on the *truth*, over pixels where that flow
is reliable (forward-backward check, inside the frame), averaged over frame pairs; pairs across a
cut of the truth are left out. The truth's own flicker is the floor (real motion and lighting
change); gray's is 0. Everything is measured at the network's working size, where the a*b* live.
"""
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gan_colorizer import color
from gan_colorizer.inference import Colorizer, shrink_L
from gan_colorizer.video import StableChroma, _av, _open_input, reliable_flow

VARIANTS = ("truth", "per-frame", "stable")


@dataclass
class VideoScores:
    """Per variant: the flicker of each frame pair and the a*b* RMSE of each frame against the truth."""

    clip: str
    flicker: dict[str, list[float]] = field(default_factory=lambda: {v: [] for v in VARIANTS})
    ab_rmse: dict[str, list[float]] = field(default_factory=lambda: {v: [] for v in VARIANTS})
    frames: int = 0
    pairs_left_out: int = 0

    def row(self, variant: str) -> dict[str, float]:
        return {"flicker": float(np.mean(self.flicker[variant])) if self.flicker[variant] else float("nan"),
                "ab_rmse": float(np.mean(self.ab_rmse[variant])) if self.ab_rmse[variant] else float("nan")}


def score_video(path: Path, colorizer: Colorizer, max_frames: int | None = None, network_every: int = 2) -> VideoScores:
    """Colour the gray of a colour video per frame and stably; score both, and the truth, as above.
    network_every: the stable variant runs the network on every n-th frame only, as `colorize` does."""
    av = _av()
    container, stream = _open_input(av, Path(path))
    scores = VideoScores(Path(path).name)
    stabilizer, flow = StableChroma(), cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    before = None
    try:
        for frame in container.decode(stream):
            if max_frames is not None and scores.frames >= max_frames:
                break
            L = color.gray_to_L(frame.to_ndarray(format="gray"))
            truth_lab = color.rgb_to_lab(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0)
            small_L = shrink_L(L, colorizer.render_size)
            height, width = small_L.shape
            truth_ab = cv2.resize(np.ascontiguousarray(truth_lab[..., 1:]), (width, height),
                                  interpolation=cv2.INTER_AREA)
            per_frame = colorizer.predict([L])[0].ab
            new_shot = stabilizer.look(small_L)
            follows = scores.frames % network_every and not new_shot
            stable = stabilizer.carried() if follows else stabilizer.blend(per_frame)
            now = {"truth": truth_ab, "per-frame": per_frame, "stable": stable}
            for variant, ab in now.items():
                scores.ab_rmse[variant].append(float(np.sqrt(((ab - truth_ab) ** 2).sum(axis=2).mean())))
            gray = cv2.convertScaleAbs(cv2.resize(truth_lab[..., 0], (width, height), interpolation=cv2.INTER_AREA),
                                       alpha=255.0 / 100.0)
            if before is not None:
                map_x, map_y, reliable = reliable_flow(gray, before[0], flow)
                if reliable.mean() < stabilizer.cut_share:  # a cut in the truth: no motion to follow
                    scores.pairs_left_out += 1
                else:
                    for variant, ab in now.items():
                        warped = cv2.remap(before[1][variant], map_x, map_y, cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REPLICATE)
                        distance = np.sqrt(((ab - warped) ** 2).sum(axis=2))
                        scores.flicker[variant].append(float(distance[reliable].mean()))
            before = (gray, now)
            scores.frames += 1
    finally:
        container.close()
    return scores
