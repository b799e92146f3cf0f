"""Random link tokens. Only their SHA-256 is ever stored."""

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token() -> tuple[str, str]:
    """A fresh URL-safe token and the hash to store for it."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    return raw, hash_token(raw)


def hash_token(raw: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
