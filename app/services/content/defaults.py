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
  default fills in only when neither is given, and is then the item's title. The hooks see
  that default; one that gives the item a ``title`` gives it what the client could have,
  so the default it stood in for is withdrawn (``title_default_settled``) and the hook's
  title fills ``data.title``. A ``data.title`` the client or the hook set is kept. A ``slug``
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


def defaults_added(old_schema, new_schema, fields):
    """A create's ``fields`` (its defaults filled from ``old_schema``, its hooks run) with
    the defaults of the fields ``new_schema`` declares and ``old_schema`` did not: a schema
    save changed the collection before the create was written, and the create is
    validated again against ``new_schema``, as if made after it but for its hooks, which
    ran once. Fields both schemas declare keep what the create has.
    """
    before = schema_properties(old_schema) or {}
    added = {name: config for name, config in (schema_properties(new_schema) or {}).items() if name not in before}
    data = fields.get("data")
    if not added or not isinstance(data, dict):
        return fields
    return {**fields, "data": with_defaults({"properties": added}, data, given=fields)}


def title_default_settled(schema, sent, fields):
    """A create's ``fields`` after its hooks, without the ``title`` default when a hook gave a title.

    The default filled ``data.title`` because the item had no title. A hook that then sets
    ``fields["title"]`` gives the item one, as a client sending it would have, so the
    default is dropped and the item's title fills ``data.title`` (``prepare._synced``):
    the title column and ``data.title`` agree. A ``data.title`` the client sent, or one
    the hook changed, is not the default's and is kept.

    Args:
        schema: the collection's schema.
        sent: the create's fields as the client gave them (before ``fields_with_defaults``).
        fields: the fields after the hooks.
    """
    filled = _filled_title(schema, sent)
    data = fields.get("data")
    if filled is None or fields.get(TITLE) is None or not isinstance(data, dict) or data.get(TITLE) != filled:
        return fields
    return {**fields, "data": {name: value for name, value in data.items() if name != TITLE}}


def _filled_title(schema, sent):
    """The default ``fields_with_defaults`` put in ``data.title`` for a create sent as ``sent``, or None."""
    data = sent.get("data")
    data = {} if data is None else data
    if not isinstance(data, dict) or TITLE in data or _taken_from_the_item(TITLE, sent):
        return None
    return declared_defaults(schema).get(TITLE)
