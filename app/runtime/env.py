"""The ``env`` a Worker receives: one object per bindings of the selected environment.

``build_env(config)`` opens each binding with the backend its own keys choose, through its
type in ``app.runtime.bindings``. It is called
once per worker process (after gunicorn forks); the memcached and S3 clients inside the
bindings are created lazily on first use, and again if the process id changes, so no
socket is ever shared across a fork.
"""

from app.runtime.bindings import BINDING_TYPES
from app.runtime.config import ConfigError


class Env:
    """Bindings by name (``env.DB``, ``env.MEDIA_BUCKET``, ``env.CACHE_KV``), vars and secrets.

    As in a Worker, ``env.NAME`` also reads a secret or a ``[vars]`` entry; a name that is
    none of these raises AttributeError, like an unconfigured binding.
    """

    def __init__(self, config, bindings):
        self.config = config
        self.bindings = bindings
        self.name = config.name
        self.env_name = config.env_name

    def __getattr__(self, key):
        bindings = self.__dict__.get("bindings", {})
        if key in bindings:
            return bindings[key]
        config = self.__dict__.get("config")
        if config is not None:
            value = config.setting(key)
            if value is not None:
                return value
        raise AttributeError(f"env has no binding, var or secret named {key!r}")

    def get(self, key, default=None):
        """A binding, secret or var by name, or ``default``."""
        try:
            return getattr(self, key)
        except AttributeError:
            return default

    def binding_types(self):
        """Binding name -> its ``BindingType``, for every binding of this env."""
        return {
            table["binding"]: BINDING_TYPES[kind]
            for kind, tables in self.config.bindings.items()
            for table in tables
        }

    def close(self):
        """Release this process's connections to every binding (each reopens on next use)."""
        for name, binding_type in self.binding_types().items():
            if name in self.bindings:
                binding_type.close(self.bindings[name])


def open_binding(config, kind, table):
    """Open one binding (``table`` of ``kind``, a ``BindingKind``) with the backend its keys choose.

    Raises:
        ConfigError: the binding's values cannot be used (an unset credential variable, a
            bad URL scheme or timeout, an unsafe name); the message names file, env and binding.
    """
    try:
        return BINDING_TYPES[kind].open(table, config)
    except (ValueError, TypeError) as ex:
        raise ConfigError(
            f"{config.path} (environment {config.env_label}): {kind} ({table['binding']}): {ex}"
        ) from None


def build_env(config):
    """Open every binding of ``config`` and return the Env."""
    bindings = {}
    for kind, tables in config.bindings.items():
        for table in tables:
            bindings[table["binding"]] = open_binding(config, kind, table)
    return Env(config, bindings)
