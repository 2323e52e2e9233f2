"""The columns a content read selects (content + author + collection + featured image, ONE
query) and the item shape the API returns.

The item follows SonicJS's ``{id, title, slug, status, collectionId, data, created_at,
updated_at}`` and adds ``published_at``, ``version_number``, the SEO fields, and the joined
``author {id, name, email?}``, ``collection {id, name, display_name}`` and
``featuredImage {id, url, thumbnail_url, alt, width, height, mime_type} | null`` (a
soft-deleted image reads as null). Callers who may see unpublished content also get
``workflow_state_id`` and ``deleted_at``; authors' emails are shown only to callers who may
read users (``users.read``), never to the public.
"""

from peewee import JOIN

from app.db.models import Collection, Content, Media, User

# (key in the row, selected expression), in SELECT order.
COLUMNS = (
    ("id", Content.id),
    ("title", Content.title),
    ("slug", Content.slug),
    ("status", Content.status),
    ("collection_id", Content.collection),
    ("data", Content.data),
    ("created_at", Content.created_at),
    ("updated_at", Content.updated_at),
    ("published_at", Content.published_at),
    ("version_number", Content.version_number),
    ("meta_title", Content.meta_title),
    ("meta_description", Content.meta_description),
    ("workflow_state_id", Content.workflow_state),
    ("deleted_at", Content.deleted_at),
    ("author_id", Content.author),
    ("author_first_name", User.first_name),
    ("author_last_name", User.last_name),
    ("author_email", User.email),
    ("collection_name", Collection.name),
    ("collection_display_name", Collection.display_name),
    ("media_id", Media.id),
    ("media_url", Media.public_url),
    ("media_thumbnail_url", Media.thumbnail_url),
    ("media_alt", Media.alt),
    ("media_width", Media.width),
    ("media_height", Media.height),
    ("media_mime_type", Media.mime_type),
)
INDEX = {name: i for i, (name, _) in enumerate(COLUMNS)}

PUBLIC_KEYS = (
    "id", "title", "slug", "status", "collectionId", "data", "created_at", "updated_at", "published_at",
    "version_number", "meta_title", "meta_description", "author", "collection", "featuredImage",
)
PRIVATE_KEYS = ("workflow_state_id", "deleted_at")
ITEM_KEYS = PUBLIC_KEYS + PRIVATE_KEYS


def joined_select(*extra):
    """SELECT of COLUMNS (+ ``extra`` expressions) FROM content with its three joins."""
    return (
        Content.select(*(expr for _, expr in COLUMNS), *extra)
        .join(User, on=(Content.author == User.id))
        .switch(Content)
        .join(Collection, on=(Content.collection == Collection.id))
        .switch(Content)
        .join(Media, JOIN.LEFT_OUTER, on=((Content.featured_image == Media.id) & Media.deleted_at.is_null()))
    )


def item_from_row(row, scope, fields=None):
    """The API item of one ``joined_select`` row (a tuple) for a caller of ``scope``."""
    def col(name):
        return row[INDEX[name]]

    author = {
        "id": col("author_id"),
        "name": " ".join(part for part in (col("author_first_name"), col("author_last_name")) if part),
    }
    if scope.show_email:
        author["email"] = col("author_email")
    image = None
    if col("media_id") is not None:
        image = {
            "id": col("media_id"),
            "url": col("media_url"),
            "thumbnail_url": col("media_thumbnail_url"),
            "alt": col("media_alt"),
            "width": col("media_width"),
            "height": col("media_height"),
            "mime_type": col("media_mime_type"),
        }
    item = {
        "id": col("id"),
        "title": col("title"),
        "slug": col("slug"),
        "status": col("status"),
        "collectionId": col("collection_id"),
        "data": col("data"),
        "created_at": col("created_at"),
        "updated_at": col("updated_at"),
        "published_at": col("published_at"),
        "version_number": col("version_number"),
        "meta_title": col("meta_title"),
        "meta_description": col("meta_description"),
        "author": author,
        "collection": {"id": col("collection_id"), "name": col("collection_name"),
                       "display_name": col("collection_display_name")},
        "featuredImage": image,
    }
    if not scope.public_shape:
        item["workflow_state_id"] = col("workflow_state_id")
        item["deleted_at"] = col("deleted_at")
    if fields:
        item = {key: item[key] for key in item if key in fields or key == "id"}
    return item
