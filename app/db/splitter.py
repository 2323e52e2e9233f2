"""Split SQL text into statements, and the small tokenizer behind it.

``sqlite3.executescript`` commits before it runs and so can never be atomic; the D1 binding
and the migration runner instead split a script into statements and run them one by one
inside a transaction they control. Splitting on ``;`` alone breaks on semicolons inside
string literals, quoted identifiers, comments and the ``BEGIN ... END`` body of a
``CREATE TRIGGER``; the tokenizer here knows about all of those.

The same tokens serve the D1 binding for finding ``?`` placeholders outside literals.
"""

import re

# One alternative per token kind; order matters (comments before operators, quoted before words).
# PostgreSQL's E'...' strings take backslash escapes (E'it\'s'), other strings do not.
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z)|'(?:[^']|'')*(?:'|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?(?:\$(?P=tag)\$|\Z))
  | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
  | (?P<param>\?[0-9]*|[:@$][A-Za-z_][A-Za-z0-9_]*|\$[0-9]+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)
  | (?P<op>::|.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(sql):
    """Yield ``(kind, text)`` pairs covering ``sql`` exactly, in order.

    Kinds: ``ws``, ``comment``, ``string`` ('...'), ``dollar`` (PostgreSQL $tag$...$tag$),
    ``quoted`` ("...", `...`, [...] identifiers), ``param`` (``?``, ``?NNN``, ``:x``, ``@x``,
    ``$x``, ``$1``), ``word``, ``number`` and ``op`` (``::`` or any other single character).
    An unterminated literal or comment runs to the end of the text, as SQLite reads it.
    """
    for match in _TOKEN_RE.finditer(sql):
        yield match.lastgroup, match.group()


def is_blank(tokens):
    """True when ``tokens`` hold only whitespace and comments (nothing to execute)."""
    return all(kind in ("ws", "comment") for kind, _ in tokens)


class _TriggerTracker:
    """Tell whether a ``;`` ends the statement or sits inside a trigger's BEGIN ... END body.

    Only statements that start ``CREATE [TEMP|TEMPORARY] TRIGGER`` get a body; inside one,
    BEGIN and CASE open a block and END closes it (CASE ... END may appear in the body).
    """

    def __init__(self):
        self.words = []
        self.depth = 0

    def feed(self, word):
        word = word.upper()
        if len(self.words) < 3:
            self.words.append(word)
        if not self._in_trigger():
            return
        if word in ("BEGIN", "CASE"):
            self.depth += 1
        elif word == "END" and self.depth:
            self.depth -= 1

    def _in_trigger(self):
        head = [w for w in self.words if w not in ("TEMP", "TEMPORARY")]
        return head[:2] == ["CREATE", "TRIGGER"]

    def can_end(self):
        return self.depth == 0


def split_tokens(sql):
    """Split ``sql`` into lists of tokens, one list per statement, dropping the ``;``.

    Statements made only of whitespace and comments are skipped.
    """
    statements, current, tracker = [], [], _TriggerTracker()
    for kind, text in tokenize(sql):
        if kind == "op" and text == ";" and tracker.can_end():
            statements.append(current)
            current, tracker = [], _TriggerTracker()
            continue
        if kind == "word":
            tracker.feed(text)
        current.append((kind, text))
    statements.append(current)
    return [tokens for tokens in statements if not is_blank(tokens)]


def split_statements(sql):
    """Split a SQL script into statements, without their trailing ``;``.

    Semicolons inside '...' strings, "..."/`...`/[...] identifiers, PostgreSQL dollar-quoted
    bodies, ``--`` and ``/* */`` comments, and the BEGIN ... END body of CREATE TRIGGER do not
    split. Each statement keeps its own comments and is stripped of surrounding whitespace;
    empty and comment-only statements are skipped.
    """
    return ["".join(text for _, text in tokens).strip() for tokens in split_tokens(sql)]


# Wrangler's words, so a file that works with one tool gets the same answer from the other.
SEVERAL_TRANSACTIONS = (
    "Wrangler could not process the provided SQL file, as it contains several transactions.\n"
    "D1 runs your SQL in a transaction for you.\n"
    "Please export an SQL file from your SQLite database and try again."
)
# First words of statements that open, end or nest a transaction.
_TRANSACTION_WORDS = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"}


class SeveralTransactions(ValueError):
    """SQL holding transaction control besides the one BEGIN/COMMIT pair a dump wraps itself in."""


def without_transaction_pair(statements):
    """``statements`` without the ``BEGIN [TRANSACTION]``/``COMMIT`` pair sqlite3's ``.dump``
    wraps its output in, as wrangler strips it (the whole run is one transaction anyway):
    the first BEGIN and the first COMMIT (or END) after it. Comments around them do not count.

    Raises:
        SeveralTransactions: another transaction statement remains (wrangler's message), a
            lone BEGIN or COMMIT included.
    """
    words = [[text.upper() for kind, text in tokenize(statement) if kind not in ("ws", "comment")]
             for statement in statements]
    begin = next((i for i, w in enumerate(words) if w in (["BEGIN"], ["BEGIN", "TRANSACTION"])), None)
    ends = (["COMMIT"], ["COMMIT", "TRANSACTION"], ["END"], ["END", "TRANSACTION"])
    commit = None if begin is None else next((i for i, w in enumerate(words) if i > begin and w in ends), None)
    pair = {begin, commit} if commit is not None else set()
    kept = []
    for i, (statement, first) in enumerate(zip(statements, words)):
        if i in pair:
            continue
        if first[:1] and (first[0] in _TRANSACTION_WORDS or first[:2] == ["START", "TRANSACTION"]):
            raise SeveralTransactions(SEVERAL_TRANSACTIONS)
        kept.append(statement)
    return kept
