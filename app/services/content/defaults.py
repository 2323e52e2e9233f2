"""Declared field defaults, filled into the ``data`` of a NEW item.

A top-level field of a collection schema may declare ``default`` (``collection_schema``
checks, when the collection is saved, that it is a value the field takes). A create fills
it in first (``fields_with_defaults``), before the ``before_content_create`` hooks and
validation: a hook sees the data that will be stored, what it changes is validated with
the rest, and a required field with a default is satisfied by it. The rules:

* Create only. An update does what its body says (``PUT``'s ``data`` replaces data
  wholesale): a field it leaves out is not filled back in.
* A field LEFT OUT of ``data`` gets its default. A field sent as ``null`` keeps ``null``,
  and validation judges it as it judges any ``null`` (missing: accepted for an optional
  field, "is required" for a required one): ``null`` is how a client says "no value" on
  purpose, and how the admin's new-item form saves a default the user emptied.
* ``title`` and ``slug`` mirror the item's own columns. A ``title`` given beside ``data``
  counts as the ``title`` field given (the item's title is copied into ``data``), so its
  default fills in only when neither is given, and is then the item's title. A ``slug``
  field's default is not used: the item's slug, given or generated from the title, is
  unique in the collection, so a fixed default could serve one item only.
* Top-level fields only: fields inside objects, list items and blocks are not filled (a
  block or item the client sends is its whole value).
* Each default is a deep copy: no two items, and not the collection's schema, share a
  list or dict.
* Filled in once, before the hooks: a field a hook removes stays removed (and is refused
  if required), as a hook's every other change is kept and validated.
"""

import copy

from app.services.content.validation import schema_properties

# The data field mirroring the item's title (``prepare._synced``), and the one mirroring
# its slug, which always takes the item's.
TITLE, SLUG = "title", "slug"


def declared_defaults(schema):
    """``{field name: default}`` of the top-level fields of ``schema`` that declare one.

    A stored schema leaves out a ``null`` default (the canonical form omits it), so a
    ``null`` default is no default.
    """
    return {
        name: config["default"]
        for name, config in (schema_properties(schema) or {}).items()
        if isinstance(config, dict) and config.get("default") is not None
    }


def with_defaults(schema, data, given=None):
    """A copy of a new item's ``data`` with the default of each field it leaves out.

    Args:
        schema: the collection's schema.
        data: the ``data`` the create was given (anything but an object is returned as
            it is, for validation to refuse).
        given: the create's other fields: a ``title`` there counts as the data field given.
    """
    if not isinstance(data, dict):
        return data
    filled = dict(data)
    for name, default in declared_defaults(schema).items():
        if name not in filled and not _taken_from_the_item(name, given or {}):
            filled[name] = copy.deepcopy(default)
    return filled


def _taken_from_the_item(name, given):
    """Whether data field ``name`` gets the item's own value instead of a default."""
    return name == SLUG or (name == TITLE and given.get(TITLE) is not None)


def fields_with_defaults(schema, fields):
    """A copy of a create's ``fields`` whose ``data`` has the defaults (``with_defaults``).

    A create without ``data`` has empty data, so its defaults still fill in; the caller's
    ``fields`` and the data in it are left as they were.
    """
    data = fields.get("data")
    return {**fields, "data": with_defaults(schema, {} if data is None else data, given=fields)}
