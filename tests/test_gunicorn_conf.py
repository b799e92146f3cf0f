"""gunicorn.conf.py: two workers by default, everything overridable from the environment."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
SETTINGS = ("WEB_CONCURRENCY", "GUNICORN_BIND", "HOST", "PORT", "GUNICORN_PRELOAD", "GUNICORN_ACCESS_LOG")


@pytest.fixture
def conf(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def load(**env: str) -> dict:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return load


def test_defaults_two_sync_workers_on_loopback_without_access_log(conf):
    settings = conf()
    assert settings["workers"] == 2
    assert settings["worker_class"] == "sync"
    assert settings["bind"] == "127.0.0.1:8000"
    assert settings["preload_app"] is True
    assert settings["accesslog"] is None


def test_the_environment_overrides_each_setting(conf):
    settings = conf(WEB_CONCURRENCY="5", PORT="9000", GUNICORN_PRELOAD="off", GUNICORN_ACCESS_LOG="-")
    assert settings["workers"] == 5
    assert settings["bind"] == "127.0.0.1:9000"
    assert settings["preload_app"] is False
    assert settings["accesslog"] == "-"
    assert conf(GUNICORN_BIND="0.0.0.0:8080")["bind"] == "0.0.0.0:8080"
