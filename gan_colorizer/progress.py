"""Progress a person can follow on a terminal and in a log: a tqdm bar, or whole lines every few seconds.

tqdm redraws its bar in place with carriage returns, which a log file or nohup.out keeps as one
ever-growing line, so when stderr is not a terminal the folder runner and the trainers print
`colorize: 120/5000 (2.4 %) 3.1 img/s, ETA 26 min` (plus the latest values a trainer sets, such
as its losses) at most once per interval instead.
"""
import sys
import time

from tqdm import tqdm

DEFAULT_INTERVAL = 10.0  # seconds between progress lines when stderr is not a terminal


def duration(seconds: float) -> str:
    """`42 s`, `26 min` or `3.1 h`: an ETA as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressLines:
    """The bar's counterpart for logs and pipes: the same `update`, `set_postfix` and `close` calls.

    The rate counts the units of this process only (not images already written or steps of the run
    this one resumes).
    """

    def __init__(self, desc: str, total: int, initial: int, interval: float, unit: str = "img") -> None:
        self.desc, self.total, self.done, self.interval, self.unit = desc, total, initial, interval, unit
        self.done_before = initial
        self.postfix: dict[str, str] = {}
        self.start = self.last = time.monotonic()

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            tqdm.write(self.line(now - self.start), file=sys.stderr)

    def set_postfix(self, values: dict[str, str]) -> None:
        """Values shown after the rate in every later line (a trainer's latest losses), as tqdm's bar does."""
        self.postfix = {key: str(value) for key, value in values.items()}

    def line(self, elapsed: float) -> str:
        """The progress line after `elapsed` seconds."""
        rate = (self.done - self.done_before) / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {duration((self.total - self.done) / rate)}" if rate > 0 else "ETA unknown"
        percent = 100.0 * self.done / self.total if self.total else 100.0
        extra = "".join(f", {key} {value}" for key, value in self.postfix.items())
        return f"{self.desc}: {self.done}/{self.total} ({percent:.1f} %) {rate:.2g} {self.unit}/s, {eta}{extra}"

    def close(self) -> None:
        """Nothing to clear (the bar's counterpart erases itself)."""


def progress(desc: str, total: int, initial: int, interval: float, shown: bool,
             unit: str = "img") -> tqdm | ProgressLines:
    """A tqdm bar on a terminal, plain lines every `interval` s elsewhere, nothing when not `shown`."""
    if not shown:
        return tqdm(disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)
    return ProgressLines(desc, total, initial, interval, unit)
