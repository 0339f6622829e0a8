"""Photo data sets: where photos come from, which train and which validate, and the crops they yield.

- `sources`: `PhotoSource` (a folder, .zip or uncompressed .tar such as a WebDataset shard),
  `MultiSource` (several), `open_sources(paths)`.
- `split`: `check_photos` (parallel, cached per file beside the data), `scan(source, cfg) -> Split`,
  `split_keys`.
- `colour_prior`: the training photos' a*b* histogram over the colour bins (`colour_prior`, cached),
  the bins it reaches (`bins_of`) and their smoothed prior (`class_prior`).
- `crops`: `TrainCrops` and `ValImages` yielding (L_n, ab_n), `StepSampler`, `epoch_order`.

A trainer calls `source = open_sources(paths)`, `split = scan(source, cfg.data)` (on every rank),
then builds `TrainCrops(source, split, cfg.data, seed)` with a `StepSampler`, and
`ValImages(source, split.val, size)`.
"""
from gan_colorizer.data.colour_prior import bins_of, class_prior, colour_prior
from gan_colorizer.data.crops import (TrainCrops, StepSampler, ValImages, center_square, crop_fraction, epoch_order,
                                      lab_tensors, random_square, sample_weights)
from gan_colorizer.data.sources import MultiSource, PhotoSource, open_sources
from gan_colorizer.data.split import PhotoTable, Split, check_photo, check_photos, scan, split_keys

__all__ = ["bins_of", "class_prior", "colour_prior", "MultiSource", "PhotoSource", "PhotoTable", "Split", "StepSampler", "TrainCrops", "ValImages",
           "center_square", "check_photo", "check_photos", "crop_fraction", "epoch_order", "lab_tensors",
           "open_sources", "random_square", "sample_weights", "scan", "split_keys"]
