"""The ``env`` a Worker receives: one object per bindings of the selected environment.

``build_env(config)`` opens each binding with the backend its own keys choose. It is called
once per worker process (after gunicorn forks); the memcached and S3 clients inside the
bindings are created lazily on first use, and again if the process id changes, so no
socket is ever shared across a fork.
"""

from app.runtime.config import ConfigError
from app.runtime.d1 import open_d1
from app.runtime.kv import open_kv
from app.runtime.r2 import open_bucket

OPENERS = {
    "d1_databases": lambda table, config: open_d1(table, config.state_dir / "v3", config.secrets),
    "r2_buckets": lambda table, config: open_bucket(table, config.state_dir / "v3", config.secrets),
    "kv_namespaces": lambda table, config: open_kv(table, config.state_dir / "v3"),
}


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
        """Binding name -> its type (``d1_databases``, ``r2_buckets``, ``kv_namespaces``)."""
        return {
            table["binding"]: binding_type
            for binding_type, tables in self.config.bindings.items()
            for table in tables
        }


def open_binding(config, binding_type, table):
    """Open one binding (``table`` of ``binding_type``) with the backend its keys choose.

    Raises:
        ConfigError: the binding's values cannot be used (an unset credential variable, a
            bad URL scheme or timeout, an unsafe name); the message names file, env and binding.
    """
    try:
        return OPENERS[binding_type](table, config)
    except (ValueError, TypeError) as ex:
        raise ConfigError(
            f"{config.path} (environment {config.env_label}): {binding_type} ({table['binding']}): {ex}"
        ) from None


def build_env(config):
    """Open every binding of ``config`` and return the Env."""
    bindings = {}
    for binding_type, tables in config.bindings.items():
        for table in tables:
            bindings[table["binding"]] = open_binding(config, binding_type, table)
    return Env(config, bindings)
