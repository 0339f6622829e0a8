"""Colorize photos in a web page on this computer: `python tools/serve.py`.

Runs the command from a checkout; it lives in gan_colorizer.cli.serve (installed as `gan-colorizer-serve`).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer.cli.serve import main  # noqa: E402

if __name__ == "__main__":
    main()
