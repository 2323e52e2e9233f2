"""Image dimensions and thumbnails with Pillow, within a memory budget per worker process.

``dimensions`` reads only the header (``Image.open`` is lazy), so it is cheap for any size
and handles every JPEG SOF marker (baseline, progressive, ...), PNG, GIF and WebP; SonicJS
reads baseline JPEG only. An image claiming more than ``MAX_IMAGE_PIXELS`` pixels is refused
before anything decodes it: a few KiB of PNG can claim a 50,000 x 50,000 canvas.

Decoding is where the memory goes: a 190 KB PNG can hold 5000 x 5000 pixels of 16 bits,
100 MB once decoded. So:

* ``dimensions`` never decodes. The EXIF orientation is read only when the header carries
  it: asked for the EXIF of a PNG whose header has none, Pillow decodes the whole image to
  look for an ``eXIf`` chunk after the pixel data (which PNG places before it anyway).
* ``thumbnail`` decodes only an image whose decoded size fits ``THUMBNAIL_MAX_PIXELS`` and
  ``THUMBNAIL_MAX_DECODED_BYTES``, measured after ``draft``: JPEG decodes straight to 1/2,
  1/4 or 1/8 scale (DCT scaling), so any JPEG that passed ``dimensions`` fits; other formats
  decode at full size. Past the budget the upload is stored without a thumbnail.
* One decode at a time per process (``decode_slot``): a thumbnail waits up to
  ``DECODE_WAIT_SECONDS`` for the slot, then is skipped. With the budget, a worker never
  holds more than about ``THUMBNAIL_MAX_DECODED_BYTES`` of decoded pixels, however many
  uploads arrive at once.

The thumbnail is a WebP of at most ``THUMBNAIL_SIZE``, turned upright per the orientation
``dimensions`` reads, so its shape always matches the width and height stored.
"""

import io
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Below Pillow's own warning threshold (about 89.5 megapixels): a 10,000 x 8,000 photo fits.
MAX_IMAGE_PIXELS = 80_000_000
THUMBNAIL_SIZE = (320, 320)
# The largest decode a thumbnail may cost, counted after JPEG's scaled decoding: 4096 x 4096
# pixels, and 48 MiB of them (Pillow keeps 1 byte a pixel for L and P images, 2 for 16-bit
# grey, 4 for RGB, RGBA and the rest).
THUMBNAIL_MAX_PIXELS = 4096 * 4096
THUMBNAIL_MAX_DECODED_BYTES = 48 * 1024 * 1024
# Pillow's own thumbnail() decodes JPEG at no less than twice the target size.
REDUCING_GAP = 2
DECODE_WAIT_SECONDS = 10.0
ONE_BYTE_MODES = frozenset({"1", "L", "P"})
# 16-bit grey: Pillow decodes it but cannot resize it, so no thumbnail is attempted.
UNSCALABLE_MODE_PREFIX = "I;16"
THUMBNAIL_FORMAT = "WEBP"
THUMBNAIL_QUALITY = 80
EXIF_ORIENTATION = 0x0112
# EXIF orientations 5-8 are rotated by 90 or 270 degrees: width and height swap on display.
ROTATED_ORIENTATIONS = {5, 6, 7, 8}
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow raises for files it cannot parse (its plugins raise SyntaxError too).
IMAGE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)


class ImageTooLarge(Exception):
    """The image claims more pixels than ``MAX_IMAGE_PIXELS`` (a possible decompression bomb)."""


class UnreadableImage(Exception):
    """The content has an image signature but Pillow cannot read its header."""


class ThumbnailSkipped(Exception):
    """No thumbnail is made for this image (too costly to decode)."""


@dataclass(frozen=True)
class Dimensions:
    """Width and height as displayed (EXIF rotation applied)."""

    width: int
    height: int


def dimensions(file, max_pixels=MAX_IMAGE_PIXELS):
    """Read the width and height of the image in ``file`` (a seekable binary file).

    Raises:
        ImageTooLarge: more than ``max_pixels`` pixels.
        UnreadableImage: the header cannot be parsed.
    """
    file.seek(0)
    try:
        with Image.open(file) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"{width}x{height} pixels is more than {max_pixels}")
            orientation = _orientation(image)
    except Image.DecompressionBombError as ex:
        raise ImageTooLarge(str(ex)) from ex
    except IMAGE_ERRORS as ex:
        raise UnreadableImage(str(ex) or type(ex).__name__) from ex
    if orientation in ROTATED_ORIENTATIONS:
        width, height = height, width
    return Dimensions(width, height)


def _orientation(image):
    """The EXIF orientation the header carries, or None; never decodes the image."""
    if image.format == "PNG" and "exif" not in image.info:
        return None  # see the module notes: Pillow would decode the whole image to look
    try:
        return image.getexif().get(EXIF_ORIENTATION)
    except IMAGE_ERRORS:
        # A broken EXIF block is no reason to refuse the image; it is shown unrotated.
        return None


def decoded_bytes(mode, size):
    """The memory Pillow takes to hold an image of ``mode`` and ``size`` decoded."""
    if mode in ONE_BYTE_MODES:
        per_pixel = 1
    elif mode.startswith(UNSCALABLE_MODE_PREFIX):
        per_pixel = 2
    else:
        per_pixel = 4
    return size[0] * size[1] * per_pixel


def check_decode_budget(image):
    """Raise ``ThumbnailSkipped`` unless decoding ``image`` (as drafted) fits the budget."""
    width, height = image.size
    described = f"{width}x{height} {image.format} ({image.mode})"
    if image.mode.startswith(UNSCALABLE_MODE_PREFIX):
        raise ThumbnailSkipped(f"{described}: no thumbnail for 16-bit grey images")
    if width * height > THUMBNAIL_MAX_PIXELS:
        raise ThumbnailSkipped(f"{described} is over the {THUMBNAIL_MAX_PIXELS} pixels a thumbnail may decode")
    if decoded_bytes(image.mode, image.size) > THUMBNAIL_MAX_DECODED_BYTES:
        raise ThumbnailSkipped(f"{described} is over the {THUMBNAIL_MAX_DECODED_BYTES} bytes a thumbnail may decode")


# One lock per process: a lock inherited through fork may be held by a thread that does not
# exist in the child.
_DECODE_LOCKS = {}


@contextmanager
def decode_slot(wait=None):
    """Hold this process's single decode slot, waiting up to ``wait`` seconds for it.

    Raises:
        ThumbnailSkipped: another decode kept the slot for longer than ``wait``.
    """
    lock = _DECODE_LOCKS.setdefault(os.getpid(), threading.Lock())
    if not lock.acquire(timeout=DECODE_WAIT_SECONDS if wait is None else wait):
        raise ThumbnailSkipped("another image was being decoded for too long")
    try:
        yield
    finally:
        lock.release()


def thumbnail(file, size=THUMBNAIL_SIZE):
    """A WebP thumbnail (bytes) of the image in ``file``, at most ``size``, upright.

    Call ``dimensions`` first: it refuses images too large to accept at all.

    Raises:
        UnreadableImage: Pillow cannot decode the image.
        ThumbnailSkipped: the decode is over the budget, or the decode slot stayed busy.
    """
    file.seek(0)
    try:
        with Image.open(file) as image:
            orientation = _orientation(image)
            # JPEG only (other formats ignore it): decode at a scale just above the target.
            image.draft(None, (size[0] * REDUCING_GAP, size[1] * REDUCING_GAP))
            check_decode_budget(image)
            with decode_slot():
                image.thumbnail(size)
            small = _web_mode(_upright(image, orientation))
            out = io.BytesIO()
            small.save(out, THUMBNAIL_FORMAT, quality=THUMBNAIL_QUALITY)
    except IMAGE_ERRORS as ex:
        raise UnreadableImage(str(ex) or type(ex).__name__) from ex
    return out.getvalue()


def _upright(image, orientation):
    method = UPRIGHT.get(orientation)
    return image.transpose(method) if method is not None else image


def _web_mode(image):
    """The image in a mode WebP stores: RGB, or RGBA when it has transparency."""
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
