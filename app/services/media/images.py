"""Image dimensions and thumbnails with Pillow, guarded against decompression bombs.

``dimensions`` reads only the header (``Image.open`` is lazy), so it is cheap for any size
and handles every JPEG SOF marker (baseline, progressive, ...), PNG, GIF and WebP; SonicJS
reads baseline JPEG only. An image claiming more than ``MAX_IMAGE_PIXELS`` pixels is refused
before anything decodes it: a few KiB of PNG can claim a 50,000 x 50,000 canvas.

``thumbnail`` decodes the image at a reduced size (JPEG's DCT scaling through ``draft``) and
writes a WebP of at most ``THUMBNAIL_SIZE``, turned upright per its EXIF orientation.
"""

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# Below Pillow's own warning threshold (about 89.5 megapixels): a 10,000 x 8,000 photo fits.
MAX_IMAGE_PIXELS = 80_000_000
THUMBNAIL_SIZE = (320, 320)
# Formats other than JPEG decode at full size before shrinking (4 bytes a pixel in RGBA):
# past this many pixels no thumbnail is made rather than spend 100+ MB of a worker's memory.
THUMBNAIL_MAX_DECODED_PIXELS = 25_000_000
# JPEG decodes straight to 1/2, 1/4 or 1/8 scale (DCT scaling), whatever its size.
SCALED_DECODE_FORMATS = ("JPEG", "MPO")
THUMBNAIL_FORMAT = "WEBP"
THUMBNAIL_QUALITY = 80
EXIF_ORIENTATION = 0x0112
# EXIF orientations 5-8 are rotated by 90 or 270 degrees: width and height swap on display.
ROTATED_ORIENTATIONS = {5, 6, 7, 8}
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
    try:
        return image.getexif().get(EXIF_ORIENTATION)
    except IMAGE_ERRORS:
        # A broken EXIF block is no reason to refuse the image; it is shown unrotated.
        return None


def thumbnail(file, size=THUMBNAIL_SIZE):
    """A WebP thumbnail (bytes) of the image in ``file``, at most ``size``, upright.

    Call ``dimensions`` first: it refuses images too large to decode.

    Raises:
        UnreadableImage: Pillow cannot decode the image.
        ThumbnailSkipped: the image would take too much memory to decode.
    """
    file.seek(0)
    try:
        with Image.open(file) as image:
            width, height = image.size
            if image.format not in SCALED_DECODE_FORMATS and width * height > THUMBNAIL_MAX_DECODED_PIXELS:
                raise ThumbnailSkipped(f"{width}x{height} {image.format} is too large to decode for a thumbnail")
            image.thumbnail(size)
            small = ImageOps.exif_transpose(image)
            small = _web_mode(small)
            out = io.BytesIO()
            small.save(out, THUMBNAIL_FORMAT, quality=THUMBNAIL_QUALITY)
    except IMAGE_ERRORS as ex:
        raise UnreadableImage(str(ex) or type(ex).__name__) from ex
    return out.getvalue()


def _web_mode(image):
    """The image in a mode WebP stores: RGB, or RGBA when it has transparency."""
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
