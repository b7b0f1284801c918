"""Translations (gettext catalogs read with Babel) and language negotiation."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

SUPPORTED = ("fr", "en")
DEFAULT_LANGUAGE = "fr"  # most Okada customers read French first
_CATALOG_DIRS: list[Path] = [Path(__file__).parent / "locales"]


def register_catalog_dir(path: Path) -> None:
    """Add a folder holding ``fr.po`` and ``en.po`` (a service's own messages)."""
    if path not in _CATALOG_DIRS:
        _CATALOG_DIRS.append(path)
        _messages.cache_clear()


@lru_cache(maxsize=4)
def _messages(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for folder in _CATALOG_DIRS:
        po = folder / f"{language}.po"
        if po.exists():
            with po.open("rb") as fh:
                catalog: Catalog = read_po(fh, locale=language)
            for message in catalog:
                if message.id and message.string:
                    merged[str(message.id)] = str(message.string)
    return merged


@lru_cache(maxsize=512)
def negotiate(accept_language: str | None) -> str:
    """Pick ``fr`` or ``en`` from an ``Accept-Language`` header (French by default).

    Memoised: every request of every service asks, apps send a handful of distinct headers,
    and Babel's negotiation parses locales each time (about 1% of the gateway's CPU).
    """
    if not accept_language:
        return DEFAULT_LANGUAGE
    preferred: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().replace("_", "-")
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag:
            preferred.append((quality - position * 1e-6, tag))
    tags = [tag for _, tag in sorted(preferred, reverse=True)]
    match = Locale.negotiate(tags, list(SUPPORTED), sep="-")
    return str(match) if match else DEFAULT_LANGUAGE


def translate(key: str, language: str, **params: Any) -> str:
    """Return the message ``key`` in ``language`` with ``{placeholders}`` filled.

    Falls back to the other language, then to the key itself, so a missing translation is
    visible but never an error.
    """
    text = _messages(language).get(key)
    if text is None:
        for other in SUPPORTED:
            text = _messages(other).get(key)
            if text is not None:
                break
    if text is None:
        return key
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def format_xaf(amount: int, language: str) -> str:
    """Format an XAF amount the way each locale writes it (``1 500 FCFA``/``1,500 FCFA``)."""
    return f"{format_decimal(amount, locale='fr_CM' if language == 'fr' else 'en_CM')} FCFA"
