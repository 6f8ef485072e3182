"""Secrets out of journals, logs and reports (standard library only).

A value is secret when it comes from a secrets scope (the experiment's
``secrets`` block, the lab's secrets file), sits under a key named like a
credential (``password``, ``dsn``, ``token``, ``secret``...), or is the password
in a URL's user information (``postgresql://coffee:<password>@host``).
``Redactor.text`` masks every occurrence of those values in a string;
``Redactor.data`` masks them in JSON-like data, and masks whole values under
credential keys.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["MASK", "Redactor", "is_credential_key", "mask_logs", "secret_values"]

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words and numbers
CREDENTIAL_WORDS = ("password", "passwd", "dsn", "token", "secret", "credential", "api_key")
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@", re.IGNORECASE)
_PASSWORD_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def is_credential_key(key: Any) -> bool:
    """Whether ``key`` names a credential (``POSTGRES_PASSWORD``, ``postgres_dsn``...), not
    where one is kept (``secrets_file``)."""
    if not isinstance(key, str) or key.lower().endswith(("_file", "_path", "_dir")):
        return False
    return any(word in key.lower() for word in CREDENTIAL_WORDS)


def secret_values(scopes: Any = None, *documents: Any) -> set[str]:
    """Every string in ``scopes`` (secrets: all of it is secret), every value under a
    credential key in ``documents`` (an experiment, its configuration), and the password
    of every URL among them."""
    found = set(_strings(scopes))
    for document in documents:
        found.update(_under_credential_keys(document))
    for value in list(found):
        found.update(_url_passwords(value))
    for document in documents:
        for value in _strings(document):
            found.update(_url_passwords(value))
    return {value for value in found if len(value) >= MIN_SECRET_CHARS}


class Redactor:
    """Masks the given secret values (and any URL password) in text and data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = sorted({v for v in values if len(v) >= MIN_SECRET_CHARS}, key=len)[::-1]

    def text(self, text: str) -> str:
        """``text`` with every secret value, URL password and ``password=`` value masked."""
        for value in self.values:
            text = text.replace(value, MASK)
        text = _USERINFO.sub(rf"\1{MASK}@", text)
        return _PASSWORD_KEYWORD.sub(rf"\1{MASK}", text)

    def data(self, value: Any) -> Any:
        """A copy of ``value`` with secrets masked; a credential key's value becomes MASK."""
        if isinstance(value, dict):
            return {key: self._entry(key, item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _entry(self, key: Any, value: Any) -> Any:
        if is_credential_key(key) and isinstance(value, str | int | float) and value != "":
            return MASK
        return self.data(value)


def mask_logs(redactor: Redactor, *loggers: logging.Logger) -> None:
    """Mask secrets in everything the handlers of ``loggers`` write from now on (messages
    and tracebacks alike)."""
    for logger in loggers:
        for handler in logger.handlers:
            inner = handler.formatter or logging.Formatter()
            if isinstance(inner, _MaskingFormatter):
                inner.redactor = redactor
            else:
                handler.setFormatter(_MaskingFormatter(inner, redactor))


class _MaskingFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(self.inner.format(record))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _under_credential_keys(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if is_credential_key(key) and isinstance(item, str | int | float):
                yield str(item)
            else:
                yield from _under_credential_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _under_credential_keys(item)


def _url_passwords(value: str) -> Iterable[str]:
    if "://" in value and "@" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            yield password
            yield unquote(password)
    for match in _PASSWORD_KEYWORD.finditer(value):
        yield match.group(2).strip("'")
