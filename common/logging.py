"""Logging set up once per process: JSON lines when not on a TTY, with secrets scrubbed.

Tokens and VPN keys must never reach a log file, whoever logs them (aiogram logs request URLs,
which carry the bot token), so scrubbing is a handler filter rather than a convention.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

_SECRET_PATTERNS = (
    re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}"),                 # Telegram bot token
    re.compile(r"(?<=/bot)\d+:[^/\s]+"),                    # token in a Bot API URL (not bot.py)
    re.compile(r"(ss|vless|vmess|trojan)://[^\s\"']+"),     # VPN access keys
    re.compile(r"https?://[^\s\"']*/sub/[^\s\"']+"),          # subscription URLs (Marzban, Remnawave)
    re.compile(r"(?i)(crypto-pay-api-token|authorization)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@"),          # password in a URL
)
_extra_secrets: list[str] = []


def register_secret(value: str | None) -> None:
    """Scrub this exact value from every log line (tokens from config)."""
    if value and len(value) >= 6 and value not in _extra_secrets:
        _extra_secrets.append(value)


def scrub(text: str) -> str:
    for secret in _extra_secrets:
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2 and "authorization" in pattern.pattern:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
        elif "://)(" in pattern.pattern:
            text = pattern.sub(lambda m: f"{m.group(1)}:***@", text)
        else:
            text = pattern.sub("***", text)
    return text


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrub_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item) for item in value]
    return value


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        # `extra=` fields are written out as they are, and they often carry an exception's text.
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, _scrub_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s " + service + " %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def setup_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ScrubFilter())
    handler.setFormatter(JsonFormatter(service) if use_json else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.captureWarnings(True)
