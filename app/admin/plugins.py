"""Plugins (``plugins.manage``): the list, activation, uninstalling, and a settings form from each plugin's schema.

Everything goes through the plugin registry's public methods, as ``/admin/api/plugins``
does (``list``, ``get``, ``set_active``, ``update_settings``): the same validation against
the plugin's schema, the same activity rows, the same cache invalidation.

The form has one control per property of the schema (a ``msgspec.Struct`` is read through
its JSON Schema): a checkbox for booleans, a number input for numbers, a select for an
``enum``, a textarea with one value per line for a list of strings, a JSON textarea for
other lists and objects, and a text input otherwise. A plugin without a schema gets one
JSON textarea for its whole settings object.

A select's options are the content form's (``app.admin.choices``): an enum of numbers or
booleans shows the stored value selected and saves the value chosen, not its text, and
its empty option leaves the setting as emptying any other control does.
"""

import json

import falcon
import msgspec

from app.admin.choices import choices_of, chosen_value, shown_choice
from app.admin.pages import form_as_typed, one, redirect
from app.api.access import access
from app.api.authentication import signed_in_by_header
from app.services.plugins.settings_schema import InvalidSettings

WHOLE = "settings"  # the field of a plugin without a schema: the whole object as JSON
FIELD_PREFIX = "settings."


def schema_properties(schema):
    """``(properties, required names)`` of a plugin's settings schema, or None without one."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        document = msgspec.json.schema(schema)
        schema = document.get("$defs", {}).get(document.get("$ref", "").rsplit("/", 1)[-1], document)
    return schema.get("properties", {}), set(schema.get("required", ()))


def _kind(rule):
    """The first non-null type of a property (``anyOf`` of optional values included); a
    ``$ref`` (a nested Struct, an object) or an ``enum`` (a ``Literal``) counts as a type."""
    for option in rule.get("anyOf", [rule]):
        if option.get("type") not in (None, "null") or "$ref" in option or "enum" in option:
            return option
    return rule


def control_of(rule):
    """The form control for one property of the schema."""
    rule = _kind(rule)
    kind = rule.get("type")
    if "enum" in rule:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array" and rule.get("items", {}).get("type") == "string":
        return "lines"
    if kind in ("array", "object") or "$ref" in rule:  # a nested Struct is an object, edited as JSON
        return "json"
    return "text"


def form_fields(plugin, schema, posted=None, problems=None):
    """The controls of ``plugin``'s settings form: ``[{name, label, control, value, ...}]``."""
    described = schema_properties(schema)
    settings = plugin["settings"]
    errors = {p.get("field"): p.get("message") for p in problems or [] if isinstance(p, dict)}
    if described is None:
        value = posted.get(WHOLE) if posted else json.dumps(settings, indent=2)
        return [{"name": WHOLE, "input": WHOLE, "label": "Settings (JSON)", "control": "json", "value": value,
                 "choices": (), "required": False, "help": None, "error": errors.get(WHOLE)}]
    properties, required = described
    fields = []
    for name, rule in properties.items():
        control = control_of(rule)
        stored = settings.get(name, rule.get("default"))
        shown = shown_choice(_kind(rule), stored) if control == "select" else _shown(control, stored)
        fields.append({
            "name": name, "input": FIELD_PREFIX + name, "control": control,
            "label": rule.get("title") or name.replace("_", " ").capitalize(),
            "value": posted.get(name, "" if control != "checkbox" else False) if posted is not None else shown,
            "choices": choices_of(_kind(rule)), "required": name in required,
            "help": rule.get("description"), "error": _error_of(errors, name) or errors.get(WHOLE),
        })
    return fields


def _error_of(errors, name):
    """The message of the problem with the setting ``name`` or with a value inside it
    (``settings.ttl.content`` is the ``ttl`` field's: the form edits that object whole)."""
    own = FIELD_PREFIX + name
    for field, message in errors.items():
        if field == own or (isinstance(field, str) and field.startswith((own + ".", own + "["))):
            return message
    return None


def _shown(control, value):
    if control == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if control == "lines":
        return "\n".join(str(item) for item in value)
    if control == "json":
        return json.dumps(value, indent=2)
    return str(value)


def settings_from_form(schema, form):
    """``(settings, posted)``: the values to validate, and the form's raw values to show again.

    Values that do not parse (a number that is not one, broken JSON) are passed on as text,
    so the schema's own message ("expected number") is what the page shows.
    """
    described = schema_properties(schema)
    if described is None:
        raw = one(form, WHOLE)
        return _json_or_text(raw), {WHOLE: raw}
    settings, posted = {}, {}
    for name, rule in described[0].items():
        control = control_of(rule)
        raw = one(form, FIELD_PREFIX + name, None)
        if control == "checkbox":
            settings[name] = posted[name] = raw is not None
            continue
        posted[name] = raw or ""
        if raw is None:
            continue  # not in the form: the stored value stays
        chosen = chosen_value(_kind(rule), raw) if control == "select" else None
        if chosen is not None:
            settings[name] = chosen  # an option, even one of blanks only
            continue
        if raw.strip() == "" and (control != "text" or _nullable(rule)):
            # Emptied: back to "not set" (null) where the schema allows it, else to the
            # schema's default; a field with neither keeps its stored value.
            if _nullable(rule):
                settings[name] = None
            elif "default" in rule:
                settings[name] = rule["default"]
            continue
        settings[name] = _parsed(control, _kind(rule), raw)
    return settings, posted


def _nullable(rule):
    """Whether a property of the schema takes null (``anyOf`` with null, a type list holding
    it, or an ``enum`` listing it)."""
    types = rule.get("type")
    return any(option.get("type") == "null" or None in option.get("enum", ())
               for option in rule.get("anyOf", [rule])) or (isinstance(types, list) and "null" in types)


def _parsed(control, rule, raw):
    if control == "select":
        # The enum's value the option stands for; text that is no option goes to the
        # schema as it is, which says what it must be.
        chosen = chosen_value(rule, raw)
        return raw if chosen is None else chosen
    if control == "number":
        try:
            return int(raw) if rule.get("type") == "integer" else float(raw)
        except ValueError:
            return raw
    if control == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if control == "json":
        return _json_or_text(raw)
    return raw


def _json_or_text(raw):
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # no JSON, or nested past what the parser takes
        return raw


class PluginsPage:
    """``GET /admin/plugins``: every plugin with its state and an activate/deactivate button."""

    def __init__(self, renderer, registry):
        self._renderer = renderer
        self._registry = registry

    @access("plugins.manage")
    def on_get(self, req, resp):
        done = {"activated": "Plugin activated.", "deactivated": "Plugin deactivated.",
                "uninstalled": "Plugin uninstalled."}.get(req.get_param("done"))
        self._renderer.page(req, resp, "plugins.html", plugins=self._registry.list(), done=done)


class PluginPage:
    """``GET /admin/plugins/{name}``: the plugin and its settings form; ``POST`` saves the settings."""

    def __init__(self, renderer, registry):
        self._renderer = renderer
        self._registry = registry

    def _schema(self, name):
        info = self._registry.infos.get(name)
        return info.settings_schema if info else None

    def render(self, req, resp, plugin, status=falcon.HTTP_200, posted=None, problems=None):
        """The plugin's page; ``posted`` and ``problems`` after a refused save."""
        fields = form_fields(plugin, self._schema(plugin["name"]), posted, problems)
        self._renderer.page(
            req, resp, "plugin.html", status=status, plugin=plugin, fields=fields, problems=problems or [],
            refused=posted is not None,
            done="Settings saved." if req.get_param("done") else None,
        )

    @access("plugins.manage")
    def on_get(self, req, resp, name):
        self.render(req, resp, self._registry.get(name))

    @access("plugins.manage")
    def on_post(self, req, resp, name):
        plugin = self._registry.get(name)
        form, refused = form_as_typed(req)
        settings, posted = settings_from_form(self._schema(name), form)
        if refused:  # a NUL pasted: by its field, the rest as typed, nothing saved
            self.render(req, resp, plugin, falcon.HTTP_422, posted, refused)
            return
        try:
            self._registry.update_settings(name, settings, req.context.user.id)
        except InvalidSettings as ex:
            self.render(req, resp, plugin, falcon.HTTP_422, posted, ex.details)
            return
        redirect(resp, f"/admin/plugins/{name}?done=1")


class PluginSwitchAction:
    """``POST /admin/plugins/{name}/activate`` or ``/deactivate``.

    A browser goes back to the plugins page; an API client (a credential in a header, as
    SonicJS's clients call these routes) gets SonicJS's ``{"success": true}`` with the plugin
    as ``data``.
    """

    def __init__(self, registry, active):
        self._registry = registry
        self._active = active

    @access("plugins.manage")
    def on_post(self, req, resp, name):
        plugin = self._registry.set_active(name, self._active, req.context.user.id)
        if signed_in_by_header(req):
            resp.media = {"success": True, "data": plugin}
        else:
            redirect(resp, "/admin/plugins?done=" + ("activated" if self._active else "deactivated"))


class PluginUninstallAction:
    """``POST /admin/plugins/{name}/uninstall`` (SonicJS's route): ``PluginRegistry.uninstall``.

    A browser goes back to the plugins page; an API client gets ``{"success": true}`` with
    the plugin's new row (or null) as ``data``. A core or active plugin is a 409.
    """

    def __init__(self, registry):
        self._registry = registry

    @access("plugins.manage")
    def on_post(self, req, resp, name):
        reinstalled = self._registry.uninstall(name, req.context.user.id)
        if signed_in_by_header(req):
            resp.media = {"success": True, "data": reinstalled}
        else:
            redirect(resp, "/admin/plugins?done=uninstalled")
