"""Texts in French and English, XAF per locale, GSM-7 transliteration and segment counting."""

from __future__ import annotations

import datetime as dt

import pytest

from okada.services.notifications.domain.policy import DeliveryPolicy, Kind
from okada.services.notifications.domain.sms import fit_one_segment, measure, transliterate
from okada.services.notifications.domain.templates import (
    TEMPLATES,
    money,
    payment_reason,
    phrase,
    render,
)

LONGEST = {
    "ref": "#4F2A9C",
    "total": money(1_234_567, "fr"),
    "amount": money(1_234_567, "fr"),
    "fee": money(12_500, "fr"),
    "items": "12",
    "store": "Supermarche Okada Bonamoussadi",
    "quartier": "Cite des Palmiers Ndogbong",
    "expires": "22:45",
    "cash": phrase("cash", "fr", amount=money(125_000, "fr")),
    "reason": payment_reason("PAYER_NOT_FOUND", "fr"),
}


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.OTP])
def test_every_template_renders_in_both_languages_and_fits_one_gsm7_segment(
        kind: Kind, language: str) -> None:
    assert (kind.value, language) in TEMPLATES
    rendered = render(kind, language, **LONGEST)
    assert rendered.language == language
    assert rendered.title and rendered.body and "{" not in rendered.body + rendered.sms
    length = measure(rendered.sms)
    assert (length.encoding, length.segments) == ("GSM-7", 1), rendered.sms
    assert rendered.sms.isascii()


def test_language_choice_defaults_to_french() -> None:
    params = {"ref": "#ABC123", "total": money(1500, "fr")}
    assert render(Kind.ORDER_CONFIRMED, "en-CM", **params).title == "Order confirmed"
    assert render(Kind.ORDER_CONFIRMED, "fr", **params).title == "Commande confirmée"
    assert render(Kind.ORDER_CONFIRMED, "de", **params).title == "Commande confirmée"


def test_xaf_is_written_the_way_each_locale_writes_it() -> None:
    assert money(1500, "fr") == "1\u202f500 FCFA"
    assert money(1_234_567, "fr") == "1\u202f234\u202f567 FCFA"
    assert money(1500, "en") == "1,500 FCFA"
    assert money(0, "en") == "0 FCFA"
    fr = render(Kind.REFUND_COMPLETED, "fr", ref="#A", amount=money(2500, "fr"))
    assert fr.body.startswith("2\u202f500 FCFA vous ont été remboursés")  # push keeps it
    assert fr.sms == "Okada: 2 500 FCFA rembourses pour la commande #A."  # SMS: plain space
    en = render(Kind.REFUND_COMPLETED, "en", ref="#A", amount=money(2500, "en"))
    assert en.sms == "Okada: 2,500 FCFA refunded for order #A."


def test_transliteration_keeps_sms_in_gsm7() -> None:
    assert transliterate("Commande confirmée à Bépanda") == "Commande confirmee a Bepanda"
    assert transliterate("ça coûte, l\u2019été «\u00a0tôt\u00a0» — Œuvre") == \
        'ca coute, l\'ete " tot " - OEuvre'
    assert transliterate("Ngaoundéré ÀÈÊÔÎ ïëü") == "Ngaoundere AEEOI ieu"
    assert transliterate("prix: 1\u202f500\u00a0FCFA…") == "prix: 1 500 FCFA..."
    assert transliterate("emoji 🛵 ok") == "emoji ? ok"
    assert measure(transliterate("àéèùç ÂÊÎÔÛ œ « » \u2019 🛵")).encoding == "GSM-7"


def test_segment_counting_follows_gsm7_and_ucs2_rules() -> None:
    assert measure("a" * 160).segments == 1
    assert measure("a" * 161).segments == 2  # 161 GSM-7 characters: two parts of 153
    assert measure("a" * 306).segments == 2
    assert measure("a" * 307).segments == 3
    assert measure("€" * 80) == measure("a" * 160)  # extension characters cost two septets
    assert measure("€" * 81).segments == 2
    assert measure("é" * 160).encoding == "GSM-7"  # é is in the GSM-7 basic set
    one_ucs2 = "ê" + "a" * 69
    assert (measure(one_ucs2).encoding, measure(one_ucs2).segments) == ("UCS-2", 1)
    assert measure(one_ucs2 + "a").segments == 2  # 71 UCS-2 units: parts of 67
    assert measure("ê" * 134).segments == 2
    assert measure("ê" * 135).segments == 3
    assert measure("🛵" * 35).units == 70  # outside the BMP: two UTF-16 units each


def test_a_too_long_sms_is_cut_to_one_segment() -> None:
    text = "Okada: " + "très long message " * 20
    cut = fit_one_segment(text)
    assert measure(cut).segments == 1 and cut.endswith("...") and len(cut) <= 160


def test_quiet_hours_and_backoff_rules() -> None:
    policy = DeliveryPolicy()
    evening = dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.UTC)  # 21:00 in Douala
    assert policy.in_quiet_hours(evening)
    assert not policy.in_quiet_hours(evening - dt.timedelta(minutes=1))
    assert policy.due_at(Kind.ORDER_ACCEPTED, evening) == dt.datetime(2026, 3, 3, 6, 0,
                                                                      tzinfo=dt.UTC)
    assert policy.due_at(Kind.RIDER_ARRIVING, evening) == evening
    early = dt.datetime(2026, 3, 3, 5, 30, tzinfo=dt.UTC)  # 06:30 in Douala
    assert policy.due_at(Kind.ORDER_ACCEPTED, early) == dt.datetime(2026, 3, 3, 6, 0,
                                                                    tzinfo=dt.UTC)
    assert [policy.retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [
        5, 10, 20, 300, 300]
    assert [policy.sms_provider_index(n) for n in range(6)] == [0, 0, 1, 0, 1, 0]
    assert [policy.sms_provider_index(n, urgent=True) for n in range(3)] == [0, 1, 0]
