"""The Worker runtime: bindings.toml, the env of bindings (D1, R2, KV) and the execution context."""
