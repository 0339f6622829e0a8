"""One timing of bench_throughput.py in a process of its own, so that each code tree and size gets its own
peak memory: `PYTHONPATH=TREE python _throughput_worker.py CHECKPOINT PHOTO RUNS` prints one JSON line.

Uses only `Colorizer.from_checkpoint` and `folder.colorize_folder`, which every tree compared has, so
the tree on PYTHONPATH (today's code or a baseline checkout) is the one timed.
"""
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gan_colorizer
from gan_colorizer import folder, inference


def main(checkpoint: str, photo: str, runs: int) -> None:
    colorizer = inference.Colorizer.from_checkpoint(Path(checkpoint))
    with tempfile.TemporaryDirectory() as tmp:
        def colorize() -> float:
            start = time.perf_counter()
            folder.colorize_folder(Path(photo), Path(tmp), colorizer)
            return time.perf_counter() - start
        colorize()  # warm-up: oneDNN picks its kernels for a new shape on the first call
        seconds = statistics.median(colorize() for _ in range(runs))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "package": str(Path(gan_colorizer.__file__).parent)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
