"""Password hashing with scrypt, in a self-describing format: ``scrypt$n$r$p$salt$hash``.

Why scrypt: it is memory-hard (each guess needs ``128 * n * r`` bytes of RAM, which makes
GPU and ASIC cracking expensive, unlike one round of SHA-256 with a fixed salt as in
SonicJS) and it ships with Python's standard library (``hashlib.scrypt``), so no new
dependency. Every hash carries its own cost parameters and a random 16-byte salt, so the
cost can be raised later: old hashes still verify and are re-hashed at the next login
(``needs_rehash``). Comparison is constant-time (``hmac.compare_digest``).
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MIN_N = 2**14  # production floor; Settings defaults sit above it
MAX_N = 2**20  # refuse absurd costs read from a tampered row (they would exhaust memory)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PasswordHasher:
    """Hashes and verifies passwords with one scrypt cost.

    Attributes:
        n: CPU/memory cost (a power of two; at least 2**14).
        r: block size.
        p: parallelism.
    """

    n: int = 2**15
    r: int = 8
    p: int = 3

    def __post_init__(self):
        if self.n < MIN_N or self.n & (self.n - 1):
            raise ValueError(f"scrypt n must be a power of two >= {MIN_N}, not {self.n}")

    @classmethod
    def from_settings(cls, settings):
        """The hasher configured by ``settings.scrypt_n/r/p``."""
        return cls(n=settings.scrypt_n, r=settings.scrypt_r, p=settings.scrypt_p)

    def hash(self, password):
        """A new ``scrypt$n$r$p$salt$hash`` string for ``password`` (random salt)."""
        salt = secrets.token_bytes(SALT_BYTES)
        key = _derive(password, salt, self.n, self.r, self.p)
        return f"{SCHEME}${self.n}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password, stored):
        """True when ``password`` matches ``stored``; False for any malformed or empty hash."""
        parsed = _parse(stored)
        if parsed is None:
            return False
        n, r, p, salt, expected = parsed
        return hmac.compare_digest(_derive(password, salt, n, r, p), expected)

    def needs_rehash(self, stored):
        """True when ``stored`` was made with another cost than this hasher's."""
        parsed = _parse(stored)
        return parsed is None or parsed[:3] != (self.n, self.r, self.p)

    def burn(self, password):
        """Spend the time of one verification on nothing.

        Login calls this for unknown emails so the response time does not tell whether
        an account exists.
        """
        _derive(password, b"\0" * SALT_BYTES, self.n, self.r, self.p)


def _derive(password, salt, n, r, p):
    # maxmem must exceed 128 * n * r (OpenSSL's default of 32 MiB is too small for n=2**15).
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=256 * n * r + 2**20
    )


def _parse(stored):
    """``(n, r, p, salt, key)`` of a well-formed hash, else None."""
    if not stored or not isinstance(stored, str):
        return None
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = (int(v) for v in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    if n & (n - 1) or not (2 <= n <= MAX_N and 1 <= r <= 32 and 1 <= p <= 16 and salt and len(key) == KEY_BYTES):
        return None
    return n, r, p, salt, key
