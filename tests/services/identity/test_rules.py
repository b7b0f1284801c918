"""Pure identity rules: Plus Codes, address normalisation, password policy, TOTP window."""

from __future__ import annotations

import datetime as dt
import uuid

import pyotp
import pytest

from okada.kernel import pluscode
from okada.kernel.errors import Unprocessable
from okada.services.identity.adapters.passwords import Argon2PasswordHasher
from okada.services.identity.adapters.totp import PyotpAuthenticator
from okada.services.identity.application.model import Place
from okada.services.identity.application.passwords import check_password_policy
from okada.services.identity.application.places import fold, normalise_place

# Vectors produced with the reference implementation (openlocationcode 1.0.1).
ENCODINGS = [
    (20.375, 2.775, 6, "7FG49Q00+"),
    (20.3701125, 2.782234375, 10, "7FG49QCJ+2V"),
    (4.0901, 9.7452, 11, "6FPF3PRW+23W"),
    (3.86667, 11.51667, 10, "6FMHVG88+MM"),
    (-41.2730625, 174.7859375, 10, "4VCPPQGP+Q9"),
    (47.0000625, 8.0000625, 15, "8FVC2222+22GCCCC"),
]


@pytest.mark.parametrize(("lat", "lng", "length", "code"), ENCODINGS)
def test_plus_code_encoding_matches_the_reference(
    lat: float, lng: float, length: int, code: str
) -> None:
    assert pluscode.encode(lat, lng, length) == code
    area = pluscode.decode(code)
    assert area.south <= lat < area.north or length < 10
    assert area.code_length == len(code.replace("+", "").replace("0", ""))


def test_plus_code_decoding_and_recovery() -> None:
    area = pluscode.decode("7FG49QCJ+2V")
    assert (area.south, area.west) == pytest.approx((20.37, 2.782125))
    assert (area.north, area.east) == pytest.approx((20.370125, 2.78225))
    assert pluscode.recover_nearest("9QCJ+2V", 20.3, 2.8) == "7FG49QCJ+2V"
    assert pluscode.recover_nearest("3PRW+23", 4.04827, 9.70428) == "6FPF3PRW+23"
    assert pluscode.recover_nearest("RW+23", 4.09, 9.74) == "6FPF3PRW+23"


@pytest.mark.parametrize(
    ("code", "valid", "short", "full"),
    [
        ("8FWC2345+G6", True, False, True),
        ("8FWC2345+G6G", True, False, True),
        ("8fwc2345+", True, False, True),
        ("8FWCX400+", True, False, True),
        ("WC2345+G6g", True, True, False),
        ("2345+G6", True, True, False),
        ("45+G6", True, True, False),
        ("+G6", True, True, False),
        ("G+", False, False, False),
        ("8FWC2_45+G6", False, False, False),
        ("8FWC2345+G", False, False, False),
        ("8FWC2300+G6", False, False, False),
        ("WC2300+G6g", False, False, False),
        ("8FWC2345G6+", False, False, False),
        ("C2+", True, True, False),
        ("CFX3X2X2+X2", True, False, True),
        ("", False, False, False),
    ],
)
def test_plus_code_validity(code: str, valid: bool, short: bool, full: bool) -> None:
    assert pluscode.is_valid(code) is valid
    assert pluscode.is_short(code) is short
    assert pluscode.is_full(code) is full


def _place(**fields: object) -> Place:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    base: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "label": "Maison",
        "city": "Douala",
        "quartier": "Akwa",
        "created_at": now,
        "updated_at": now,
    }
    return Place(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("douala", "Douala"),
        ("DOUALA ", "Douala"),
        ("Yaoundé", "Yaoundé"),
        ("yaounde", "Yaoundé"),
        ("YAOUNDÉ", "Yaoundé"),
        ("Yaoundè", "Yaoundé"),
    ],
)
def test_city_spellings(typed: str, canonical: str) -> None:
    place = normalise_place(_place(city=typed), allowed_regions=frozenset({"CM"}))
    assert place.city == canonical


def test_quartier_spellings_and_free_text() -> None:
    regions = frozenset({"CM"})
    assert normalise_place(_place(quartier="bonaberi"), allowed_regions=regions).quartier == (
        "Bonabéri"
    )
    assert (
        normalise_place(
            _place(city="Yaounde", quartier="MVOG MBI"), allowed_regions=regions
        ).quartier
        == "Mvog-Mbi"
    )
    # a Douala quartier is not "corrected" in Yaoundé, and unknown names stay as typed
    assert (
        normalise_place(_place(city="Yaounde", quartier="akwa"), allowed_regions=regions).quartier
        == "akwa"
    )
    assert fold("  Cité-des  Palmiers ") == "cite des palmiers"


def test_pin_bounds() -> None:
    regions = frozenset({"CM"})
    assert normalise_place(_place(lat=13.0, lng=14.5), allowed_regions=regions).lat == 13.0
    for lat, lng in [(0.5, 10.0), (4.0, 8.0), (14.0, 14.0), (4.0, 17.0)]:
        with pytest.raises(Unprocessable) as err:
            normalise_place(_place(lat=lat, lng=lng), allowed_regions=regions)
        assert err.value.code == "location_outside_cameroon"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("eleven char", "password_too_short"),
        ("x" * 129, "password_too_long"),
        ("AZERTYUIOP123", "password_too_common"),
        ("aaaaaaaaaaaaaaaa", "password_too_common"),
        ("mon numero 677123456", "password_too_common"),
    ],
)
def test_password_policy_refuses(password: str, code: str) -> None:
    with pytest.raises(Unprocessable) as err:
        check_password_policy(password, phone_digits="677123456")
    assert err.value.code == code


def test_password_policy_accepts_long_passphrases() -> None:
    assert check_password_policy("le taxi jaune de Bonabéri") == "le taxi jaune de Bonabéri"
    assert len(check_password_policy("y" * 11 + "z" * 117)) == 128


def test_argon2_adapter_verifies_and_flags_weak_hashes() -> None:
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    hasher = Argon2PasswordHasher()
    encoded = hasher.hash("a long enough passphrase")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hasher.verify(encoded, "a long enough passphrase")
    assert not hasher.verify(encoded, "another passphrase")
    assert not hasher.verify("not a hash", "whatever")
    assert not hasher.needs_rehash(encoded)
    assert hasher.needs_rehash(PasswordHasher.from_parameters(CHEAPEST).hash("x"))


def test_totp_window_is_one_step_either_side() -> None:
    totp = PyotpAuthenticator()
    secret = totp.new_secret()
    assert len(secret) == 32
    at = dt.datetime(2026, 3, 1, 12, 0, 10, tzinfo=dt.UTC)
    step = int(at.timestamp()) // 30
    reference = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        code = reference.generate_otp(step + offset)
        assert totp.matching_step(secret, code, at=at) == step + offset
    for offset in (-2, 2):
        code = reference.generate_otp(step + offset)
        if code not in {reference.generate_otp(step + o) for o in (-1, 0, 1)}:
            assert totp.matching_step(secret, code, at=at) is None
    assert totp.matching_step(secret, "12345", at=at) is None
    assert totp.matching_step(secret, "abcdef", at=at) is None
    uri = totp.provisioning_uri(secret, account="+237699000001", issuer="Okada")
    assert uri.startswith("otpauth://totp/Okada:%2B237699000001?secret=")
