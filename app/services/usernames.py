"""Usernames derived from an email address, for accounts created without one.

``ed.jones@example.com`` becomes ``ed.jones``; when that is taken, ``ed.jones2``, then
``ed.jones3``... The local part is lowercased, a ``+tag`` (sub-address) is dropped, accents
are folded to ASCII and letters without an ASCII decomposition spelled out, as for slugs
(``straße`` -> ``strasse``; ``app.services.ascii_text``), and any other character a username
may not hold is removed.

A derived username obeys the same rule as one a client chooses (``USERNAME_PATTERN`` of
``app.services.accounts``: 3 to 50 of ``A-Z a-z 0-9 _ . -``), so it can always be sent back
as is. A local part shorter than that gets its number at once, padded to the minimum
length: ``ed`` -> ``ed1``, ``a`` -> ``a01``.

Usernames are unique ignoring case (``same_username``): ``ADMIN`` cannot join ``admin``,
whose lists, assignments and logs it would pass for. The users table holds it with a unique
index on ``lower(username)``; the checks before a write ask the same question, so a
case-variant is refused as an exact copy is.
"""

import re

from peewee import fn

from app.db.models import User
from app.services.ascii_text import to_ascii

MIN_LENGTH = 3
MAX_LENGTH = 50
FALLBACK = "user"  # when nothing of the local part is usable
_NOT_ALLOWED = re.compile(r"[^a-z0-9_.-]")
# Candidates looked up per query: the first batch nearly always holds a free one.
BATCH = 20


def username_base(email):
    """The local part of ``email`` reduced to the characters a username may hold.

    Args:
        email: an address (``ed+cms@example.com``); anything before the last ``@``.

    Returns:
        The cleaned local part (``ed``), at most ``MAX_LENGTH`` long, or ``FALLBACK``.
    """
    local = email.rsplit("@", 1)[0].split("+", 1)[0]
    return _NOT_ALLOWED.sub("", to_ascii(local).lower())[:MAX_LENGTH] or FALLBACK


def numbered(base, number):
    """``base`` followed by ``number``, trimmed to ``MAX_LENGTH`` and padded to ``MIN_LENGTH``."""
    digits = str(number).zfill(max(MIN_LENGTH - len(base), 1))
    return base[: MAX_LENGTH - len(digits)] + digits


def candidates(base, start, count):
    """``count`` usernames to try, from the ``start``-th: ``base`` itself is the first when
    it is long enough, then ``base2``, ``base3``... (``base1``... when it is too short)."""
    if len(base) >= MIN_LENGTH:
        names = [base] + [numbered(base, n) for n in range(2, start + count + 1)]
    else:
        names = [numbered(base, n) for n in range(1, start + count + 1)]
    return names[start:start + count]


def free_username(email, taken=None):
    """The first derived username of ``email`` that no account holds yet.

    Args:
        email: the new account's address.
        taken: ``taken(names) -> set`` of those already in use; default: the users table.
            Two accounts created at the same instant may still pick the same name: the
            table's unique constraint refuses the second.
    """
    taken = taken or taken_usernames
    base = username_base(email)
    start = 0
    while True:
        batch = candidates(base, start, BATCH)
        used = taken(batch)
        for name in batch:
            if name not in used:
                return name
        start += BATCH


def same_username(username):
    """The condition on users whose username is ``username`` ignoring case, as the table's
    unique index on ``lower(username)`` compares them (the database lowers both sides)."""
    return fn.LOWER(User.username) == fn.LOWER(username)


def taken_usernames(names):
    """The subset of ``names`` (lowercase, as derived) that users hold in any case (one query)."""
    held = User.select(fn.LOWER(User.username)).where(fn.LOWER(User.username).in_(names)).tuples()
    return {name for (name,) in held}
