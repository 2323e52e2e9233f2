"""sonicpy: a headless CMS backend built the way a Cloudflare Worker is built."""

__version__ = "0.1.0"
NAME = "sonicpy"
