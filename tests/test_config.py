"""Production refuses unsafe settings; development has safe defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinic import ConfigError, create_app
from clinic.config import Config, database_url

ROOT = Path(__file__).resolve().parents[1]
STRONG = "Zq8v3N_pL2rT9xW4kY7mB1cD6fH0jS5a-uE"
DATA_KEY = "x1V0Zb6pYt3Rk9sQm2Lw8Hc5Nf7Dg4Ja0Ue6Ti1Oy3E="  # a valid Fernet key, for tests only
AUDIT_KEY = "Hd5-wQ7rL0xP2mZ9kT4vB8nC1yF6jS3gA_eU"  # tests only


def production(**overrides):
    values = {
        "ENV_NAME": "production",
        "SECRET_KEY": STRONG,
        "DEBUG": False,
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@127.0.0.1/x",
        "BASE_URL": "https://tandem.example.org",
        "DATA_KEYS": DATA_KEY,
        "AUDIT_KEY": AUDIT_KEY,
    }
    values.update(overrides)
    return type("ProductionTestConfig", (Config,), values)


def test_strong_production_settings_start():
    app = create_app(production())
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "dev",
        "change-me",
        "short-but-random-3kd9",
        "a" * 64,
        "abcabcabcabcabcabcabcabcabcabcabcabc",
        "0123456789" * 4,
        "Kp3-x9Qz" * 5,
        # The keys published in clinic/config.py for development and tests.
        "dev-only-key-never-use-in-production",
        "test-only-key-0123456789abcdef-0123456789",
    ],
)
def test_production_refuses_weak_secret_key(secret):
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        create_app(production(SECRET_KEY=secret))


def test_production_refuses_debug():
    with pytest.raises(ConfigError, match="debug mode is on"):
        create_app(production(DEBUG=True))


def test_production_refuses_missing_database_url():
    with pytest.raises(ConfigError, match="DATABASE_URL must be set"):
        create_app(production(SQLALCHEMY_DATABASE_URI=None))


def run_wsgi(env_updates):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "FLASK_DEBUG", "TANDEM_ENV"}}
    env.update(env_updates)
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_refuses_missing_or_plain_http_base_url():
    for base in ("", "http://tandem.example.org"):
        with pytest.raises(ConfigError, match="BASE_URL must be the public https:// address"):
            create_app(production(BASE_URL=base))


@pytest.mark.parametrize(("keys", "message"), [("", "DATA_KEYS must be set"), ("not-a-key", "not a Fernet key")])
def test_production_refuses_missing_or_broken_data_keys(keys, message):
    with pytest.raises(ConfigError, match=message):
        create_app(production(DATA_KEYS=keys))


def test_wsgi_says_why_in_one_line():
    result = run_wsgi({"TANDEM_ENV": "production", "SECRET_KEY": "weak", "DATABASE_URL": "postgresql://u@h/db"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Tandem will not start: SECRET_KEY must be set")


def test_wsgi_refuses_debug_in_one_line():
    result = run_wsgi(
        {"TANDEM_ENV": "production", "SECRET_KEY": STRONG, "DATABASE_URL": "postgresql://u@h/db", "FLASK_DEBUG": "1"}
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "Tandem will not start: debug mode is on; it must be off in production (unset FLASK_DEBUG)."
    )


def test_default_environment_is_production():
    result = run_wsgi({})
    assert result.returncode == 1
    assert "SECRET_KEY must be set" in result.stderr


def test_unknown_environment_name_is_refused():
    result = run_wsgi({"TANDEM_ENV": "staging"})
    assert result.returncode == 1
    assert "TANDEM_ENV must be one of" in result.stderr


def test_development_defaults_to_sqlite_under_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_ENV", "development")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from clinic.config import DevelopmentConfig

    app = create_app(type("Dev", (DevelopmentConfig,), {"SQLALCHEMY_DATABASE_URI": None}))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + os.path.join(app.instance_path, "tandem.db")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("", None),
    ],
)
def test_database_url_uses_psycopg3(given, expected):
    assert database_url(given) == expected


def test_broken_instrument_file_stops_start_up_naming_file_item_and_field(tmp_path):
    broken = ROOT / "tests" / "instruments" / "fixtures" / "broken" / "badscale-v1.yaml"
    (tmp_path / broken.name).write_text(broken.read_text())
    result = run_wsgi({"TANDEM_ENV": "development", "INSTRUMENTS_FOLDER": str(tmp_path), "DATABASE_URL": "sqlite://"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Tandem will not start: badscale-v1.yaml: items[3] (heard_4).scale: unknown scale 'agree7'"
    )


def test_the_shipped_instruments_are_loaded_at_start_up(app):
    from clinic import catalog

    with app.app_context():
        assert ("connection", 1) in catalog.registry().all()
        assert catalog.instrument("safety", 1).kind == "screen"


def test_behind_a_trusted_proxy_the_client_address_is_used(db):
    from flask import request

    from clinic.config import TestConfig

    app = create_app(type("Proxied", (TestConfig,), {"TRUSTED_PROXIES": 1, "SQLALCHEMY_DATABASE_URI": "sqlite://"}))

    @app.route("/whoami")
    def whoami():
        return request.remote_addr

    response = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.get_data(as_text=True) == "203.0.113.7"
    plain = create_app(type("Direct", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": "sqlite://"}))

    @plain.route("/whoami")
    def whoami_direct():
        return request.remote_addr

    assert (
        plain.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"}).get_data(as_text=True)
        == "127.0.0.1"
    )
