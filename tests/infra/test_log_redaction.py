"""Logs never carry secrets, tokens or full phone numbers."""

from __future__ import annotations

import json

import pytest
import structlog

from okada.infra.observability.logging import configure_logging, mask_phone


def test_secrets_tokens_and_phones_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=True, service="test")
    structlog.reset_defaults()
    configure_logging(level="INFO", json=True, service="test")
    log = structlog.get_logger("test")
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    log.info(
        "login attempt for +237677123456",
        phone="+237 6 77 12 34 56",
        password="hunter2-secret",
        otp_code="123456",
        refresh_token="abc",
        headers={"authorization": f"Bearer {jwt}", "accept": "json"},
        note=f"retry with {jwt}",
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "677123456" not in line
    assert "77 12 34 56" not in line
    assert "hunter2" not in line and "123456\"" not in line
    assert jwt not in line
    assert record["password"] == "[redacted]"
    assert record["refresh_token"] == "[redacted]"
    assert record["headers"]["authorization"] == "[redacted]"
    assert record["headers"]["accept"] == "json"
    assert record["phone"].endswith("56") and "*" in record["phone"]
    assert record["service"] == "test"
    structlog.reset_defaults()


def test_mask_phone_keeps_only_country_and_last_digits() -> None:
    assert mask_phone("+237677123456") == "+237*******56"
    assert mask_phone("12") == "***"
