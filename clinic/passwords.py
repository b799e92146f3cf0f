"""Password hashing with argon2id (argon2-cffi)."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 256  # hashing an unbounded string is a denial-of-service lever


def _hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("tandem_argon2")
    if hasher is None:
        cfg = current_app.config
        kwargs = {
            key: cfg[name]
            for key, name in (
                ("time_cost", "ARGON2_TIME_COST"),
                ("memory_cost", "ARGON2_MEMORY_COST"),
                ("parallelism", "ARGON2_PARALLELISM"),
            )
            if name in cfg
        }
        hasher = current_app.extensions["tandem_argon2"] = PasswordHasher(**kwargs)
    return hasher


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing hash still costs one verification."""
    hasher = _hasher()
    if password_hash is None:
        # Spend the same time as a real check so response time does not reveal
        # whether the account exists.
        password_hash = current_app.extensions.setdefault("tandem_dummy_hash", hasher.hash("not-a-password"))
        password = password + "-"
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """A one-line reason the password is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if len(set(password)) < 4:
        return "Use a less repetitive password."
    return None
