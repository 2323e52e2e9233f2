"""Keys derived from the app's secret (``JWT_SECRET``), one for each use.

The secret signs the session tokens. Every other HMAC of the app is keyed with a key derived
from it for that use alone (``derived_key``), so that a value computed for one use is never
one that another use, or a token check, would take.
"""

import hashlib
import hmac


def derived_key(secret, purpose):
    """The 32-byte key for ``purpose``: HMAC-SHA256 of ``purpose`` keyed with ``secret``, both UTF-8.

    Args:
        secret: the app's secret.
        purpose: a fixed text naming the use (``"sonicpy form ip hash"``); one use, one text.
            Changing it changes every value computed under the key.
    """
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()
