"""Cameroonian addresses: quartiers and landmarks, free-text geocoding, reverse geocoding.

People give a city, a quartier, a landmark and directions ("Bonamoussadi, carrefour Eto'o,
derrière la pharmacie"). The matcher forgives case, accents, punctuation, doubled letters,
``y``/``i`` and run-together words ("Biyemassi"), ignores direction words ("face", "derrière",
"entrée", "près de"...) and then looks for the names of the gazetteer in the text, exactly
first and then by similarity.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from okada.kernel import pluscode
from okada.services.delivery.domain.geo import CITY_BOXES, Point, city_of, distance_m

QUARTIER = "quartier"
LANDMARK = "landmark"

_FILLER = """
    a au aux avant apres arriere c chez cote d de des derriere descente du en entree et face
    juste l la le les loin montee non pres quartier qtr rue sur vers voisin voisinage
    cameroun cameroon douala yaounde behind near opposite after before next to the of at in
    immeuble maison portail bleu rouge vert blanc noir jaune gauche droite
"""
FILLER_WORDS = frozenset(_FILLER.split())
"""Direction and glue words that locate relative to a place but never name one."""

GENERIC_HEADS = ("carrefour", "rond point", "marche", "station", "total", "tradex")
"""Words a landmark name may start with that people often leave out ("chez Eto'o")."""

LANDMARK_WEIGHT = 0.92
QUARTIER_WEIGHT = 0.72
"""Quartier centroids are coarse (GeoNames rounds some to 1', about 1.8 km): less sure."""
WITHOUT_HEAD_FACTOR = 0.7
FUZZY_MIN_RATIO = 0.82
AGREEMENT_BONUS = 0.05
DISAGREEMENT_PENALTY = 0.2
MIN_CONFIDENCE = 0.35
MAX_WINDOW = 5

_PLUS_CODE = re.compile(r"\b([23456789CFGHJMPQRVWX]{2,8}\+[23456789CFGHJMPQRVWX]{0,7})", re.I)


def normalize(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", bare).split())


def squash(text: str) -> str:
    """A spelling key: no spaces, ``y`` as ``i``, doubled letters single (Bonamousadi)."""
    key = text.replace(" ", "").replace("y", "i")
    return re.sub(r"(.)\1+", r"\1", key)


def content_tokens(text: str) -> list[str]:
    """The words of ``text`` that may name a place."""
    return [t for t in normalize(text).split() if t not in FILLER_WORDS]


def normalize_city(city: str | None) -> str | None:
    """``"Yaoundé"`` → ``"yaounde"``; None for an empty or unknown city."""
    if not city:
        return None
    key = normalize(city).replace(" ", "")
    return key if key in CITY_BOXES else None


@dataclass(frozen=True, slots=True)
class Place:
    """A quartier or landmark of the gazetteer."""

    id: str
    kind: str
    city: str
    name: str
    point: Point
    quartier: str | None = None  # the quartier a landmark is in
    aliases: tuple[str, ...] = ()
    mark: str = "I"  # "V" verified from a cited source, "I" inferred (unverified estimate)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """What a text geocodes to."""

    point: Point
    city: str
    quartier: str | None
    landmark: str | None
    confidence: float
    method: str  # "landmark", "quartier" or "plus_code"


@dataclass(frozen=True, slots=True)
class _Key:
    place: Place
    tokens: int  # how many content words the key spans
    factor: float  # 1 for a full name, less for a name without its generic head


@dataclass
class Gazetteer:
    """Quartiers and landmarks of the served cities, indexed for matching."""

    places: Sequence[Place]
    _keys: dict[str, list[_Key]] = field(default_factory=dict, init=False, repr=False)
    _quartiers: dict[tuple[str, str], Place] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for place in self.places:
            if place.kind == QUARTIER:
                self._quartiers[(place.city, place.name)] = place
            for name in (place.name, *place.aliases):
                tokens = content_tokens(name)
                if not tokens:
                    continue
                self._add(" ".join(tokens), place, len(tokens), 1.0)
        known_keys = set(self._keys)
        for place in self.landmarks():
            for name in (place.name, *place.aliases):
                joined = " ".join(content_tokens(name))
                for head in GENERIC_HEADS:
                    rest = joined[len(head) + 1 :] if joined.startswith(head + " ") else ""
                    # "Carrefour Kotto" without its head would just be the quartier Kotto.
                    if rest and squash(rest) not in known_keys:
                        self._add(rest, place, len(rest.split()), WITHOUT_HEAD_FACTOR)

    def _add(self, words: str, place: Place, tokens: int, factor: float) -> None:
        self._keys.setdefault(squash(words), []).append(_Key(place, tokens, factor))

    def quartiers(self, city: str | None = None) -> list[Place]:
        """Every quartier (of ``city``)."""
        return [p for p in self.places if p.kind == QUARTIER and city in (None, p.city)]

    def landmarks(self) -> list[Place]:
        """Every landmark."""
        return [p for p in self.places if p.kind == LANDMARK]

    def quartier(self, city: str, name: str) -> Place | None:
        """The quartier named exactly ``name`` in ``city``."""
        return self._quartiers.get((city, name))

    def geocode(self, text: str, city: str | None = None) -> Match | None:
        """Geocode free text to a point with a confidence from 0 to 1; None when unknown.

        Business rules:
            - A full Plus Code in the text wins (confidence 1); a short one is recovered
              near the city's centre when the city is known.
            - A named landmark gives its own point (and its quartier); a quartier alone gives
              the quartier's centroid, with a lower confidence (centroids are coarse).
            - A landmark and a quartier that agree raise the confidence; a landmark that lies
              in another quartier than the one named lowers it (the landmark still wins).
            - Spelling variants are matched by similarity; below a floor nothing matches, and
              an overall confidence under 0.35 counts as not found.
        """
        city = normalize_city(city) or _city_named_in(text)
        code = self._plus_code(text, city)
        if code is not None:
            return code
        tokens = content_tokens(text)
        if not tokens:
            return None
        scored = self._score(tokens, city)
        landmark = _best(scored, LANDMARK)
        quartier = _best(scored, QUARTIER)
        if landmark is not None and quartier is not None and (
            LANDMARK_WEIGHT * landmark[1] < QUARTIER_WEIGHT * quartier[1]
        ):
            landmark = None  # a weak landmark guess loses to a clearly named quartier
        if landmark is not None:
            place, score = landmark
            confidence = LANDMARK_WEIGHT * min(score, 1.0)
            if quartier is not None:
                if quartier[0].name == place.quartier and quartier[0].city == place.city:
                    confidence = min(0.99, confidence + AGREEMENT_BONUS)
                else:
                    confidence -= DISAGREEMENT_PENALTY
            match = Match(place.point, place.city, place.quartier, place.name,
                          round(confidence, 2), LANDMARK)
        elif quartier is not None:
            place, score = quartier
            match = Match(place.point, place.city, place.name, None,
                          round(QUARTIER_WEIGHT * min(score, 1.0), 2), QUARTIER)
        else:
            return None
        return match if match.confidence >= MIN_CONFIDENCE else None

    def _score(self, tokens: list[str], city: str | None) -> dict[str, tuple[Place, float]]:
        best: dict[str, tuple[Place, float]] = {}

        def offer(key: _Key, ratio: float) -> None:
            place = key.place
            if city is not None and place.city != city:
                return
            # Longer names matched are more specific: "marche central" beats "central".
            score = ratio * key.factor * (1 + 0.02 * key.tokens)
            if place.id not in best or best[place.id][1] < score:
                best[place.id] = (place, score)

        windows = list(_windows(tokens))
        exact_found = False
        for window in windows:
            for key in self._keys.get(squash(window), []):
                exact_found = True
                offer(key, 1.0)
        if exact_found:
            return best
        for window in windows:
            probe = squash(window)
            for stored, keys in self._keys.items():
                if abs(len(stored) - len(probe)) > max(2, len(stored) // 4):
                    continue
                matcher = SequenceMatcher(None, probe, stored, autojunk=False)
                if matcher.quick_ratio() < FUZZY_MIN_RATIO:
                    continue
                ratio = matcher.ratio()
                if ratio >= FUZZY_MIN_RATIO:
                    for key in keys:
                        offer(key, ratio)
        return best

    def _plus_code(self, text: str, city: str | None) -> Match | None:
        found = _PLUS_CODE.search(text.upper())
        if found is None:
            return None
        code = found.group(1)
        try:
            if pluscode.is_full(code):
                area = pluscode.decode(code)
            elif pluscode.is_short(code) and city is not None:
                box = CITY_BOXES[city]
                centre = ((box.south + box.north) / 2, (box.west + box.east) / 2)
                area = pluscode.decode(pluscode.recover_nearest(code, *centre))
            else:
                return None
        except ValueError:
            return None
        point = Point(*area.center)
        found_city = city_of(point)
        if found_city is None:
            return None
        nearest = self.reverse(point)
        return Match(point, found_city, nearest.name if nearest else None, None, 1.0,
                     "plus_code")

    def reverse(self, point: Point, *, max_distance_m: float = 4000.0) -> Place | None:
        """The quartier whose centroid is nearest ``point`` within ``max_distance_m``."""
        city = city_of(point)
        candidates = self.quartiers(city) if city else []
        best: tuple[float, Place] | None = None
        for place in candidates:
            d = distance_m(point, place.point)
            if best is None or d < best[0]:
                best = (d, place)
        if best is None or best[0] > max_distance_m:
            return None
        return best[1]


def _windows(tokens: list[str]) -> Iterable[str]:
    for size in range(1, min(MAX_WINDOW, len(tokens)) + 1):
        for start in range(len(tokens) - size + 1):
            yield " ".join(tokens[start : start + size])


def _best(scored: dict[str, tuple[Place, float]], kind: str) -> tuple[Place, float] | None:
    found = [v for v in scored.values() if v[0].kind == kind]
    if not found:
        return None
    found.sort(key=lambda v: (-v[1], v[0].id))
    best = found[0]
    # Two different places equally likely: keep the first but say we are less sure.
    if len(found) > 1 and found[1][1] == best[1] and found[1][0].point != best[0].point:
        return best[0], best[1] * 0.8
    return best


def _city_named_in(text: str) -> str | None:
    words = set(normalize(text).split())
    for city in CITY_BOXES:
        if city in words:
            return city
    return None
