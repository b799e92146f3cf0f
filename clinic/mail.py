"""Sending email: SMTP when MAIL_SERVER is set, otherwise an outbox folder.

Log lines name the message file or the SMTP outcome, never the address or body:
bodies carry links that are keys to accounts and questionnaires. In development
an outbox message is also printed to standard output (never through the logger),
so the link is on the console of `make run`.
"""

from __future__ import annotations

import logging
import os
import smtplib
import sys
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from clinic.db_types import utcnow

log = logging.getLogger(__name__)


def build_message(to: str, subject: str, text: str) -> EmailMessage:
    """A plain-text message from the practice's configured sender."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="tandem.local")
    msg.set_content(text)
    return msg


def send_email(to: str, subject: str, text: str) -> None:
    """Deliver one message, or write it to the outbox in development."""
    msg = build_message(to, subject, text)
    cfg = current_app.config
    if cfg.get("MAIL_SERVER"):
        smtp_cls = smtplib.SMTP_SSL if cfg.get("MAIL_USE_SSL") else smtplib.SMTP
        with smtp_cls(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=15) as smtp:
            if cfg.get("MAIL_USE_TLS") and not cfg.get("MAIL_USE_SSL"):
                smtp.starttls()
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
            smtp.send_message(msg)
        log.info("email sent over SMTP")
        return
    outbox = cfg.get("MAIL_OUTBOX") or os.path.join(current_app.instance_path, "outbox")
    os.makedirs(outbox, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%f}.eml"
    path = os.path.join(outbox, name)
    with open(path, "wb") as fh:
        fh.write(bytes(msg))
    log.info("email written to outbox file %s", path)
    if cfg.get("ENV_NAME") == "development":
        print_message(msg)


def print_message(msg: EmailMessage) -> None:
    """The message's headers and text on standard output (development only: it holds the link)."""
    headers = "".join(f"{name}: {value}\n" for name, value in msg.items() if name != "Content-Transfer-Encoding")
    body = msg.get_content() if msg.get_content_type() == "text/plain" else ""
    rule = "-" * 72
    sys.stdout.write(f"{rule}\n{headers}\n{body.rstrip()}\n{rule}\n")
    sys.stdout.flush()
