"""The one rule naming a person wherever a page or the API shows who someone is.

A person is named by their first and last name (whichever of the two they have), else by
their username, else by their email address. The first admin, made by ``dev`` or ``serve``
without names, is thus ``admin`` rather than a blank: a blank author, editor or assignee
cannot be told apart, and a blank link cannot be opened.
"""


def display_name(first_name, last_name, username=None, email=None):
    """``"Ada Lovelace"``, ``"Ada"``, else ``username``, else ``email``, else ``""``.

    Callers that may not show an email address (the public API) leave ``email`` out.
    """
    name = " ".join(part.strip() for part in (first_name, last_name) if part and part.strip())
    return name or (username or "").strip() or (email or "").strip()


def person_name(person):
    """``display_name`` of a user row or of a mapping with its fields (missing ones count as empty)."""
    if person is None:
        return ""
    if isinstance(person, dict):
        field = person.get
    else:
        def field(name):
            return getattr(person, name, None)
    return display_name(field("first_name"), field("last_name"), field("username"), field("email"))
