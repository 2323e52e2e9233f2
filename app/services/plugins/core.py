"""The plugins built into sonicpy, registered like any other (optional behaviours live here)."""

CORE_PLUGINS = ()
