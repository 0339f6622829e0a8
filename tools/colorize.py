"""Colorize gray photos at full resolution: `python tools/colorize.py --in old_scans/ --out colored/`.

Runs the command from a checkout; it lives in gan_colorizer.cli.colorize (installed as `gan-colorizer-colorize`).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer.cli.colorize import main  # noqa: E402

if __name__ == "__main__":
    main()
