"""Package layout: the one part of the build that setup.cfg cannot declare (metadata lives there).

The repository keeps `configs/` and `checkpoints/` at its top level, where the tools, the docs and
users' commands name them, yet an installed package must carry them: the wheel maps them to
`gan_colorizer/configs/` and `gan_colorizer/checkpoints/` (gan_colorizer.assets finds either place).
A mapped folder has to be listed as a package beside those find_packages discovers, and setup.cfg's
`packages = find:` cannot be extended. `tools/` stays out of the wheel: its wrappers are for running
from a checkout, and an install gets the gan-colorizer-* console scripts instead.
"""
from setuptools import find_packages, setup

MAPPED_FOLDERS = {"gan_colorizer.configs": "configs", "gan_colorizer.checkpoints": "checkpoints"}

setup(
    packages=find_packages(include=["gan_colorizer", "gan_colorizer.*"]) + list(MAPPED_FOLDERS),
    package_dir=MAPPED_FOLDERS,
    package_data={
        "gan_colorizer.configs": ["*.yaml"],
        "gan_colorizer.checkpoints": ["default.pt", "README.md"],
        "gan_colorizer.app": ["*.html"],  # the web app's page
    },
)
