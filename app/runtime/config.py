"""bindings.toml: wrangler.toml syntax and environment rules, stricter where wrangler only warns.

The top level is the default environment. ``--env NAME`` selects ``[env.NAME]``:

* ``name``, ``main``, compatibility keys and ``triggers`` are inherited from the top level;
* bindings (``d1_databases``, ``r2_buckets``, ``kv_namespaces``, ``ai``) and ``vars`` are not, and
  must be redeclared; a binding declared at the top level but missing from the selected
  environment is an error here (wrangler only warns, then serves without it);
* an environment without its own ``name`` is named ``<name>-<env>``.

Secret values never live in the file, only their names. The env exposes the bindings,
``[vars]``, the keys of the dotenv file ``.dev.vars`` beside the config (``.dev.vars.<env>``
replaces it for ``--env <env>``), as in ``wrangler dev``, and the secrets the file declares
with wrangler's key::

    [secrets]                      # or [env.<env>.secrets]: not inherited, like [vars]
    required = ["JWT_SECRET"]

A process variable overrides any of these declared names (so a deployment sets real
secrets without editing anything), but a variable the file does not name never reaches
the env. The ``*_env`` keys of a binding (``database_url_env``...) name the variables its
credentials are read from; those are read from the process environment and ``.dev.vars``
without being exposed.

Every error names the file, the environment and the key, so a startup failure says what to fix.
"""

import importlib
import io
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from app.runtime.binding_values import shown
from app.runtime.bindings import BINDING_TYPES, BindingKind
from app.runtime.cron import cron_problem

DEFAULT_CONFIG = "bindings.toml"
DEFAULT_STATE_DIR = Path(".wrangler") / "state"

INHERITED_KEYS = ("name", "main", "compatibility_date", "compatibility_flags", "triggers")



class ConfigError(Exception):
    """bindings.toml cannot be used as written; the message says where and why."""


@dataclass
class Config:
    """The resolved configuration of one environment.

    Attributes:
        path: the bindings.toml file.
        env_name: the selected environment, or None for the top level (default).
        name: the Worker name (``<name>-<env>`` unless the environment sets its own).
        vars: plain-text variables of the environment (``[vars]``), each overridden by a
            process variable of the same name.
        secrets: the keys of ``.dev.vars`` / ``.dev.vars.<env>`` and the names of
            ``[secrets] required``, each valued from the process environment, else the file.
        credentials: ``.dev.vars`` overlaid by the whole process environment; only a
            binding's ``*_env`` keys read it, and it is never exposed on ``env``.
        bindings: ``BindingKind`` -> list of binding tables, with relative paths resolved.
        crons: cron expressions of ``[triggers] crons``.
        state_dir: where embedded backends keep their files (``--persist-to``).
    """

    path: Path
    env_name: str | None
    name: str
    main: str | None = None
    compatibility_date: str | None = None
    compatibility_flags: list = field(default_factory=list)
    vars: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)
    credentials: dict = field(default_factory=dict, repr=False)
    bindings: dict = field(default_factory=dict)
    crons: list = field(default_factory=list)
    state_dir: Path = DEFAULT_STATE_DIR

    @property
    def env_label(self):
        """How error messages and /health name the environment."""
        return self.env_name or "default"

    def binding(self, kind, name):
        """The binding table of ``kind`` (a ``BindingKind``) whose ``binding`` is ``name``, or None."""
        for table in self.bindings.get(kind, []):
            if table["binding"] == name:
                return table
        return None

    def find(self, kind, name):
        """The table of ``kind`` named ``name`` by its binding or its alias (``bucket_name``...), or None."""
        binding_type = BINDING_TYPES[kind]
        for table in self.bindings.get(kind, []):
            if name in binding_type.names(table):
                return table
        return None

    def d1_database(self, name):
        """The D1 binding named by its ``binding`` or its ``database_name``, as wrangler does."""
        table = self.find(BindingKind.D1, name)
        if table is not None:
            return table
        raise ConfigError(
            f"Couldn't find a D1 DB with the name or binding '{name}' in {self.path} "
            f"(environment {self.env_label})."
        )

    def setting(self, key, default=None):
        """A secret or var by name (secrets first), as ``env.KEY`` reads it in a Worker."""
        if key in self.secrets:
            return self.secrets[key]
        return self.vars.get(key, default)


def default_config_path():
    """``$SONICPY_CONFIG`` or ``./bindings.toml``."""
    return Path(os.environ.get("SONICPY_CONFIG", DEFAULT_CONFIG))


def load_config(path=None, env_name=None, persist_to=None, environ=None):
    """Read ``path`` and resolve environment ``env_name`` (None: the top level).

    Args:
        path: the bindings.toml file; defaults to ``default_config_path()``.
        env_name: ``--env``; defaults to ``$SONICPY_ENV`` when that is set.
        persist_to: ``--persist-to``, the local state folder; default ``$SONICPY_PERSIST_TO``
            or ``.wrangler/state`` beside the config file.
        environ: the process environment (secrets); defaults to ``os.environ``.

    Raises:
        ConfigError: the file (or its ``.dev.vars``) is missing or malformed, the environment is
            unusable, or a module ``PLUGINS`` names cannot be imported.
    """
    path = Path(path) if path else default_config_path()
    environ = os.environ if environ is None else environ
    if env_name is None:
        env_name = environ.get("SONICPY_ENV") or None
    if persist_to is None:
        persist_to = environ.get("SONICPY_PERSIST_TO") or None
    raw = _read_toml(path)
    top = {k: v for k, v in raw.items() if k != "env"}
    section = _select_environment(path, raw, env_name)
    base_dir = path.resolve().parent
    bindings = _resolve_bindings(path, env_name, top, section, base_dir)
    merged = {key: section.get(key, top.get(key)) for key in INHERITED_KEYS}
    name = _worker_name(top, section, env_name)
    state_dir = Path(persist_to) if persist_to else base_dir / DEFAULT_STATE_DIR
    source = section if env_name else top
    vars_ = {name: environ.get(name, value) for name, value in source.get("vars", {}).items()}
    dev_vars = _load_dev_vars(base_dir, env_name)
    declared = {*dev_vars, *_required_secrets(path, env_name, source)}
    config = Config(
        path=path,
        env_name=env_name,
        name=name,
        main=merged["main"],
        compatibility_date=merged["compatibility_date"],
        compatibility_flags=list(merged["compatibility_flags"] or []),
        vars=vars_,
        secrets={name: value for name in declared if (value := environ.get(name, dev_vars.get(name))) is not None},
        credentials={**dev_vars, **environ},
        bindings=bindings,
        crons=_crons(path, merged["triggers"]),
        state_dir=state_dir,
    )
    _check_plugins(config)
    return config


# The spellings an on/off setting (ACCESS_LOG, REGISTRATION_ENABLED...) may have; any other
# is refused, since a typo read as one or the other would flip it without a word.
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def flag_setting(config, name, default):
    """The on/off var or secret ``name`` of ``config`` (``default`` when unset).

    Raises:
        ConfigError: the value is none of true/false, 1/0, yes/no, on/off (any case), an
            empty one included (a variable set but left blank, which would otherwise either
            flip the setting or hide the value ``[vars]`` gives); the message names the
            file, the environment and the setting.
    """
    raw = config.setting(name)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigError(f"{config.path} (environment {config.env_label}): {name} must be true or false "
                      f"(or 1/0, yes/no, on/off), not {shown(raw)}")


def plugin_paths(raw):
    """``PLUGINS`` as a tuple of module paths: ``"a.b, c"`` or ``["a.b", "c"]``; empty names dropped.

    Raises:
        ConfigError: the value is neither a string nor a list of strings.
    """
    if raw is None:
        return ()
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"PLUGINS must be a comma-separated string or a list of module paths, not {shown(raw)}")
    return tuple(name.strip() for name in names if name.strip())


# The folder ``serve`` starts the served app's workers in, whose modules PLUGINS may name
# without packaging them: the ``sonicpy`` command's import path lacks it (``python worker.py``
# and the workers have it), so it is added before a plugin is imported, for the check and the
# commands to find what the served app finds.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def import_plugin_module(path):
    """The plugin module at dotted ``path`` (an entry of ``PLUGINS``), looked for as the
    served app looks for it (``PROJECT_ROOT`` on the import path).

    Raises:
        ConfigError: it cannot be imported (a typo, a package not installed, an error in its
            code); the message names PLUGINS and the module.
    """
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))
    try:
        return importlib.import_module(path)
    except Exception as ex:  # noqa: BLE001 - whatever its import raised, the setting names a module that cannot load
        raise ConfigError(f"PLUGINS names {path!r}, which cannot be imported: {type(ex).__name__}: {ex}") from None


def _check_plugins(config):
    """Import each module ``PLUGINS`` names, so a bad entry stops start-up (``serve``,
    ``gunicorn worker:app``, every command) instead of failing every request's app build."""
    try:
        for path in plugin_paths(config.setting("PLUGINS")):
            import_plugin_module(path)
    except ConfigError as ex:
        raise ConfigError(f"{config.path} (environment {config.env_label}): {ex}") from None


def _crons(path, triggers):
    """``[triggers] crons``, each expression checked: a bad one stops start-up, not the clock."""
    crons = (triggers or {}).get("crons", [])
    if not isinstance(crons, list):
        raise ConfigError(f"{path}: [triggers] crons must be a list of cron expressions")
    for expression in crons:
        problem = cron_problem(expression)
        if problem:
            raise ConfigError(f"{path}: [triggers] crons: {problem}")
    return list(crons)
def environment_names(path=None):
    """The names of the ``[env.NAME]`` sections of ``path`` (default: ``default_config_path()``), sorted.

    Raises:
        ConfigError: the file is missing or malformed.
    """
    return sorted(_read_toml(Path(path) if path else default_config_path()).get("env", {}))


def _read_toml(path):
    try:
        with open(path, "rb") as fh:
            return tomllib.loads(_utf8_text(path, fh.read()))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (pass --config or create bindings.toml)") from None
    except tomllib.TOMLDecodeError as ex:
        # tomllib's message carries "(at line N, column M)".
        raise ConfigError(f"{path}: invalid TOML: {ex}") from None


def _select_environment(path, raw, env_name):
    envs = raw.get("env", {})
    if env_name is None:
        return {}
    if env_name not in envs:
        known = ", ".join(sorted(envs)) or "(none)"
        raise ConfigError(
            f'{path}: no environment found with name "{env_name}". '
            f"The available configured environment names are: {known}"
        )
    return envs[env_name]


def _worker_name(top, section, env_name):
    if env_name is None:
        return top.get("name", "worker")
    if "name" in section:
        return section["name"]
    return f"{top.get('name', 'worker')}-{env_name}"


def _resolve_bindings(path, env_name, top, section, base_dir):
    """Validate each binding table of the selected environment and resolve relative paths."""
    where = f"{path} (environment {env_name or 'default'})"
    source = section if env_name else top
    seen = {}
    resolved = {}
    for kind, binding_type in BINDING_TYPES.items():
        tables = _tables(where, binding_type, source)
        resolved[kind] = [
            _check_binding(where, binding_type, index, table, seen, base_dir)
            for index, table in enumerate(tables)
        ]
    if env_name is not None:
        _require_redeclared(path, env_name, top, resolved)
    return resolved


def _tables(where, binding_type, section):
    """The tables of ``binding_type`` in ``section``, as a list (``[ai]``: a list of that one)."""
    kind = binding_type.kind
    tables = section.get(kind, {} if binding_type.single else [])
    if binding_type.single:
        if not isinstance(tables, dict):
            raise ConfigError(f"{where}: {kind} must be one table ({binding_type.table_syntax()})")
        return [tables] if tables else []
    if not isinstance(tables, list):
        raise ConfigError(f"{where}: {kind} must be an array of tables ({binding_type.table_syntax()})")
    return tables


def _check_binding(where, binding_type, index, table, seen, base_dir):
    kind = binding_type.kind
    label = kind if binding_type.single else f"{kind}[{index}]"
    name = table.get("binding") if isinstance(table, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(f'{where}: {label}: "{kind}" bindings should have a string "binding" field')
    unknown = sorted(set(table) - binding_type.keys)
    if unknown:
        allowed = ", ".join(sorted(binding_type.keys))
        raise ConfigError(f"{where}: {label} ({name}): unknown key {unknown[0]!r}; allowed keys: {allowed}")
    if name in seen:
        raise ConfigError(f'{where}: two bindings are named "{name}" ({seen[name]} and {label})')
    seen[name] = label
    return binding_type.resolve_paths(table, base_dir)


def _require_redeclared(path, env_name, top, resolved):
    """Bindings are not inherited: each top-level one must be redeclared in the environment."""
    for kind, binding_type in BINDING_TYPES.items():
        declared = {t["binding"] for t in resolved[kind]}
        for table in _tables(path, binding_type, top):
            name = table.get("binding") if isinstance(table, dict) else None
            if name and name not in declared:
                raise ConfigError(
                    f'{path} (environment {env_name}): binding "{name}" ({kind}) is declared at '
                    f"the top level but not in [env.{env_name}]; bindings are not inherited: add "
                    f"{binding_type.table_syntax(f'env.{env_name}.')} with binding = \"{name}\""
                )


def _load_dev_vars(base_dir, env_name):
    """``.dev.vars.<env>`` if it exists, else ``.dev.vars`` (replaced, not merged, as wrangler)."""
    candidates = [base_dir / f".dev.vars.{env_name}"] if env_name else []
    candidates.append(base_dir / ".dev.vars")
    for candidate in candidates:
        if candidate.is_file():
            return _read_dev_vars(candidate)
    return {}


def _read_dev_vars(path):
    """The ``NAME=value`` pairs of the dotenv file ``path``.

    Raises:
        ConfigError: the file is not UTF-8 text, or a line is not ``NAME=value`` (python-dotenv
            would drop it with a warning naming neither the file nor the name it was meant to
            set); the message names the file and the line, never its text, which may be a secret.
    """
    text = _utf8_text(path, path.read_bytes())
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ConfigError(f"{path}: line {_first_line(binding.original)} is not NAME=value (nor a # comment)")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def _first_line(original):
    """The line a python-dotenv statement's text starts on (the blank lines before it count as its own)."""
    text = original.string
    return original.line + text[: len(text) - len(text.lstrip())].count("\n")


def _utf8_text(path, data):
    """``data`` (the bytes of the file ``path``) as text; ConfigError naming the file and line if not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as ex:
        line = data[: ex.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (line {line}: {ex.reason} at byte {ex.start})") from None


def _required_secrets(path, env_name, source):
    """The names of ``[secrets] required`` of the selected environment (not inherited)."""
    secrets = source.get("secrets", {})
    required = secrets.get("required", []) if isinstance(secrets, dict) else None
    if not isinstance(required, list) or not all(isinstance(name, str) and name for name in required):
        table = f"env.{env_name}.secrets" if env_name else "secrets"
        raise ConfigError(f'{path}: [{table}] required must be a list of secret names, e.g. ["JWT_SECRET"]')
    return required
