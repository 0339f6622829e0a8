"""GAN fine-tuning: `python tools/train_gan.py --data photos.zip --init runs/pre1/best.pt --out runs/gan1`.

Runs the command from a checkout; it lives in gan_colorizer.cli.train_gan (installed as `gan-colorizer-train-gan`).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer.cli.train_gan import main  # noqa: E402

if __name__ == "__main__":
    main()
