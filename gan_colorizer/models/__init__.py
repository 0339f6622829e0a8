"""Networks by name. Importing this package registers every model module's builders."""
from gan_colorizer.models import feature_disc, mobilenet_unet, patchgan, pix2pix_unet  # noqa: F401  (registers the builders)
from gan_colorizer.models.generator import ChromaPrediction, Generator
from gan_colorizer.models.registry import available, build

__all__ = ["ChromaPrediction", "Generator", "available", "build"]
