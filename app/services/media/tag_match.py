"""Whether one of a media file's tags holds a text: a condition on ``Media`` rows.

``media.tags`` is TEXT holding a JSON array of strings (every write path stores one). A
search compares each tag's value, as ``contains_any_case`` compares a column (any case,
``%`` and ``_`` matching themselves), never the JSON text: a quote or a bracket is no tag's
value, and ``a b`` is one tag. Tags that are not a JSON array of strings (a row written by
hand) hold nothing a search finds, on both databases alike.

The tags are read inside an ``EXISTS`` per row the query already looks at: no other row of
media is read, so a search bounded by an index stays bounded.

Both databases take a text as tags only when ``ARRAY_OF_STRINGS`` matches it, a regular
expression of exactly the arrays of strings PostgreSQL's ``jsonb`` accepts (its ``\\u0000``
and lone surrogates refused as it refuses them), so both find the same files:

* PostgreSQL 15 has no test of JSON that does not raise: the text is cast to ``jsonb`` only
  once the expression matched it.
* SQLite reads the values with ``json_each`` once the expression, a Python function
  registered on the connection, matched. ``json_valid`` alone let a lone surrogate escape
  through, which ``json_each`` decodes into text that is not UTF-8: the fold failed on it,
  and with it every media search.
"""

import re

from peewee import SQL, Case, NodeList, fn

from app.db.database import is_postgres
from app.db.models import Media, database
from app.db.text_match import contains_any_case

_SPACE = "[ \\t\\n\\r]*"
# A character of a JSON string: anything but a quote, a backslash or a control character,
# or an escape jsonb decodes (a surrogate only as the high half of a pair).
_CHARACTER = ("(?:[^\"\\\\\\x01-\\x1f]|\\\\[\"\\\\/bfnrt]"
              "|\\\\u(?!0000)(?![dD][89a-fA-F])[0-9a-fA-F]{4}"
              "|\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2})")
_STRING = f'"{_CHARACTER}*"'
ARRAY_OF_STRINGS = f"^{_SPACE}\\[{_SPACE}(?:{_STRING}(?:{_SPACE},{_SPACE}{_STRING})*)?{_SPACE}\\]{_SPACE}$"


TAGS_FUNCTION = "sonicpy_tags_array"
_ARRAY_OF_STRINGS = re.compile(ARRAY_OF_STRINGS)


def _is_array_of_strings(text):
    return int(isinstance(text, str) and _ARRAY_OF_STRINGS.search(text) is not None)


def tag_contains(text):
    """The condition, on ``Media`` rows, that one of the file's tags contains ``text`` in any case."""
    if is_postgres(database.obj):
        return _postgres(text)
    return _sqlite(text)


def _postgres(text):
    array = Case(None, [(NodeList((Media.tags, SQL("~"), ARRAY_OF_STRINGS)), Media.tags.cast("jsonb"))])
    return _exists(fn.jsonb_array_elements_text(array), "tag", contains_any_case(SQL("tag"), text))


def _sqlite(text):
    # Registered now, before the statement that holds the condition runs (per connection).
    database.obj.connection().create_function(TAGS_FUNCTION, 1, _is_array_of_strings, deterministic=True)
    array = Case(None, [(getattr(fn, TAGS_FUNCTION)(Media.tags) == 1, Media.tags)])
    return _exists(fn.json_each(array), "tag", contains_any_case(SQL("tag.value"), text))


def _exists(rows, name, condition):
    """``EXISTS (SELECT 1 FROM rows AS name WHERE condition)``: ``rows`` a table-valued function."""
    select = NodeList((SQL("SELECT 1 FROM"), rows, SQL(f"AS {name} WHERE"), condition), parens=True)
    return NodeList((SQL("EXISTS"), select))
