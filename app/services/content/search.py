"""``search=``: one query syntax, written for SQLite FTS5 and for PostgreSQL ``tsquery``.

The syntax:

* words are AND-ed: ``red bike`` finds items holding both words, anywhere;
* ``"quoted words"`` are a phrase: the words next to each other, in that order;
* a word ending in ``*`` is a prefix: ``bik*`` finds bike, bikes, biking;
* case does not matter; punctuation separates words (``e-mail`` is the phrase ``"e mail"``),
  other operators (OR, NOT, NEAR, column filters) are plain words.

A word is a run of letters and digits (any script) with the combining marks they carry
(Devanagari's vowel signs and virama, Hebrew points): PostgreSQL's search vector keeps such
a run as one word (``simple`` configuration, punctuation and symbols made spaces first).
SQLite's ``unicode61`` tokenizer splits it at some marks, in the text and in the query's
quoted words alike, so a whole word finds the same items on both; a part of such a word
(``नमस`` of ``नमस्ते``) finds it on SQLite only. Text with no word at all finds nothing.
The other numbers (category No: ``²``, ``½``) are word characters here and to SQLite, but
PostgreSQL's parser (under a locale other than C) splits words at them, in the text and in
the query alike: ``x²`` is ``x`` there, and ``½`` no word.
Spaces and format characters (no-break and zero-width spaces, soft hyphens) separate
words here and in both indexes, but for those Unicode added after 6.1 (bidi isolates), word
characters to SQLite's tokenizer, and all of them under a C locale on PostgreSQL, whose
parser then takes every character past ASCII for a letter. The query splits at every one:
the joined words are what each index stores, which no query's parsing can change.

Case: SQLite's tokenizer folds the query's words as it folded the text, so they reach it as
written; PostgreSQL's words are folded as its search vector folds the text (``fold_word``).
"""

import functools
import re
from dataclasses import dataclass

from app.db.derived import combining_marks, fold_word

_PART = re.compile(r'"([^"]*)"?|(\S+)')


@functools.cache
def _word():
    """A word: a letter or digit, then letters, digits and the marks they carry (made once)."""
    return re.compile(r"[^\W_](?:[^\W_]|" + combining_marks() + ")*")


@dataclass(frozen=True)
class Term:
    """One AND-ed term: its words as written (several: a phrase), and whether the last is a prefix."""

    words: tuple
    prefix: bool = False


def parse_search(text):
    """The terms of a ``search=`` text (an empty tuple when it holds no word)."""
    terms = []
    for phrase, bare in _PART.findall(text):
        chunk = phrase if phrase or not bare else bare
        words = tuple(_word().findall(chunk))
        if words:
            terms.append(Term(words, prefix=bool(bare) and bare.endswith("*")))
    return tuple(terms)


def fts5_query(terms):
    """The FTS5 MATCH expression of ``terms`` (words are letters and digits: safe in quotes;
    the tokenizer folds their case as it folded the text's: ``İ`` is ``İ`` to both)."""
    return " ".join(f'"{" ".join(term.words)}"' + ("*" if term.prefix else "") for term in terms)


def tsquery(terms):
    """The ``to_tsquery('simple', ...)`` text of ``terms``."""
    def lexeme(word, prefix):
        return f"'{fold_word(word)}'" + (":*" if prefix else "")

    parts = []
    for term in terms:
        last = len(term.words) - 1
        parts.append(" <-> ".join(lexeme(word, term.prefix and i == last) for i, word in enumerate(term.words)))
    return " & ".join(f"({part})" for part in parts)
