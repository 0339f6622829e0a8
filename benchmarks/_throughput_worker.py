"""One timing of bench_throughput.py in a process of its own, so that each code tree and size gets its own
peak memory (what colorizing adds to the process once the model is loaded and warm; Linux only): `PYTHONPATH=TREE python _throughput_worker.py CHECKPOINT PHOTO RUNS` prints one JSON line.

Uses only `Colorizer.from_checkpoint`, `folder.colorize_folder` and, where the tree has it (as its
tools/colorize.py does), `memory.reuse_freed_memory`, so the tree on PYTHONPATH (today's code or a
baseline checkout) is the one timed.
"""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gan_colorizer
from gan_colorizer import folder, inference, memory


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def main(checkpoint: str, photo: str, runs: int) -> None:
    colorizer = inference.Colorizer.from_checkpoint(Path(checkpoint))
    settle = getattr(memory, "reuse_freed_memory", None)  # what tools/colorize.py does, in trees that have it
    if settle is not None:
        settle()
    with tempfile.TemporaryDirectory() as tmp:
        def colorize() -> float:
            start = time.perf_counter()
            folder.colorize_folder(Path(photo), Path(tmp), colorizer)
            return time.perf_counter() - start
        colorize()  # warm-up: oneDNN picks its kernels for a new shape on the first call
        rss_mb = _status_mb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak (VmHWM) restarts from the RSS now
        seconds = statistics.median(colorize() for _ in range(runs))
    peak_mb = _status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb - rss_mb, "peak_total_mb": peak_mb,
                      "package": str(Path(gan_colorizer.__file__).parent)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
