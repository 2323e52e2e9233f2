"""bindings.toml: wrangler's syntax and environment rules, and a clear error for each mistake (R1)."""

import shutil
import textwrap
from pathlib import Path

import pytest

from app.runtime.config import ConfigError, load_config

SEED = Path(__file__).parent / "data" / "seed-wrangler.toml"

MINIMAL = """\
name = "site"
main = "worker.py"
compatibility_date = "2026-01-01"

[triggers]
crons = ["*/5 * * * *"]

[vars]
GREETING = "hello"

[[d1_databases]]
binding = "DB"
database_name = "site-dev"

[[kv_namespaces]]
binding = "CACHE_KV"
id = "kv-dev"

[env.staging]
[env.staging.vars]
GREETING = "hi"

[[env.staging.d1_databases]]
binding = "DB"
database_name = "site-staging"

[[env.staging.kv_namespaces]]
binding = "CACHE_KV"
id = "kv-staging"
"""


def write(tmp_path, text, name="bindings.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_seed_wrangler_toml_loads_unchanged_in_default_env(tmp_path):
    path = tmp_path / "wrangler.toml"
    shutil.copy(SEED, path)
    config = load_config(path, environ={})
    assert config.name == "sonicjs-ai"
    assert config.compatibility_flags == ["nodejs_compat"]
    assert config.binding("d1_databases", "DB")["database_name"] == "sonicjs-dev"
    assert config.binding("r2_buckets", "MEDIA_BUCKET")["bucket_name"] == "sonicjs-media-dev"
    assert config.binding("kv_namespaces", "CACHE_KV")["preview_id"] == "your-preview-kv-id"


def test_seed_wrangler_toml_loads_unchanged_in_production(tmp_path):
    path = tmp_path / "wrangler.toml"
    shutil.copy(SEED, path)
    config = load_config(path, "production", environ={})
    assert config.name == "sonicjs-ai-prod"  # the environment's own name is used as-is
    assert config.main == "src/index.ts"  # inherited
    assert config.compatibility_date == "2024-06-01"  # inherited
    assert config.d1_database("sonicjs-ai")["database_id"] == "your-prod-database-id"
    assert config.binding("r2_buckets", "MEDIA_BUCKET")["bucket_name"] == "sonicjs-media-prod"


def test_environment_without_name_is_named_after_top_level(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), "staging", environ={})
    assert config.name == "site-staging"


def test_inherited_and_non_inherited_keys(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), "staging", environ={})
    assert config.crons == ["*/5 * * * *"]  # triggers inherited
    assert config.main == "worker.py"
    assert config.vars == {"GREETING": "hi"}  # vars not inherited: the env's own
    assert config.binding("kv_namespaces", "CACHE_KV")["id"] == "kv-staging"


def test_vars_are_not_inherited(tmp_path):
    text = MINIMAL.replace('[env.staging.vars]\nGREETING = "hi"\n', "")
    config = load_config(write(tmp_path, text), "staging", environ={})
    assert config.vars == {}


def test_database_found_by_binding_or_name(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.d1_database("DB") is config.d1_database("site-dev")
    with pytest.raises(ConfigError, match="Couldn't find a D1 DB with the name or binding 'nope'"):
        config.d1_database("nope")


def test_relative_migrations_dir_resolved_beside_the_file(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.binding("d1_databases", "DB")["migrations_dir"] == str(tmp_path.resolve() / "migrations")


def test_unknown_env_lists_known_ones(tmp_path):
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError) as err:
        load_config(path, "prod", environ={})
    message = str(err.value)
    assert str(path) in message and '"prod"' in message and "staging" in message


def test_binding_missing_from_env_is_an_error(tmp_path):
    text = MINIMAL.replace('[[env.staging.kv_namespaces]]\nbinding = "CACHE_KV"\nid = "kv-staging"\n', "")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, "staging", environ={})
    message = str(err.value)
    assert str(path) in message and "staging" in message and '"CACHE_KV"' in message


def test_malformed_toml_names_the_line(tmp_path):
    path = write(tmp_path, 'name = "x"\n\n[[d1_databases]\nbinding = "DB"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(path) in str(err.value) and "line 3" in str(err.value)


def test_binding_without_binding_key(tmp_path):
    path = write(tmp_path, 'name = "x"\n[[r2_buckets]]\nbucket_name = "b"\n')
    with pytest.raises(ConfigError, match=r'r2_buckets\[0\].*string "binding" field'):
        load_config(path, environ={})


def test_two_bindings_with_one_name(tmp_path):
    path = write(tmp_path, 'name = "x"\n[[r2_buckets]]\nbinding = "B"\n[[kv_namespaces]]\nbinding = "B"\n')
    with pytest.raises(ConfigError, match='two bindings are named "B"'):
        load_config(path, environ={})


def test_unknown_backend_key(tmp_path):
    path = write(tmp_path, 'name = "x"\n[[kv_namespaces]]\nbinding = "KV"\nserver = ["a:1"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert "(environment default)" in str(err.value) and "'server'" in str(err.value) and "KV" in str(err.value)


@pytest.mark.parametrize("crons, message", [
    ('["every minute"]', "'every minute' is not a cron expression: five fields"),
    ('["0 0 * * * *"]', "'0 0 * * * *' is not a cron expression"),
    ('"*/5 * * * *"', "[triggers] crons must be a list"),
])
def test_a_bad_cron_trigger_stops_start_up(tmp_path, crons, message):
    path = write(tmp_path, f'name = "x"\n[triggers]\ncrons = {crons}\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value).startswith(f"{path}: [triggers] crons") and message in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", environ={})


def test_secrets_from_dev_vars_and_process_env(tmp_path):
    path = write(tmp_path, MINIMAL)
    (tmp_path / ".dev.vars").write_text('JWT_SECRET="from-file"\nOTHER=1\n')
    config = load_config(path, environ={})
    assert config.setting("JWT_SECRET") == "from-file"
    config = load_config(path, environ={"JWT_SECRET": "from-process"})
    assert config.setting("JWT_SECRET") == "from-process"
    assert config.setting("GREETING") == "hello"


def test_env_exposes_only_declared_names_and_process_variables_override_them(tmp_path):
    declared = MINIMAL.replace("[vars]", '[secrets]\nrequired = ["API_KEY"]\n\n[vars]', 1)
    declared = declared.replace("[env.staging.vars]", '[env.staging.secrets]\nrequired = ["API_KEY", "UNSET"]\n\n[env.staging.vars]')
    path = write(tmp_path, declared)
    (tmp_path / ".dev.vars").write_text("FROM_FILE=file\n")
    environ = {"HOME": "/root", "PATH": "/bin", "GREETING": "from-shell", "API_KEY": "k", "FROM_FILE": "shell"}
    config = load_config(path, environ=environ)
    assert config.secrets == {"API_KEY": "k", "FROM_FILE": "shell"}
    assert config.setting("GREETING") == "from-shell"  # a declared var: the process wins
    assert config.setting("HOME") is None and config.setting("PATH") is None
    staging = load_config(path, "staging", environ=environ)
    assert staging.secrets == {"API_KEY": "k", "FROM_FILE": "shell"}  # UNSET: declared, not set
    assert staging.setting("GREETING") == "from-shell"


def test_secrets_required_must_be_a_list_of_names(tmp_path):
    path = write(tmp_path, MINIMAL.replace('[vars]', '[secrets]\nrequired = "JWT_SECRET"\n\n[vars]', 1))
    with pytest.raises(ConfigError, match=r"\[secrets\] required must be a list of secret names"):
        load_config(path, environ={})


def test_env_dev_vars_replace_the_default_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    (tmp_path / ".dev.vars").write_text("A=default\nB=default\n")
    (tmp_path / ".dev.vars.staging").write_text("A=staging\n")
    config = load_config(path, "staging", environ={})
    assert config.secrets == {"A": "staging"}  # replaced, not merged


def test_persist_to_moves_the_state_folder(tmp_path):
    path = write(tmp_path, MINIMAL)
    assert load_config(path, environ={}).state_dir == tmp_path.resolve() / ".wrangler" / "state"
    assert load_config(path, persist_to=tmp_path / "elsewhere", environ={}).state_dir == tmp_path / "elsewhere"


def test_state_folder_from_environment_variable(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={"SONICPY_PERSIST_TO": str(tmp_path / "st")})
    assert config.state_dir == tmp_path / "st"


def test_env_chosen_by_environment_variable(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={"SONICPY_ENV": "staging"})
    assert config.env_name == "staging"


# ------------------------------------------------------------------ the [ai] binding

AI_TABLES = """\
[ai]
binding = "AI"
url = "http://127.0.0.1:11434/v1"
model = "nomic-embed-text"

[env.staging.ai]
binding = "AI"
url = "https://api.example.com/v1"
model = "text-embedding-3-small"
api_key_env = "EMBEDDINGS_KEY"
dimensions = 512
timeout = 10
"""


def build(path, env_name=None, environ=None):
    from app.runtime.env import build_env  # opens the bindings: only the tests that do

    return build_env(load_config(path, env_name, environ=environ or {}, persist_to=path.parent / "state"))


def test_the_ai_table_gives_the_env_an_embedder(tmp_path):
    path = write(tmp_path, MINIMAL + AI_TABLES)
    config = load_config(path, environ={})
    assert config.bindings["ai"] == [{"binding": "AI", "url": "http://127.0.0.1:11434/v1", "model": "nomic-embed-text"}]
    ai = build(path).AI
    assert (ai.url, ai.model, ai.dimensions, ai.timeout) == ("http://127.0.0.1:11434/v1", "nomic-embed-text", None, 30.0)
    assert ai.max_input_chars == 8000
    assert ai.describe() == "nomic-embed-text at http://127.0.0.1:11434/v1"


def test_each_environment_declares_its_own_ai_table_and_key_variable(tmp_path):
    path = write(tmp_path, MINIMAL + AI_TABLES)
    ai = build(path, "staging", environ={"EMBEDDINGS_KEY": "sk-from-the-process"}).AI
    assert (ai.url, ai.model, ai.dimensions, ai.timeout) == (
        "https://api.example.com/v1", "text-embedding-3-small", 512, 10.0)
    assert ai._headers()["Authorization"] == "Bearer sk-from-the-process"


def test_a_key_variable_left_unset_is_named_without_a_value(tmp_path):
    from app.runtime.env import build_env

    path = write(tmp_path, MINIMAL + AI_TABLES)
    with pytest.raises(ConfigError, match=r"environment staging\): ai \(AI\): api_key_env names EMBEDDINGS_KEY, "
                                          r"which is not set"):
        build_env(load_config(path, "staging", environ={}))


def test_without_an_ai_table_the_env_has_no_ai(tmp_path):
    from app.services.ai_search.semantic import semantic_index_for

    env = build(write(tmp_path, MINIMAL))
    assert env.get("AI") is None and semantic_index_for(env) is None
    assert load_config(write(tmp_path, MINIMAL), environ={}).bindings["ai"] == []


def test_the_ai_table_is_not_inherited(tmp_path):
    path = write(tmp_path, MINIMAL + AI_TABLES.split("[env.staging.ai]")[0])
    with pytest.raises(ConfigError, match=r'binding "AI" \(ai\) is declared at the top level but not in '
                                          r'\[env.staging\].*add \[env.staging.ai\] with binding = "AI"'):
        load_config(path, "staging", environ={})


@pytest.mark.parametrize(("table", "message"), [
    ('[[ai]]\nbinding = "AI"\n', r"ai must be one table \(\[ai\]\)"),
    ('[ai]\nbinding = "AI"\nmodel = "m"\n', "url must be an http"),
    ('[ai]\nbinding = "AI"\nurl = "ftp://host/v1"\nmodel = "m"\n', "url must be an http"),
    ('[ai]\nbinding = "AI"\nurl = "http://host/v1"\n', "model must name"),
    ('[ai]\nbinding = "AI"\nurl = "http://host/v1"\nmodel = "m"\ntimeout = 0\n', "timeout must be a number"),
    ('[ai]\nbinding = "AI"\nurl = "http://host/v1"\nmodel = "m"\nbatch_size = 1000\n', "batch_size must be"),
    ('[ai]\nbinding = "AI"\nurl = "http://host/v1"\nmodel = "m"\nmax_input_chars = 0\n', "max_input_chars must be"),
    ('[ai]\nbinding = "AI"\nurl = "http://host/v1"\nmodel = "m"\napi_key = "sk-x"\n', "unknown key 'api_key'"),
])
def test_an_unusable_ai_table_is_named(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message):
        build(write(tmp_path, MINIMAL.split("[env.staging]")[0] + table))
