"""gameday.redact: secrets masked in text, data and log lines."""

from __future__ import annotations

import io
import logging

from gameday.redact import MASK, Redactor, is_credential_key, mask_logs, secret_values

DSN = "postgresql://coffee:s3cr3t-Pa55@127.0.0.1:5432/coffee"


def test_secret_values_come_from_scopes_credential_keys_and_url_passwords():
    experiment = {
        "configuration": {"api_url": "http://127.0.0.1:8005", "admin_token": "tok-12345"},
        "method": [{"arguments": {"url": "redis://:r3dis-pw@127.0.0.1:6379/0"}}],
    }
    found = secret_values([{"coffee": {"postgres_dsn": DSN, "short": "abc"}}], experiment)
    assert {DSN, "s3cr3t-Pa55", "tok-12345", "r3dis-pw"} <= found
    assert "abc" not in found  # too short to mask without masking ordinary words
    assert "http://127.0.0.1:8005" not in found


def test_credential_keys_are_named_like_credentials_not_like_where_they_are_kept():
    assert is_credential_key("POSTGRES_PASSWORD") and is_credential_key("postgres_dsn")
    assert is_credential_key("api_token") and is_credential_key("client_secret")
    assert not is_credential_key("secrets_file") and not is_credential_key("users")


def test_text_masks_values_url_passwords_and_password_keywords():
    redactor = Redactor({"s3cr3t-Pa55"})
    text = redactor.text(
        f"connecting to {DSN}; host=db password='other pw' user=x; also s3cr3t-Pa55 alone; "
        "redis://:unknown-pw@10.0.0.1:6379"
    )
    assert "s3cr3t-Pa55" not in text and "other pw" not in text and "unknown-pw" not in text
    assert "postgresql://coffee:***@127.0.0.1" in text and "password=***" in text


def test_data_masks_credential_keys_and_secret_values_anywhere():
    redactor = Redactor({"s3cr3t-Pa55"})
    journal = {
        "experiment": {"secrets": {"coffee": {"postgres_dsn": DSN}}},
        "run": [{"output": {"env": {"POSTGRES_PASSWORD": "s3cr3t-Pa55", "POOL": 2}}}],
        "note": ["said s3cr3t-Pa55 here"],
    }
    masked = redactor.data(journal)
    assert masked["experiment"]["secrets"]["coffee"]["postgres_dsn"] == MASK
    assert masked["run"][0]["output"]["env"] == {"POSTGRES_PASSWORD": MASK, "POOL": 2}
    assert masked["note"] == [f"said {MASK} here"]
    assert journal["run"][0]["output"]["env"]["POSTGRES_PASSWORD"] == "s3cr3t-Pa55"  # a copy


def test_log_lines_and_tracebacks_are_masked():
    stream = io.StringIO()
    log = logging.getLogger("test_redact")
    log.propagate = False
    handler = logging.StreamHandler(stream)
    log.addHandler(handler)
    try:
        mask_logs(Redactor({"s3cr3t-Pa55"}), log)
        log.warning("dsn is %s", DSN)
        try:
            raise RuntimeError("failed with s3cr3t-Pa55")
        except RuntimeError:
            log.exception("boom")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert "s3cr3t-Pa55" not in written
    assert "RuntimeError: failed with ***" in written and "coffee:***@" in written
