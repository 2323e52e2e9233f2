"""``search reindex|status``: the semantic search index of the ``AI`` binding, from the command line."""

import click

from app.cli.common import runtime_options
from app.db.models import bind_models
from app.runtime.ai import EmbeddingUnavailable
from app.services.ai_search.semantic import semantic_index_for
from app.services.collections import active_collections, find_collection

collection_option = click.option("--collection", "name", default=None,
                                 help="Only this collection (by name or id; default: every active one).")


@click.group()
def search():
    """Semantic search: embed content with the [ai] binding's model."""


def _index_and_collections(runtime, name):
    """``(SemanticIndex, [Collection])``: the env's index and the collection named (default: every active one)."""
    env = runtime.env
    index = semantic_index_for(env)
    if index is None:
        raise click.ClickException(
            f"no AI binding in {runtime.config.path} (environment {runtime.config.env_label}): add an [ai] "
            'table with binding = "AI", url and model (see the README, "Semantic search")')
    bind_models(env.DB.db)
    if name is None:
        return index, active_collections()
    collection = find_collection(name)
    if collection is None:
        raise click.ClickException(f"no collection named {name!r}")
    return index, [collection]


def _echo_status(index, collections):
    counts = index.status([collection.id for collection in collections])
    for collection in collections:
        count = counts[collection.id]
        click.echo(f"{collection.name}: {count['items']} items, {count['indexed']} indexed, "
                   f"{count['stale']} stale, {count['missing']} missing, {count['failed']} failed")


@search.command("reindex")
@collection_option
@runtime_options
def reindex(runtime, name):
    """Embed every item whose vector is missing or stale, comparing each item's text.

    Items whose text did not change cost no request to the model. An item whose text the
    model refuses (too long, empty) is counted as failed and the pass goes on; a model that
    is down stops it (exit 1). The scheduled job does the same each minute for a bounded
    batch of recently edited items.

    Example: search reindex --collection blog --env production
    """
    index, collections = _index_and_collections(runtime, name)
    failure = None
    try:
        for collection in collections:
            counts = index.reindex(collection.id)
            click.echo(f"{collection.name}: {counts['embedded']} embedded, {counts['failed']} failed")
    except EmbeddingUnavailable as ex:
        failure = str(ex)
    if failure is not None:
        raise click.ClickException(failure)
    _echo_status(index, collections)


@search.command("status")
@collection_option
@runtime_options
def status(runtime, name):
    """Count each collection's items, indexed, stale, missing and failed vectors (no request to the model)."""
    _echo_status(*_index_and_collections(runtime, name))
