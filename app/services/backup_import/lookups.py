"""What the database already holds of the rows a backup brings, asked in chunks of
``IN (...)`` values (a backup may bring thousands of rows, a query takes only so many
parameters)."""

from app.services.backup_import.tables import UNIQUE_KEYS, key_value

IN_CHUNK = 500  # values per IN (...) lookup, well under every database's parameter limit


def rows_in(db, select_where, values, params=()):
    """The rows of ``<select_where> IN (values)``, asked ``IN_CHUNK`` values at a time;
    ``params`` fill the placeholders ``select_where`` holds."""
    p = db.param
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start:start + IN_CHUNK]
        yield from db.execute_sql(f'{select_where} IN ({", ".join([p] * len(chunk))})', (*params, *chunk)).fetchall()


def existing(db, table, column, values, key="id"):
    """``{value: key}`` for rows of ``table`` whose ``column`` is among ``values``."""
    values = sorted({v for v in values if v is not None})
    return dict(rows_in(db, f'SELECT "{column}", "{key}" FROM "{table}" WHERE "{column}"', values))


def users_by_email(db, emails):
    """``{email: (user id, the email as stored)}`` for the users holding ``emails`` (normalised), in this form or
    in another case: an email stored before emails were normalised (``Admin@Example.com``)
    is the same address. SQL's ``lower()`` stands in for the normalisation, which neither
    database can do in full (SQLite has no NFKC; its ``lower()`` folds A-Z only, so a
    stored non-ASCII capital is matched on PostgreSQL alone). Of two users one address
    folds onto, the one holding it as given wins, then the first by id."""
    emails = sorted({email for email in emails if email is not None})
    found = rows_in(db, 'SELECT lower("email"), "email", "id" FROM "users" WHERE lower("email")', emails)
    users = {}
    for folded, stored, user_id in sorted(found, key=lambda row: (row[1] != row[0], row[2])):
        users.setdefault(folded, (user_id, stored))
    return users


def held_usernames(db, usernames):
    """The ``usernames`` users hold in any case, lowercased (usernames are unique ignoring case)."""
    folded = sorted({name.lower() for name in usernames if isinstance(name, str)})
    return {name for (name,) in rows_in(db, 'SELECT lower("username") FROM "users" WHERE lower("username")', folded)}


def held_keys(db, table, rows):
    """``{column: {value, ...}}``: the unique keys of ``rows`` that rows of ``table`` hold,
    as the database compares them (lower case for ``FOLDED`` columns). One query per
    chunk of rows, not one per row: a restore may see thousands refused."""
    keys = UNIQUE_KEYS[table]
    held = {column: set() for column in keys}
    p, per_chunk = db.param, max(1, IN_CHUNK // len(keys))
    for start in range(0, len(rows), per_chunk):
        wanted = {column: sorted({value for row in rows[start:start + per_chunk]
                                  if (value := key_value(column, row)) is not None}) for column in keys}
        asked = [column for column in keys if wanted[column]]
        if not asked:
            continue
        where = " OR ".join(f'{keys[c]} IN ({", ".join([p] * len(wanted[c]))})' for c in asked)
        cursor = db.execute_sql(f'SELECT {", ".join(keys[c] for c in asked)} FROM "{table}" WHERE {where}',
                                [value for c in asked for value in wanted[c]])
        for found in cursor.fetchall():
            for column, value in zip(asked, found):
                held[column].add(value)
    return held


def held_slugs(db, pairs):
    """Those of the target ``{(collection_id, slug)}`` ``pairs`` some content holds, asked
    per collection by equality, which the unique index on the two serves (reading a
    collection's every slug would cost as much as it is large)."""
    slugs_by_collection = {}
    for collection_id, slug in pairs:
        slugs_by_collection.setdefault(collection_id, set()).add(slug)
    select = f'SELECT "slug" FROM "content" WHERE "collection_id" = {db.param} AND "slug"'
    return {(collection_id, slug) for collection_id, slugs in slugs_by_collection.items()
            for (slug,) in rows_in(db, select, sorted(slugs), (collection_id,))}
