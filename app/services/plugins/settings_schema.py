"""Validating a plugin's settings against the plugin's own schema.

A plugin declares its settings (``PluginInfo.settings_schema``) as a ``msgspec.Struct``
type (converted with ``msgspec.convert``: types, defaults, unknown keys refused when the
Struct says ``forbid_unknown_fields``, and whatever its ``__post_init__`` refuses, by key when
it raises ``SettingError``) or as a small JSON-Schema-like dict::

    {"type": "object",
     "properties": {"greeting": {"type": "string", "maxLength": 80},
                    "level": {"type": "string", "enum": ["low", "high"]}},
     "required": ["greeting"]}

The dict form knows ``type`` (string, integer, number, boolean, array, object), ``enum``,
``minimum``/``maximum``, ``minLength``/``maxLength`` and ``required``; keys outside
``properties`` are refused. A plugin without a schema accepts any JSON object.
"""

import msgspec

from app.services.enums import in_enum, option_text
from app.services.errors import INVALID, ServiceError, validation_detail
from app.services.plugins import SettingError

_TYPES = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,),
}


class InvalidSettings(ServiceError):
    """Settings that break the plugin's schema; ``details`` lists ``[{field, message}]``."""

    kind = INVALID


def validate_settings(schema, settings):
    """``settings`` checked against ``schema``, as plain JSON values (with the schema's defaults).

    Raises:
        InvalidSettings: not an object, or a value breaks the schema.
    """
    if not isinstance(settings, dict):
        raise InvalidSettings("Validation failed", [{"field": "settings", "message": "expected an object"}])
    if schema is None:
        return settings
    if isinstance(schema, dict):
        problems = list(_dict_problems(schema, settings))
        if problems:
            raise InvalidSettings("Validation failed", problems)
        return settings
    try:
        return msgspec.to_builtins(msgspec.convert(settings, schema))
    except msgspec.ValidationError as ex:  # named as the dict schemas name their problems: settings.<key>
        raise InvalidSettings("Validation failed", [_struct_problem(ex)]) from None


def _struct_problem(ex):
    """The ``{field, message}`` of a Struct's refusal. msgspec places a ``__post_init__``
    refusal at the Struct that raised it (``settings`` itself at the top), so the key a
    SettingError names, kept as the ValidationError's cause, is added to that place."""
    detail = validation_detail(ex, "settings")
    refusal = ex.__cause__
    if isinstance(refusal, SettingError):
        return {"field": f"{detail['field']}.{refusal.key}", "message": str(refusal)}
    return detail


def declares_no_settings(schema):
    """Whether ``schema`` declares a plugin with no settings at all: a Struct without fields,
    or a dict schema without properties (None, no schema, takes any object: it is not one)."""
    if schema is None:
        return False
    if isinstance(schema, dict):
        return not schema.get("properties")
    return not getattr(schema, "__struct_fields__", ())


def same_json(stored, sent):
    """Whether ``sent`` is the JSON ``stored`` is, types included: Python's ``==`` takes
    ``1`` for ``true`` and ``1.0`` for ``1``, which JSON (and a settings form) tells apart."""
    return msgspec.json.encode(stored, order="sorted") == msgspec.json.encode(sent, order="sorted")


def _dict_problems(schema, settings):
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in settings:
            yield {"field": f"settings.{name}", "message": "is required"}
    for name, value in settings.items():
        rule = properties.get(name)
        if rule is None:
            yield {"field": f"settings.{name}", "message": "unknown setting"}
            continue
        message = _value_problem(rule, value)
        if message:
            yield {"field": f"settings.{name}", "message": message}


def _value_problem(rule, value):
    kind = rule.get("type")
    if kind in _TYPES:
        wrong_bool = isinstance(value, bool) and kind in ("integer", "number")
        if wrong_bool or not isinstance(value, _TYPES[kind]):
            return f"expected {kind}"
    if "enum" in rule and not in_enum(value, rule["enum"]):
        return f"expected one of {', '.join(map(option_text, rule['enum']))}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in rule and value < rule["minimum"]:
            return f"must be at least {rule['minimum']}"
        if "maximum" in rule and value > rule["maximum"]:
            return f"must be at most {rule['maximum']}"
    if isinstance(value, str):
        if "minLength" in rule and len(value) < rule["minLength"]:
            return f"must be at least {rule['minLength']} characters"
        if "maxLength" in rule and len(value) > rule["maxLength"]:
            return f"must be at most {rule['maxLength']} characters"
    return None
