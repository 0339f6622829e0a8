"""Score colorizations: `python tools/evaluate.py --pred color/ --gt originals/` (see --help).

Runs the command from a checkout; it lives in gan_colorizer.cli.evaluate (installed as `gan-colorizer-evaluate`).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    main()
