"""Memory: what colorizing an image needs at a render size, and what this machine has free.

A request the machine cannot hold is refused before anything is allocated, with a render size that
fits, instead of an OOM kill hours into a folder run. The network's working size (`working_size`) and
its padded input (PAD_MULTIPLE, BORDER_MARGIN) are defined here because the estimate is made of them;
inference.py runs the network at exactly that size.
"""
import bisect
import ctypes
import os

from gan_colorizer.errors import ImageError

# glibc's mallopt options (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8

# Peak memory of one network call on the CPU, measured with the bundled model (docs/performance.md,
# "Memory"): the convolutions hold about 280 bytes per working pixel; the self-attention block on the
# stride-16 features holds two N x N float32 score matrices, 9 bytes per pair of its N = pixels / 256
# positions, beside 80 bytes per pixel of other activations. That term grows with the square of the
# pixels: 26 GB at --render-size 3000 for a 3:2 photo, the size that got a 13.5 MP run OOM-killed.
CONV_BYTES_PER_PIXEL = 280
ATTENTION_BYTES_PER_PIXEL = 80
ATTENTION_BYTES_PER_PAIR = 9
ATTENTION_STRIDE = 16
PAD_MULTIPLE = 32  # the generator's total stride: its input is padded to a multiple of it
# Mirrored photo around the network's input on every side, cut off its output. Zero-padded
# convolutions see the frame's edge, and the bundled model painted a saturated strip along it
# (examples/chelsea_gray.jpg: bottom rows 7.9 chroma units above their neighbours; 1.3 with this
# margin, for 21 % more network pixels at 256 x 385). Half the stride is where the gain levels off.
BORDER_MARGIN = 16
# Full-resolution float32 arrays of one image while it is colorized (RGB, L, Lab, the merged Lab and
# the gamut-mapped RGB, not all alive at once): 31 bytes per pixel measured on a 12 MP photo.
FULL_RES_BYTES_PER_PIXEL = 32
# The measured peaks above are met within 5 %; other processes allocate while a run goes on, so a run
# is started only with 10 % to spare.
HEADROOM = 1.1


def working_size(height: int, width: int, render_size: int) -> tuple[int, int]:
    """(h, w) the network runs at: shorter side `render_size`, aspect kept, never larger than the input."""
    scale = render_size / min(height, width)
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def network_memory(height: int, width: int, render_size: int, batch: int = 1) -> int:
    """Bytes one network call needs for `batch` images of size (height, width) at `render_size`.

    The larger of the convolution peak and the attention peak (each measured, see the constants
    above), on the padded working size. Models without attention get an estimate on the safe side.
    """
    padded_h, padded_w = (-(-(side + 2 * BORDER_MARGIN) // PAD_MULTIPLE) * PAD_MULTIPLE
                          for side in working_size(height, width, render_size))
    pixels = padded_h * padded_w
    positions = pixels / ATTENTION_STRIDE**2
    per_image = max(CONV_BYTES_PER_PIXEL * pixels,
                    ATTENTION_BYTES_PER_PIXEL * pixels + ATTENTION_BYTES_PER_PAIR * positions**2)
    return int(batch * per_image)


def memory_needed(height: int, width: int, render_size: int, full_size_images: int = 1) -> int:
    """Bytes to colorize one (height, width) image, with HEADROOM: the network at `render_size` plus
    the full-resolution arrays of `full_size_images` images."""
    full_size = full_size_images * FULL_RES_BYTES_PER_PIXEL * height * width
    return int(HEADROOM * (network_memory(height, width, render_size) + full_size))


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping or the OOM killer: the kernel's
    MemAvailable (free plus reclaimable cache), else free pages, plus what this process freed and
    keeps for reuse (`reuse_freed_memory`); None where the system's part is not known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 + _kept_free_bytes()  # the kernel reports kB
    except OSError:  # not Linux
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") + _kept_free_bytes()
    except (ValueError, OSError):  # macOS and Windows name neither
        return None


class _MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (malloc.h, glibc 2.33+): every field a size_t."""

    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _glibc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl, Windows)
        return None


def _kept_free_bytes() -> int:
    """Bytes freed inside this process's malloc heap and not returned to the system (glibc's
    mallinfo2 `fordblks`), 0 where unknown: the kernel counts them as used, yet the next image gets them."""
    libc = _glibc()
    mallinfo2 = getattr(libc, "mallinfo2", None)
    if mallinfo2 is None:
        return 0
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().fordblks)


def reuse_freed_memory() -> None:
    """Keep freed memory in this process for the next large image instead of returning it (process-wide).

    glibc hands every array above 32 MB out as a fresh mapping and unmaps it on free, and a thread's
    heap that empties is unmapped too, so each 12 MP photo's dozen full-size arrays come back as new
    pages the kernel must zero: `perf` found a quarter of a folder run's CPU in `clear_page`. Serving
    large blocks from the heap (no mmap, never trimmed) reuses the previous photo's pages instead: 0.32
    -> 0.26 s a photo over a folder (docs/performance.md); the process keeps its peak once reached,
    which `available_memory` counts as free. Call it before threads start (glibc fixes its arena count
    once). A no-op where libc is not glibc.
    """
    mallopt = getattr(_glibc(), "mallopt", None)
    if mallopt is None:
        return
    for option, value in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2 ** 31 - 1), (M_ARENA_MAX, 1)):
        mallopt(option, value)


def _gigabytes(size: float) -> str:
    return f"{size / 1e9:.1f} GB"


def check(height: int, width: int, render_size: int, name: str = "image", full_size_images: int = 1) -> None:
    """Refuse, before allocating anything, an (height, width) image that needs more memory than is free.

    full_size_images: how many images' full-resolution arrays are alive at once (the folder
    runner decodes one while it renders another). Raises ImageError naming the estimate, the
    memory available and the largest render size that fits, e.g. `x.jpg (13.5 MP): --render-size
    3000 needs about 29.5 GB; this machine has 8.0 GB available: use --render-size 2112 or less`.
    Does nothing where free memory is unknown. On a GPU it counts host memory only.
    """
    available = available_memory()
    needed = memory_needed(height, width, render_size, full_size_images)
    if available is None or needed <= available:
        return
    sizes = range(16, render_size)  # the estimate grows with the render size: bisect it
    fits = bisect.bisect_right(sizes, available, key=lambda size: memory_needed(height, width, size, full_size_images))
    where = (f"{name} ({height * width / 1e6:.1f} MP): --render-size {render_size} needs about "
             f"{_gigabytes(needed)}; this machine has {_gigabytes(available)} available")
    if fits == 0:
        raise ImageError(f"{where}, too little even at --render-size 16: use a smaller image or free memory")
    size = sizes[fits - 1]
    raise ImageError(f"{where}: use --render-size {size - size % 32 if size >= 64 else size} or less")
