"""The MEDIA_BUCKET binding: R2's Workers API over a local folder or an S3-compatible store.

``open_bucket(binding, state_dir, environ)`` builds it from a ``[[r2_buckets]]`` table of
bindings.toml: without ``endpoint_url`` objects live in a folder under the state folder;
with it, boto3 talks to R2, S3 or MinIO.
"""

from .bucket import R2Bucket, open_bucket
from .objects import R2Error, R2Object, R2ObjectBody, StoreUnreachable
from .payload import FixedLengthStream

__all__ = [
    "FixedLengthStream",
    "R2Bucket",
    "R2Error",
    "R2Object",
    "R2ObjectBody",
    "StoreUnreachable",
    "open_bucket",
]
