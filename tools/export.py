"""Export a generator to ONNX: `python tools/export.py --checkpoint best.pt --onnx model.onnx`.

Runs the command from a checkout; it lives in gan_colorizer.cli.export (installed as `gan-colorizer-export`).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer.cli.export import main  # noqa: E402

if __name__ == "__main__":
    main()
