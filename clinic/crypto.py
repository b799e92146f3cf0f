"""Encryption at rest for free text (notes, free-text answers, 2FA secrets).

Keys come from DATA_KEYS: comma-separated Fernet keys, newest first. MultiFernet
decrypts with any of them and encrypts with the first, so a key can be rotated:
put the new key first, run `flask --app wsgi rotate-keys`, then drop the old one.
Everything else (the database files, backups) belongs on encrypted disks.
"""

from __future__ import annotations

import base64
import hashlib

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

PREFIX = "fernet:"


class DataKeyError(RuntimeError):
    """The data keys are missing or wrong; the message says what to fix."""


def _derived_key(secret: str) -> bytes:
    """A development-only key derived from SECRET_KEY (production must set DATA_KEYS)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"tandem-data-key:" + secret.encode()).digest())


def keys_from_config(config) -> MultiFernet:
    """The MultiFernet for an app's configuration."""
    raw = [k.strip() for k in (config.get("DATA_KEYS") or "").split(",") if k.strip()]
    if not raw:
        if config.get("ENV_NAME") == "production":
            raise DataKeyError(
                "DATA_KEYS must be set in production "
                "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
            )
        raw = [_derived_key(config["SECRET_KEY"]).decode()]
    try:
        return MultiFernet([Fernet(k.encode()) for k in raw])
    except (ValueError, TypeError) as exc:
        raise DataKeyError("DATA_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes).") from exc


def _fernet() -> MultiFernet:
    fernet = current_app.extensions.get("tandem_fernet")
    if fernet is None:
        fernet = current_app.extensions["tandem_fernet"] = keys_from_config(current_app.config)
    return fernet


def encrypt(text: str) -> str:
    return PREFIX + _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        # Written before encryption existed (or an empty default): never a secret.
        return stored
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DataKeyError("Stored text could not be decrypted: is the key that wrote it still in DATA_KEYS?") from exc


def rotate(stored: str) -> str:
    """The same text encrypted under the newest key."""
    if not stored.startswith(PREFIX):
        return encrypt(stored) if stored else stored
    return PREFIX + _fernet().rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")


class EncryptedText(sa.types.TypeDecorator):
    """Text that is stored encrypted and read back in the clear. Empty stays empty."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return value
        return encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None or value == "":
            return value
        return decrypt(value)


BINARY_PREFIX = b"fernet:"


class EncryptedBytes(sa.types.TypeDecorator):
    """Binary data (report PDFs) stored encrypted: PDFs carry notes and answers."""

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return BINARY_PREFIX + _fernet().encrypt(bytes(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        value = bytes(value)
        if not value.startswith(BINARY_PREFIX):
            return value
        try:
            return _fernet().decrypt(value[len(BINARY_PREFIX) :])
        except InvalidToken as exc:
            raise DataKeyError(
                "A stored file could not be decrypted: is the key that wrote it still in DATA_KEYS?"
            ) from exc


def rotate_bytes(stored: bytes) -> bytes:
    """The same data encrypted under the newest key."""
    if not stored.startswith(BINARY_PREFIX):
        return BINARY_PREFIX + _fernet().encrypt(stored)
    return BINARY_PREFIX + _fernet().rotate(stored[len(BINARY_PREFIX) :])
