"""The numbers the API takes: what a number must hold, and how a form's text writes one.

A number is refused past a double's range (``LARGEST_NUMBER``, about 1.8e308): SQLite reads
a larger integer back as infinity, so it would sort and page differently from PostgreSQL,
which reads it exactly, and the JSON decoder refuses such a float. A JSON body is checked as
it is read (``app.api.request_guard``); a form's text becomes a number later, once its
field's type is known (``posted_number``), and is bound by the same rule (``out_of_range``),
so a form post stores no number a JSON body could not send.
"""

import math
import re
import sys

NUMBER_MESSAGE = "the number is out of range"
LARGEST_NUMBER = sys.float_info.max
# A number as a form control posts it: JSON's number, which may also start with zeros or a
# point (".5"), as HTML's number input writes one. Never Python's "1_000", "+5", "inf" or
# another script's digits, which a JSON body cannot send either.
NUMBER_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Digits of a whole number past which it is past every double (LARGEST_NUMBER has 309), and
# which int() would refuse to read anyway (it stops at 4,300).
MAX_WHOLE_DIGITS = 400


def out_of_range(value):
    """Whether ``value`` is a number no double holds: an integer past ``LARGEST_NUMBER``, or a
    float that is infinite or NaN (``posted_number`` gives infinity for text past that range;
    no JSON decoder gives either)."""
    return type(value) in (int, float) and not -LARGEST_NUMBER <= value <= LARGEST_NUMBER


def posted_number(text):
    """The number a form's ``text`` writes as JSON would write it (``NUMBER_TEXT``; spaces
    around it are allowed, as an input's are trimmed): an int for a whole number written
    without a point or an exponent, else a float; None for text that writes no number.

    The number may be ``out_of_range``, for the caller to refuse as it refuses a JSON body's:
    a whole number too long to read is infinity, past every double as the number itself is.
    """
    text = text.strip()
    if NUMBER_TEXT.fullmatch(text) is None:
        return None
    if "." in text or "e" in text or "E" in text:
        return float(text)
    negative = text.startswith("-")
    digits = text.removeprefix("-").lstrip("0") or "0"
    if len(digits) > MAX_WHOLE_DIGITS:
        return -math.inf if negative else math.inf
    return -int(digits) if negative else int(digits)
