"""A plugin for the tests of the admin's settings form: a dict schema whose choices are
numbers, booleans, and the text "1" beside the number 1 (see ``typed_choices``)."""

from app.services.plugins import PluginInfo

plugin_info = PluginInfo(
    name="typed-choices-dict",
    display_name="Typed choices (dict schema)",
    description="Settings chosen from numbers and booleans",
    author="tests",
    settings_schema={
        "type": "object",
        "properties": {
            "ratio": {"type": "number", "enum": [0.5, 1, 1.5]},
            "strict": {"type": "boolean", "enum": [True, False]},
            "code": {"enum": ["1", 1]},
        },
    },
    default_settings={"ratio": 1.5, "strict": False, "code": 1},
)
