"""The four tables a backup holds, as the import sees them: the order they are written in,
the references between them and the unique keys a row is matched by."""

IMPORT_ORDER = ("users", "collections", "media", "content")
SINGULAR = {"users": "user", "collections": "collection", "media": "media", "content": "content"}
# The references the imported rows hold: (table, column, the table it names, whether it may be NULL).
REFERENCES = (
    ("users", "invited_by", "users", True),
    ("media", "uploaded_by", "users", False),
    ("content", "collection_id", "collections", False),
    ("content", "author_id", "users", False),
    ("content", "reviewer_id", "users", True),
    ("content", "featured_image_id", "media", True),
)
# Each table's unique keys: {column: the expression the database compares}. Usernames are
# unique ignoring case; the rule keeps them ASCII, so Python's lower() folds them alike.
UNIQUE_KEYS = {
    "users": {"email": '"email"', "username": 'lower("username")'},
    "collections": {"name": '"name"'},
    "media": {"r2_key": '"r2_key"'},
}
FOLDED = {"username"}  # key columns compared in lower case


def key_value(column, row):
    """``row``'s unique key ``column`` as the database compares it (see ``FOLDED``)."""
    value = row.get(column)
    return value.lower() if column in FOLDED and isinstance(value, str) else value
