"""The gazetteer data file shipped with the service (``data/gazetteer.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from okada.services.delivery.domain.gazetteer import LANDMARK, QUARTIER, Gazetteer, Place
from okada.services.delivery.domain.geo import Point

GAZETTEER_PATH = Path(__file__).resolve().parent.parent / "data" / "gazetteer.json"


def read_gazetteer(path: Path = GAZETTEER_PATH) -> Gazetteer:
    """Load and check the gazetteer: every place names a known source and a kind."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    sources = document["sources"]
    places = []
    for row in document["places"]:
        if row["source"] not in sources:
            raise ValueError(f"gazetteer place {row['id']} cites unknown source {row['source']}")
        if row["kind"] not in (QUARTIER, LANDMARK):
            raise ValueError(f"gazetteer place {row['id']} has unknown kind {row['kind']}")
        places.append(Place(
            id=row["id"], kind=row["kind"], city=row["city"], name=row["name"],
            point=Point(float(row["lat"]), float(row["lng"])), quartier=row.get("quartier"),
            aliases=tuple(row.get("aliases", ())), mark=row["mark"], source=row["source"],
        ))
    return Gazetteer(places)
