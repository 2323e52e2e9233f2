"""A field's RE2 ``pattern`` as an HTML ``pattern`` attribute, when it surely means the same.

The server searches a value with the field's pattern, in RE2 syntax (``patterns``). A
browser compiles an input's ``pattern`` attribute as a JavaScript regular expression, with
the ``v`` flag (the ``u`` flag in older browsers), wrapped as ``^(?:pattern)$``. The two
syntaxes differ (``\\s``, ``.``, what a character class may hold unescaped), and a pattern
searched is not a pattern matched whole. ``html_pattern`` accepts a small subset whose
meaning it knows in all three and answers the text for the attribute, or None: then the
page has no attribute and the server's check alone decides.

The subset, between a leading ``^`` and a trailing ``$`` (a pattern anchored at both ends,
with no other anchor and no alternation outside a group, so a search and a whole match
agree):

* literal characters but for controls and the syntax characters ``^ $ \\ . * + ? ( ) [ ] { } |``;
* ``.`` (written ``[^\\n]``: RE2's dot, which JavaScript's leaves out ``\\r``, U+2028 and U+2029 from);
* ``\\d \\D \\w \\W`` (ASCII in both); ``\\s`` and ``\\S`` (written ``[\\t\\n\\f\\r ]`` and its
  negation: JavaScript's ``\\s`` holds Unicode spaces RE2's does not);
* an escaped ASCII punctuation character;
* groups ``(...)`` and ``(?:...)``, alternation inside them;
* ``? * + {m} {m,} {m,n}``, each with an optional lazy ``?``;
* classes ``[...]`` and ``[^...]`` of characters, ranges ``a-z`` and ``\\d \\D \\w \\W \\s``,
  with none of ``( ) [ ] { } / - \\ | ^`` unescaped but a range's ``-``, and no punctuation
  character twice in a row (the ``v`` flag reserves ``&&``, ``--``, ``!!`` and their kind).

Anything else is refused: named groups, flags such as ``(?i)``, lookaround,
backreferences, ``\\p``, ``\\b``, ``\\x``..., and any pattern RE2 itself refuses.

RE2 takes time linear in the value whatever the pattern; a browser backtracks, and checks
the value again on every keystroke. So the shapes that make a backtracking engine slow are
refused too, though the syntax is the subset's:

* a group repeated more than once (``* + {m} {m,} {m,n}`` but ``{0,1}`` and ``{1}``) holding
  a varying quantifier (``? * + {m,} {m,n}``, m < n) or an alternation: ``^(\\w+\\s?)+$``,
  ``^(a|a)*$``, even ``^\\w+(\\s\\w+)*$``, take time exponential in the value's length;
* a pattern whose estimated cost, (L + 1) ** wide * choices, exceeds ``MAX_COST``: each of
  its ``wide`` quantifiers (``* + {m,}``) may stop at any of the L + 1 places of a value of
  length L (the field's ``maxLength``, else ``ASSUMED_LENGTH``), and ``choices`` is the
  product of the ways each bounded varying quantifier may take its atom (n - m + 1 for
  ``{m,n}``, 2 for ``?``) and of each alternation's branch count. A backtracking
  engine may try every combination when the value fails at its end: ``^a?a?...a?$`` (30 of
  them) tries 2 ** 30, ``^\\S+@\\S+$`` the square of the length.
"""

from app.services.patterns import PatternError, compile_pattern

SYNTAX = frozenset("^$\\.*+?()[]{}|")
# Escaped punctuation JavaScript takes as it is (outside a class; "-" too inside one).
JS_ESCAPABLE = SYNTAX | {"/"}
# Unescaped inside a class: these are syntax to the v flag, "^" to both when first.
CLASS_SPECIAL = frozenset("()[]{}/-\\|^")
CLASS_ESCAPES = {"d": "\\d", "D": "\\D", "w": "\\w", "W": "\\W", "s": "\\t\\n\\f\\r "}
ESCAPES = {**CLASS_ESCAPES, "s": "[\\t\\n\\f\\r ]", "S": "[^\\t\\n\\f\\r ]"}
DOT = "[^\\n]"
MAX_REPEAT = 1000  # RE2's limit on a counted repetition
# The value's length assumed when the field declares no maxLength (the page then sets no
# maxlength, so a paste may be longer): well past what a text box is meant to hold, and it
# lets through at most one wide quantifier (5,001 squared passes MAX_COST), whose cost
# stays linear in the length however long the paste.
ASSUMED_LENGTH = 5000
# A browser checks the pattern on every input event, which must stay well under 100 ms. V8
# steps through a wide quantifier's places at some 10**8 a second, but a combination of
# choices costs it tens of nanoseconds, each walking all the choice points: ^a?...a?$ with
# 20 of them tries 10**6 in about 20 ms, with 23 (10**7) in about 300 ms. So 10**6.
MAX_COST = 10**6


class _Refused(Exception):
    """Outside the subset."""


def html_pattern(pattern, max_length=None):
    """The ``pattern`` attribute meaning what RE2's search with ``pattern`` means, or None.

    Args:
        pattern: a field's ``pattern`` (RE2 syntax), or None.
        max_length: the field's ``maxLength`` (the page's ``maxlength``), or None: the
            longest value the browser checks, which bounds what the pattern may cost it.
    """
    if not isinstance(pattern, str) or len(pattern) < 2 or pattern[0] != "^" or not pattern.endswith("$"):
        return None
    if pattern.endswith("\\$") and _escaped_at(pattern, len(pattern) - 1):
        return None
    parser = _Parser(pattern[1:-1])
    try:
        body = parser.alternation(top=True)
        if parser.pos != len(parser.text):
            return None  # a ")" without its "("
        compile_pattern(pattern)  # the subset, once read, holds no control or lone surrogate
    except (PatternError, _Refused):
        return None
    if _cost(parser, _length(max_length)) > MAX_COST:
        return None  # a browser could take seconds to check a value that fails
    return f"^{body}$"


def _length(max_length):
    """The longest value a browser checks: the page's ``maxlength`` when it sets a usable one."""
    if isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 0:
        return max_length
    return ASSUMED_LENGTH


def _cost(parser, length):
    """The most steps a backtracking engine may take on a value of ``length``, roughly."""
    return (length + 1) ** parser.wide * parser.choices


def _escaped_at(text, index):
    """Whether the character at ``index`` follows an odd run of backslashes."""
    run = 0
    while index - run - 1 >= 0 and text[index - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def _literal_ok(char):
    code = ord(char)
    return code >= 0x20 and code != 0x7F and not 0x80 <= code < 0xA0 and not 0xD800 <= code < 0xE000


class _Parser:
    """A recursive descent over the subset; each method answers the JavaScript text it read."""

    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.varying = 0  # the varying quantifiers and alternations read so far
        self.wide = 0  # the unbounded quantifiers read so far (* + {m,})
        self.choices = 1  # the product of the ways each bounded varying quantifier and alternation may go

    def peek(self, offset=0):
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else None

    def take(self):
        char = self.peek()
        if char is None:
            raise _Refused()
        self.pos += 1
        return char

    def alternation(self, top=False):
        branches = [self.sequence()]
        while self.peek() == "|":
            if top:
                raise _Refused()  # "^a|b$" is "^a" or "b$": neither anchored at both ends
            self.pos += 1
            self.varying += 1
            branches.append(self.sequence())
        self.choices *= len(branches)
        return "|".join(branches)

    def sequence(self):
        parts = []
        while self.peek() not in (None, "|", ")"):
            before = self.varying
            atom = self.atom()
            body_varies = self.varying > before  # only a group's body holds quantifiers or "|"
            quantifier = self.quantifier()
            if body_varies and _repeats(quantifier):
                raise _Refused()  # a varying body repeated: exponential backtracking
            parts.append(atom + quantifier)
        return "".join(parts)

    def atom(self):
        char = self.take()
        if char == "(":
            return self.group()
        if char == "[":
            return self.char_class()
        if char == "\\":
            return self.escape()
        if char == ".":
            return DOT
        if char in SYNTAX or not _literal_ok(char):
            raise _Refused()  # a quantifier with nothing to repeat, a lone "]" "{" "}", an anchor
        return char

    def group(self):
        opening = "("
        if self.peek() == "?":
            if self.peek(1) != ":":
                raise _Refused()  # named groups, flags, lookaround
            self.pos += 2
            opening = "(?:"
        inner = self.alternation()
        if self.take() != ")":
            raise _Refused()
        return f"{opening}{inner})"

    def escape(self):
        char = self.take()
        if char in ESCAPES:
            return ESCAPES[char]
        if char.isascii() and not char.isalnum() and _literal_ok(char) and char != " ":
            return f"\\{char}" if char in JS_ESCAPABLE else char
        raise _Refused()  # \b \p \x \1 \Q ... and escaped letters or digits

    def quantifier(self):
        char = self.peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            text = char
        elif char == "{":
            text = self.counted()
        else:
            return ""
        if self.peek() == "?":
            self.pos += 1
            text += "?"
        if self.peek() in ("*", "+", "?", "{"):
            raise _Refused()  # a quantifier of a quantifier
        low, high = _bounds(text)
        if high != low:
            self.varying += 1
            if high is None:
                self.wide += 1
            else:
                self.choices *= high - low + 1
        return text

    def counted(self):
        end = self.text.find("}", self.pos)
        if end < 0:
            raise _Refused()
        low, comma, high = self.text[self.pos + 1:end].partition(",")
        if not _digits(low) or (high and not _digits(high)):
            raise _Refused()
        if int(low) > MAX_REPEAT or (high and not int(low) <= int(high) <= MAX_REPEAT):
            raise _Refused()
        self.pos = end + 1
        return f"{{{low}{comma}{high}}}"

    def char_class(self):
        opening = "["
        if self.peek() == "^":
            self.pos += 1
            opening = "[^"
        items, previous = [], None  # previous: the last character written unescaped
        while self.peek() != "]":
            char = self.take()
            if char == "\\":
                item = self.class_escape()
            elif char in CLASS_SPECIAL or not _literal_ok(char) or (char == previous and not char.isalnum()):
                raise _Refused()
            else:
                item = char
            if self.peek() == "-" and self.peek(1) != "]":
                item = self.class_range(char, item)
            items.append(item)
            previous = item[-1] if item[-2:-1] != "\\" and not item.endswith(" ") else None
        self.pos += 1
        if not items:
            raise _Refused()  # "[]" and "[^]": RE2 reads the "]" as a member
        return opening + "".join(items) + "]"

    def class_escape(self):
        char = self.take()
        if char in CLASS_ESCAPES:
            return CLASS_ESCAPES[char]
        if char in JS_ESCAPABLE or char == "-":
            return f"\\{char}"
        raise _Refused()

    def class_range(self, first, item):
        if first == "\\" and item not in {f"\\{c}" for c in JS_ESCAPABLE | {"-"}}:
            raise _Refused()  # \d-z
        self.pos += 1
        last = self.take()
        if last == "\\":
            end_item = self.class_escape()
            if len(end_item) != 2 or end_item[1] in CLASS_ESCAPES:
                raise _Refused()
            last = end_item[1]
        elif last in CLASS_SPECIAL or not _literal_ok(last):
            raise _Refused()
        else:
            end_item = last
        start = item[-1]
        if ord(start) > ord(last):
            raise _Refused()
        return f"{item}-{end_item}"


SIMPLE_BOUNDS = {"": (1, 1), "?": (0, 1), "*": (0, None), "+": (1, None)}


def _bounds(quantifier):
    """The least and most (None: no limit) times ``quantifier`` (lazy or not) takes its atom."""
    if len(quantifier) > 1 and quantifier.endswith("?"):
        quantifier = quantifier[:-1]  # lazy: the same bounds
    if quantifier in SIMPLE_BOUNDS:
        return SIMPLE_BOUNDS[quantifier]
    low, comma, high = quantifier[1:-1].partition(",")
    if not comma:
        return int(low), int(low)
    return int(low), int(high) if high else None


def _repeats(quantifier):
    """Whether ``quantifier`` may take its atom more than once."""
    high = _bounds(quantifier)[1]
    return high is None or high > 1


def _digits(text):
    return text.isascii() and text.isdigit() and len(text) <= 4
