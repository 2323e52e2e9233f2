"""``kv key get|put|list|delete``: work with a KV binding, as ``wrangler kv key`` does."""

import json
import sys

import click

from app.cli.common import location_options, runtime_options
from app.runtime.bindings import BindingKind
from app.runtime.kv import KVError


@click.group()
def kv():
    """Work with KV namespaces (KV bindings)."""


@kv.group()
def key():
    """Get, put, list and delete keys."""


def _namespace(runtime, binding):
    return runtime.binding(BindingKind.KV, binding)[1]


def _guard(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (KVError, TypeError, ValueError) as ex:
        raise click.ClickException(str(ex)) from None


binding_option = click.option("--binding", default="CACHE_KV", show_default=True, help="The KV binding to use.")


@key.command("get")
@click.argument("name")
@binding_option
@click.option("--text", "as_text", is_flag=True, help="Decode the value as UTF-8 text.")
@location_options
@runtime_options
def get(runtime, name, binding, as_text):
    """Print the value of key NAME ("Value not found" and exit 0 when missing, as wrangler)."""
    value = _guard(_namespace(runtime, binding).get, name, "text" if as_text else "bytes")
    if value is None:
        click.echo("Value not found")
        return
    if as_text:
        click.echo(value)
    else:
        sys.stdout.buffer.write(value)


@key.command("put")
@click.argument("name")
@click.argument("value", required=False)
@binding_option
@click.option("--path", type=click.Path(exists=True, dir_okay=False), help="Read the value from this file.")
@click.option("--ttl", type=int, default=None, help="Expire after this many seconds (at least 60).")
@click.option("--expiration", type=int, default=None, help="Expire at this epoch time in seconds.")
@click.option("--metadata", default=None, help="JSON metadata to store with the key.")
@location_options
@runtime_options
def put(runtime, name, value, binding, path, ttl, expiration, metadata):
    """Write VALUE (or the file at --path) to key NAME."""
    if (value is None) == (path is None):
        raise click.UsageError("Provide exactly one of VALUE or --path.")
    data = open(path, "rb").read() if path else value
    try:
        meta = json.loads(metadata) if metadata else None
    except json.JSONDecodeError as ex:
        raise click.BadParameter(f"not JSON: {ex}", param_hint="--metadata") from None
    _guard(_namespace(runtime, binding).put, name, data, expiration=expiration, expiration_ttl=ttl, metadata=meta)
    click.echo(f"Writing the value to key \"{name}\" in {binding}.")


@key.command("list")
@binding_option
@click.option("--prefix", default=None, help="Only keys starting with this prefix.")
@location_options
@runtime_options
def list_keys(runtime, binding, prefix):
    """Print the keys as JSON (all pages)."""
    namespace = _namespace(runtime, binding)
    keys, cursor = [], None
    while True:
        page = _guard(namespace.list, prefix=prefix, cursor=cursor)
        keys.extend(page["keys"])
        if page["list_complete"]:
            break
        cursor = page["cursor"]
    click.echo(json.dumps(keys, indent=2))


@key.command("delete")
@click.argument("name")
@binding_option
@location_options
@runtime_options
def delete(runtime, name, binding):
    """Delete key NAME (a missing key is not an error)."""
    _guard(_namespace(runtime, binding).delete, name)
    click.echo(f"Deleting the key \"{name}\" from {binding}.")
