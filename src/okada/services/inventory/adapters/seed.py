"""Reads the demo stock file the catalog's ``scripts/make_seed.py`` generates."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from okada.services.inventory.application.stock import SeedRow
from okada.services.inventory.domain.stock import DEFAULT_LOW_STOCK_THRESHOLD

SEED_FILE = Path(__file__).resolve().parents[1] / "seed" / "stock.json"


def read_seed(path: Path = SEED_FILE) -> list[SeedRow]:
    """Rows of ``stock.json``: ``{store_id, product_id, on_hand, low_stock_threshold}`` each.

    An absent file is an empty data set (the catalog engineer's script generates it).
    """
    if not path.exists():
        return []
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of stock rows")
    rows = []
    for number, entry in enumerate(data):
        on_hand = int(entry["on_hand"])
        threshold = int(entry.get("low_stock_threshold", DEFAULT_LOW_STOCK_THRESHOLD))
        if on_hand < 0 or threshold < 0:
            raise ValueError(f"{path}: row {number} has a negative quantity")
        rows.append(
            SeedRow(
                store_id=uuid.UUID(str(entry["store_id"])),
                product_id=uuid.UUID(str(entry["product_id"])),
                on_hand=on_hand,
                low_stock_threshold=threshold,
            )
        )
    return rows
