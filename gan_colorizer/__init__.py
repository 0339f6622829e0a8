"""gan_colorizer: grayscale photo colorization in Lab space. `from gan_colorizer import Colorizer`."""

__version__ = "0.1.0"  # the one copy: setup.cfg reads it (attr:), every tool's --version prints it


def __getattr__(name: str):
    """Import the inference API on first use, so `import gan_colorizer.errors` stays free of torch."""
    if name == "Colorizer":
        from gan_colorizer.inference import Colorizer

        return Colorizer
    raise AttributeError(f"module 'gan_colorizer' has no attribute {name!r}")
