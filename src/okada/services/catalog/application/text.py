"""Search and sort keys that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "\u2019": "'", "ß": "ss"})
SORT_KEY_LENGTH = 120
MAX_TERMS = 5


def normalise(text: str) -> str:
    """Fold a text for matching: no accents, lower case, ligatures spelt out, single spaces.

    Business rule: customers type "ndole", "mutzig" or "boeuf" on phone keyboards, and must
    find "Ndolé", "Mützig" and "Bœuf". The database only ever compares folded text with
    folded text, so no dialect-specific collation, ``ILIKE`` or ``unaccent`` is needed.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def search_key(name: str, brand: str | None, tags: Iterable[str]) -> str:
    """The folded text a product is found by in one language: its name, brand and tags."""
    return normalise(" ".join([name, brand or "", *tags]))


def sort_key(name: str) -> str:
    """The folded name products are listed by (the keyset cursor's first column)."""
    return normalise(name)[:SORT_KEY_LENGTH]


def query_terms(q: str | None) -> list[str]:
    """Split a search box entry into folded words; every word must match (at most five)."""
    if not q:
        return []
    return [term for term in normalise(q).split(" ") if term][:MAX_TERMS]
