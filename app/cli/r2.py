"""``r2 object get|put|delete BUCKET/KEY``: work with an R2 binding, as ``wrangler r2 object`` does."""

import mimetypes
import sys
from pathlib import Path

import click

from app.cli.common import location_options, runtime_options
from app.runtime.bindings import BindingKind
from app.runtime.r2 import R2Error


@click.group()
def r2():
    """Work with R2 buckets (R2 bindings)."""


@r2.group()
def object():
    """Get, put and delete objects."""


def _locate(runtime, path):
    """``BUCKET/KEY`` -> (bucket binding, key); BUCKET is the binding or the bucket_name."""
    bucket_name, sep, key = path.partition("/")
    if not sep or not key:
        raise click.UsageError("Give the object as BUCKET/KEY.")
    return runtime.binding(BindingKind.R2, bucket_name)[1], key


def _guard(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (R2Error, TypeError, ValueError) as ex:
        raise click.ClickException(str(ex)) from None


@object.command("get")
@click.argument("path")
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Write the object to this file.")
@click.option("--pipe", is_flag=True, help="Write the object to standard output.")
@location_options
@runtime_options
def get(runtime, path, file, pipe):
    """Download object BUCKET/KEY to --file (or standard output with --pipe).

    Without either, the object goes to standard output unless that is a terminal.

    Example: r2 object get MEDIA_BUCKET/uploads/photo.jpg --file photo.jpg
    """
    if not file and not pipe and sys.stdout.isatty():
        # As curl does: raw bytes would garble the terminal (and may be megabytes long).
        raise click.UsageError("the object would be written to your terminal: pass --file PATH to save it, "
                               "or --pipe to write it to standard output anyway")
    bucket, key = _locate(runtime, path)
    obj = _guard(bucket.get, key)
    if obj is None:
        raise click.ClickException(f"The specified key does not exist: {key}")
    if file and not pipe:
        with open(file, "wb") as out:
            for chunk in obj.body:
                out.write(chunk)
        click.echo(f"Downloaded \"{key}\" to {file}.")
        return
    for chunk in obj.body:
        sys.stdout.buffer.write(chunk)


@object.command("put")
@click.argument("path")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False), required=True, help="File to upload.")
@click.option("--content-type", default=None, help="Content-Type (default: guessed from the file name).")
@location_options
@runtime_options
def put(runtime, path, file, content_type):
    """Upload --file as object BUCKET/KEY."""
    bucket, key = _locate(runtime, path)
    content_type = content_type or mimetypes.guess_type(file)[0] or "application/octet-stream"
    with open(file, "rb") as source:
        obj = _guard(bucket.put, key, source, http_metadata={"content_type": content_type})
    click.echo(f"Uploaded \"{key}\" ({obj.size} bytes, etag {obj.etag}) from {Path(file).name}.")


@object.command("delete")
@click.argument("path")
@location_options
@runtime_options
def delete(runtime, path):
    """Delete object BUCKET/KEY."""
    bucket, key = _locate(runtime, path)
    _guard(bucket.delete, key)
    click.echo(f"Deleted \"{key}\".")
