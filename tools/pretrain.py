"""Pretrain a generator with L1 on a*b*: `python tools/pretrain.py --data photos.zip --out runs/pre1`.

Runs the command from a checkout; it lives in gan_colorizer.cli.pretrain (installed as `gan-colorizer-pretrain`).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer.cli.pretrain import main  # noqa: E402

if __name__ == "__main__":
    main()
