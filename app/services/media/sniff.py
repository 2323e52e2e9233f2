"""What a file really is, from its own bytes: magic numbers, then SVG and plain-text checks.

SonicJS trusts the MIME type the client declares, so an executable renamed ``photo.png``
is stored and served as an image. Here the client's header and file name are ignored:
``detect`` looks at the content and answers one of the allowed types, or None.

Binary formats are recognised by ``filetype`` (magic numbers in the first 8 KiB). Text has
no magic number: a file is text when all of it is valid UTF-8 without NUL bytes (the
uploader checks that while spooling, see ``TextProbe``), and text whose root element is
``<svg`` is SVG. Everything else, executables included, is refused.
"""

import codecs
from dataclasses import dataclass

import filetype

# Bytes of the file's start that ``detect`` needs: 8 KiB for filetype, more for SVG files
# with a long prologue (XML declaration, comments, DOCTYPE).
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileType:
    """An allowed type.

    Attributes:
        mime: the canonical MIME type stored and served.
        extension: the extension of generated keys (from the content, never the name).
        kind: ``image``, ``video``, ``audio`` or ``document`` (the list's ``type`` filter).
        raster: whether Pillow reads its dimensions and makes a thumbnail.
    """

    mime: str
    extension: str
    kind: str
    raster: bool = False


JPEG = FileType("image/jpeg", "jpg", "image", raster=True)
PNG = FileType("image/png", "png", "image", raster=True)
GIF = FileType("image/gif", "gif", "image", raster=True)
WEBP = FileType("image/webp", "webp", "image", raster=True)
SVG = FileType("image/svg+xml", "svg", "image")
PDF = FileType("application/pdf", "pdf", "document")
TEXT = FileType("text/plain", "txt", "document")
DOC = FileType("application/msword", "doc", "document")
DOCX = FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "document")
MP4 = FileType("video/mp4", "mp4", "video")
WEBM = FileType("video/webm", "webm", "video")
OGG_VIDEO = FileType("video/ogg", "ogv", "video")
AVI = FileType("video/x-msvideo", "avi", "video")
MOV = FileType("video/quicktime", "mov", "video")
MP3 = FileType("audio/mpeg", "mp3", "audio")
WAV = FileType("audio/wav", "wav", "audio")
OGG_AUDIO = FileType("audio/ogg", "ogg", "audio")
M4A = FileType("audio/mp4", "m4a", "audio")

# SonicJS's media allow-list (images, documents, audio, video), keyed by what filetype answers.
# APNG is a PNG to every reader; M4V is Apple's name for MP4.
ALLOWED_BY_SIGNATURE = {
    "image/jpeg": JPEG,
    "image/png": PNG,
    "image/apng": PNG,
    "image/gif": GIF,
    "image/webp": WEBP,
    "application/pdf": PDF,
    "application/msword": DOC,
    DOCX.mime: DOCX,
    "video/mp4": MP4,
    "video/x-m4v": MP4,
    "video/webm": WEBM,
    "video/x-msvideo": AVI,
    "video/quicktime": MOV,
    "audio/mpeg": MP3,
    "audio/x-wav": WAV,
    "audio/ogg": OGG_AUDIO,
    "audio/mp4": M4A,
}
ALLOWED_TYPES = tuple(sorted({*ALLOWED_BY_SIGNATURE.values(), SVG, TEXT, OGG_VIDEO}, key=lambda t: t.mime))

# An Ogg stream whose first codec header is Theora is a video.
THEORA_HEADER = b"\x80theora"
UTF8_BOM = "\ufeff"


def detect(head, is_text):
    """The allowed type of a file, or None when it is not one.

    Args:
        head: the first ``HEAD_BYTES`` bytes of the file (fewer if it is shorter).
        is_text: whether the whole file is valid UTF-8 without NUL bytes.
    """
    guessed = filetype.guess(head)
    if guessed is not None:
        found = ALLOWED_BY_SIGNATURE.get(guessed.mime)
        if found is OGG_AUDIO and THEORA_HEADER in head:
            return OGG_VIDEO
        return found
    if not is_text:
        return None
    # The head may end inside a multi-byte character; the rest of it is what counts.
    text = head.decode("utf-8", errors="ignore")
    return SVG if has_svg_root(text) else TEXT


def has_svg_root(text):
    """True when the XML document ``text`` starts (after its prologue) with an ``<svg`` element.

    The prologue is skipped by hand, in one linear pass: whitespace, the XML declaration,
    processing instructions, comments and a DOCTYPE (with an internal subset). No XML parser
    runs, so entity expansion ("billion laughs") cannot happen here.
    """
    pos = 1 if text.startswith(UTF8_BOM) else 0
    end = len(text)
    while pos < end:
        if text[pos].isspace():
            pos += 1
        elif text.startswith("<?", pos):
            pos = _after(text, "?>", pos + 2)
        elif text.startswith("<!--", pos):
            pos = _after(text, "-->", pos + 4)
        elif text.startswith("<!DOCTYPE", pos):
            pos = _after_doctype(text, pos + 9)
        else:
            break
    return text.startswith("<svg", pos) and (pos + 4 < end and (text[pos + 4].isspace() or text[pos + 4] in "/>"))


def _after(text, terminator, start):
    found = text.find(terminator, start)
    return len(text) if found < 0 else found + len(terminator)


def _after_doctype(text, start):
    close = text.find(">", start)
    subset = text.find("[", start)
    if 0 <= subset < close or (close < 0 <= subset):
        # The internal subset may itself hold '>' (entity declarations): skip past "]".
        return _after(text, ">", _after(text, "]", subset + 1))
    return len(text) if close < 0 else close + 1


class TextProbe:
    """Decides, chunk by chunk, whether a whole stream is UTF-8 text without NUL bytes."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.is_text = True

    def feed(self, chunk):
        """Check the next chunk (stops checking once the stream is known not to be text)."""
        if not self.is_text:
            return
        if b"\x00" in chunk:
            self.is_text = False
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self.is_text = False

    def finish(self):
        """Whether the stream was text (a truncated multi-byte character at the end is not)."""
        if self.is_text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.is_text = False
        return self.is_text
