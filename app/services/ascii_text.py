"""Text folded to ASCII for the names made from it: slugs and usernames.

Accents are folded (``Café`` -> ``Cafe``), and the Latin letters that have no ASCII
decomposition are spelled out (``Straße`` -> ``Strasse``, not ``Strae``), so a name
derived from text in another language keeps its letters.
"""

import unicodedata

# Letters NFKD leaves whole (no base letter plus marks), so folding to ASCII would drop
# them; each becomes the letters it is usually written with in ASCII.
TRANSLITERATION = str.maketrans({
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "ł": "l", "Ł": "l", "þ": "th", "Þ": "th",
    "ħ": "h", "Ħ": "h", "ı": "i", "ŋ": "ng", "Ŋ": "ng", "ŧ": "t", "Ŧ": "t",
})


def to_ascii(text):
    """``text`` with the letters of ``TRANSLITERATION`` spelled out, accents folded, and
    whatever else is not ASCII dropped."""
    spelled = text.translate(TRANSLITERATION)
    return unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")
