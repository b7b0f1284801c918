"""Geocoding Cameroonian addresses, reverse geocoding and Plus Codes (pure, no I/O)."""

from __future__ import annotations

import pytest

from okada.kernel import pluscode
from okada.services.delivery.adapters.gazetteer_file import read_gazetteer
from okada.services.delivery.application.geocoding import GeoService
from okada.services.delivery.domain.errors import (
    AddressNotFound,
    InvalidPlusCode,
    PointOutsideCameroon,
    QuartierNotFound,
)
from okada.services.delivery.domain.gazetteer import LANDMARK, QUARTIER
from okada.services.delivery.domain.geo import Point, distance_m

GAZETTEER = read_gazetteer()
GEO = GeoService(GAZETTEER)

# (text as people type it, city given by the app or None, expected city, expected quartier)
ADDRESSES = [
    ("Bonamoussadi, carrefour Eto'o, derrière la pharmacie", "Douala", "douala", "Bonamoussadi"),
    ("bonamousadi face total", "douala", "douala", "Bonamoussadi"),
    ("BONAMOUSSADI entrée marché", None, "douala", "Bonamoussadi"),
    ("Akwa, face Hôpital Laquintinie", "Douala", "douala", "Akwa"),
    ("derriere akwa palace", "Douala", "douala", "Akwa"),
    ("près du marché Sandaga", "Douala", "douala", "Akwa"),
    ("Deido, rond-point Deido, portail bleu", "Douala", "douala", "Deido"),
    ("deïdo vers le marché", "Douala", "douala", "Deido"),
    ("Bonanjo à côté de la Pagode", "Douala", "douala", "Bonanjo"),
    ("Lycée Joss", "Douala", "douala", "Bonanjo"),
    ("Bonaberi après le pont du Wouri", "Douala", "douala", "Bonabéri"),
    ("Bépanda, stade de la Réunification", "Douala", "douala", "Bépanda"),
    ("bepanda omnisport montée", "Douala", "douala", "Bépanda"),
    ("carrefour Ndokoti", "Douala", "douala", "Carrefour Ndokoti"),
    ("Ndokotti près de la station", "Douala", "douala", "Carrefour Ndokoti"),
    ("Kotto, Douala Grand Mall entrée principale", "Douala", "douala", "Kotto"),
    ("Koto carrefour", "Douala", "douala", "Kotto"),
    ("Logpom marché", "Douala", "douala", "Logpom"),
    ("Makepè Missoké", "Douala", "douala", "Makepe Missoke"),
    ("Cité des Palmiers, carrefour", "Douala", "douala", "Cité des Palmiers"),
    ("New-Bell derrière le marché", "Douala", "douala", "New Bell"),
    ("Ndogbong, université de Douala", "Douala", "douala", "Ndogbong"),
    ("Logbaba Tradex", "Douala", "douala", "Logbaba"),
    ("PK 14 après le carrefour", "Douala", "douala", "PK14"),
    ("Japoma stade", "Douala", "douala", "Japoma"),
    ("Youpwé, au port de pêche", "Douala", "douala", "Youpwe"),
    ("Bastos, face Mahima", "Yaoundé", "yaounde", "Bastos"),
    ("Carrefour Bastos", "Yaounde", "yaounde", "Bastos"),
    ("Biyem-Assi, carrefour", "Yaoundé", "yaounde", "Biyem-Assi"),
    ("biyemassi montée jouvence", "yaounde", "yaounde", "Biyem-Assi"),
    ("Mvog-Mbi marché", "Yaoundé", "yaounde", "Mvog-Mbi"),
    ("mvog mbi", "Yaoundé", "yaounde", "Mvog-Mbi"),
    ("Melen, CHU", "Yaoundé", "yaounde", "Melen"),
    ("Ngoa-Ekellé entrée université", "Yaoundé", "yaounde", "Melen"),
    ("derrière la prison de Kondengui", "Yaoundé", "yaounde", "Ekounou"),
    ("Essos marché", "Yaoundé", "yaounde", "Essos"),
    ("stade Ahmadou Ahidjo", "Yaoundé", "yaounde", "Essos"),
    ("Mokolo marché, entrée des vivres", "Yaoundé", "yaounde", "Mokolo"),
    ("près de la poste centrale", "Yaoundé", "yaounde", "Centre-ville"),
    ("Nlongkak carrefour", "Yaoundé", "yaounde", "Nlongkak"),
    ("Tsinga vers le mont Febe", "Yaoundé", "yaounde", "Tsinga"),
    ("Etoudi, palais de l'unité", "Yaoundé", "yaounde", "Etoudi"),
    ("Olembe", "Yaoundé", "yaounde", "Olembé"),
    ("Mendong marché", "Yaoundé", "yaounde", "Mendong"),
    ("Odza, Yaoundé", None, "yaounde", "Odza"),
    ("Elig Essono carrefour", "Yaoundé", "yaounde", "Elig-Essono"),
]


def test_the_gazetteer_has_enough_places_each_with_a_known_source() -> None:
    quartiers = GAZETTEER.quartiers()
    landmarks = GAZETTEER.landmarks()
    assert len(quartiers) >= 40
    assert len(landmarks) >= 40
    assert {p.city for p in quartiers} == {"douala", "yaounde"}
    assert {p.mark for p in GAZETTEER.places} <= {"V", "I"}
    # every landmark lies in the quartier it names: reverse geocoding agrees with the data
    for landmark in landmarks:
        assert GAZETTEER.quartier(landmark.city, landmark.quartier or "") is not None, landmark
        nearest = GAZETTEER.reverse(landmark.point)
        assert nearest is not None
        tied = {q.name for q in GAZETTEER.quartiers(landmark.city)
                if abs(distance_m(q.point, landmark.point)
                       - distance_m(nearest.point, landmark.point)) < 1}
        assert landmark.quartier in tied, (landmark.name, nearest.name)


@pytest.mark.parametrize(("text", "city", "want_city", "want_quartier"), ADDRESSES)
def test_real_looking_addresses_geocode_to_their_quartier(
    text: str, city: str | None, want_city: str, want_quartier: str
) -> None:
    match = GEO.geocode(text, city)
    assert (match.city, match.quartier) == (want_city, want_quartier), match
    assert 0.35 <= match.confidence <= 1.0


def test_the_address_test_set_is_large_and_covers_both_cities() -> None:
    assert len(ADDRESSES) >= 40
    assert {a[2] for a in ADDRESSES} == {"douala", "yaounde"}


def test_accents_case_and_spelling_variants_give_the_same_point() -> None:
    variants = ["Bépanda", "BEPANDA", "bepanda", "Bepannda"]
    points = {GEO.geocode(v, "douala").point for v in variants}
    assert len(points) == 1
    assert GEO.geocode("Biyemassi", "yaounde").point == GEO.geocode("Biyem Assi", "yaounde").point


def test_a_landmark_is_more_precise_and_surer_than_a_quartier_alone() -> None:
    quartier = GEO.geocode("Bonamoussadi", "douala")
    landmark = GEO.geocode("Bonamoussadi, carrefour Eto'o", "douala")
    assert quartier.method == QUARTIER
    assert landmark.method == LANDMARK
    assert landmark.landmark == "Carrefour Eto'o"
    assert landmark.confidence > quartier.confidence
    assert landmark.point != quartier.point


def test_the_city_picks_between_homonyms() -> None:
    douala = GEO.geocode("marché central", "Douala")
    yaounde = GEO.geocode("marché central", "Yaoundé")
    anywhere = GEO.geocode("marché central")
    assert (douala.city, yaounde.city) == ("douala", "yaounde")
    assert anywhere.confidence < douala.confidence  # ambiguous without the city


def test_nonsense_is_not_found() -> None:
    for text in ("xqzt wvbn", "derrière, face, à côté de", "12345"):
        with pytest.raises(AddressNotFound):
            GEO.geocode(text, "douala")
    # a Yaoundé quartier asked for in Douala is not found there
    with pytest.raises(AddressNotFound):
        GEO.geocode("Nlongkak", "douala")


def test_reverse_geocoding_finds_the_nearest_quartier() -> None:
    found = GEO.reverse(Point(4.0906, 9.7455))
    assert (found.place.city, found.place.name) == ("douala", "Bonamoussadi")
    assert found.distance_m < 200
    assert pluscode.is_full(found.plus_code)
    yaounde = GEO.reverse(Point(3.8951, 11.5101))
    assert yaounde.place.name == "Bastos"
    with pytest.raises(PointOutsideCameroon):
        GEO.reverse(Point(48.85, 2.35))  # Paris
    with pytest.raises(QuartierNotFound):
        GEO.reverse(Point(5.96, 10.15))  # Bamenda: Cameroon, but not served


def test_plus_codes_round_trip_and_short_codes_recover_near_the_city() -> None:
    point = Point(4.0906, 9.7455)
    code = GEO.encode(point, 11)
    area = GEO.decode(code)
    assert area.south <= point.lat < area.north and area.west <= point.lng < area.east
    assert distance_m(Point(*area.center), point) < 5
    short = code[4:]  # drop the first 4 digits: a code relative to the city
    recovered = GEO.decode(short, "Douala")
    assert distance_m(Point(*recovered.center), point) < 5
    # a Plus Code in a typed address wins over everything else
    match = GEO.geocode(f"{short} Douala, chez Paul")
    assert match.method == "plus_code" and match.confidence == 1.0
    assert distance_m(match.point, point) < 5
    with pytest.raises(InvalidPlusCode):
        GEO.decode(short)  # short code without a city
    with pytest.raises(InvalidPlusCode):
        GEO.decode("HELLO+WORLD")
    with pytest.raises(PointOutsideCameroon):
        GEO.encode(Point(0.0, 0.0))
