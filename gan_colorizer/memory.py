"""Memory: what colorizing an image needs at a render size, and what this machine has free.

A request the machine cannot hold is refused before anything is allocated, with a render size that
fits, instead of an OOM kill hours into a folder run. The network's working size (`working_size`) and
its padded input (PAD_MULTIPLE, BORDER_MARGIN) are defined here because the estimate is made of them;
inference.py runs the network at exactly that size.
"""
import bisect
import os

from gan_colorizer.errors import ImageError

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
    MemAvailable (free plus reclaimable cache), else free pages; None where neither is known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except OSError:  # not Linux
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # macOS and Windows name neither
        return None


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
