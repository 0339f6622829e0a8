"""Files shipped beside the code: the bundled model (`checkpoints/`) and the YAML configs (`configs/`).

The repository keeps them at its top level; a built wheel carries them inside the package
(`gan_colorizer/checkpoints/`, `gan_colorizer/configs/`: setup.py maps the folders there). `asset_path`
looks in the installed package first (importlib.resources, so it follows wherever the package was
installed) and then in the source checkout, so tools run alike from a wheel, an editable install or
`python tools/x.py` in a clone. Kept free of torch: `--help` reads the configs folder's name.
"""
from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]  # the repository root, when running from a clone


def asset_path(relative: str) -> Path:
    """Where a shipped file or folder lives, e.g. `asset_path("checkpoints/default.pt")`.

    relative: a path under the repository root, with `/` separators. The result may not exist (a
    wheel built without the model); callers check and say which file is missing. Wheels install
    unzipped, so the packaged copy is a real file that numpy, torch and cv2 can open by path.
    """
    packaged = resources.files("gan_colorizer").joinpath(relative)
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    return _CHECKOUT / relative
