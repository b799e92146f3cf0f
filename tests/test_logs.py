"""Link tokens never reach the logs."""

import logging

from clinic.logs import RedactTokens, redact


def test_redact_masks_invitation_tokens():
    line = '127.0.0.1 - - "GET /invite/Abc_def-123456789XYZabc HTTP/1.1" 302 -'
    assert redact(line) == '127.0.0.1 - - "GET /invite/[redacted] HTTP/1.1" 302 -'
    assert (
        redact('"GET /l/Q9x_-abcdefghijklmnopqrstuvwxyz0123456789 HTTP/1.1" 302') == '"GET /l/[redacted] HTTP/1.1" 302'
    )
    assert redact("GET /signin HTTP/1.1") == "GET /signin HTTP/1.1"
    assert redact("GET /couples/12 HTTP/1.1") == "GET /couples/12 HTTP/1.1"


def test_access_log_record_is_rewritten_before_any_handler(app, caplog):
    token = "Zx9_" + "q" * 40
    logger = logging.getLogger("werkzeug")
    assert any(isinstance(f, RedactTokens) for f in logger.filters)
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logger.info('%s - - "%s" %s', "127.0.0.1", f"GET /invite/{token} HTTP/1.1", 302)
    assert token not in caplog.text
    assert "/invite/[redacted]" in caplog.text
