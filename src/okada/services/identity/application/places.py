"""Saved places with the Cameroonian address model: city, quartier, landmark, directions, pin."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from okada.contracts.identity.v1 import PlaceChanged
from okada.kernel import pluscode
from okada.kernel.authz import Principal, ensure_owner, require_principal
from okada.kernel.clock import Clock
from okada.kernel.errors import ConcurrencyConflict, Forbidden, NotFound, Unprocessable
from okada.kernel.ids import new_id
from okada.kernel.phone import parse_phone
from okada.services.identity.application.errors import PreconditionFailed
from okada.services.identity.application.model import Place
from okada.services.identity.application.ports import IdentityUnitOfWork

PLACE_FIELDS = frozenset(
    {
        "label",
        "city",
        "quartier",
        "landmark",
        "directions",
        "lat",
        "lng",
        "plus_code",
        "contact_phone",
        "is_default",
    }
)
REQUIRED_FIELDS = frozenset({"label", "city", "quartier", "is_default"})

CITY_CENTRES = {"Douala": (4.04827, 9.70428), "Yaoundé": (3.86667, 11.51667)}
"""Served cities (canonical spelling) and their centres (GeoNames), which short Plus Codes
are recovered against when the place has no pin."""

CAMEROON_BOUNDS = (1.654, 13.085, 8.452, 16.207)
"""Onshore Cameroon as (south, north, west, east), EPSG area 3226."""

# Curated spellings of the quartiers people name most; anything else is kept as typed,
# because the list will never be complete and a delivery must not fail on a spelling.
_QUARTIERS = {
    "Douala": (
        "Akwa",
        "Bali",
        "Bassa",
        "Bépanda",
        "Bell",
        "Bonabéri",
        "Bonamouang",
        "Bonamoussadi",
        "Bonanjo",
        "Bonapriso",
        "Cité des Palmiers",
        "Deido",
        "Japoma",
        "Kotto",
        "Logbaba",
        "Logbessou",
        "Logpom",
        "Makepe",
        "Mambanda",
        "Ndogbong",
        "Ndokoti",
        "New Bell",
        "Ngangue",
        "Nkolmintag",
        "PK14",
        "Sodiko",
        "Yassa",
        "Youpwe",
    ),
    "Yaoundé": (
        "Bastos",
        "Biteng",
        "Biyem-Assi",
        "Cité de la Paix",
        "Djoungolo",
        "Ekié",
        "Ekoumdoum",
        "Ekounou",
        "Elig-Essono",
        "Emana",
        "Essos",
        "Etetak",
        "Etoudi",
        "Etoug-Ebé",
        "Melen",
        "Mendong",
        "Messa",
        "Mimboman",
        "Mokolo",
        "Mvan",
        "Mvog-Mbi",
        "Mvolyé",
        "Ngousso",
        "Nkolbisson",
        "Nkom-Kana",
        "Nlongkak",
        "Odza",
        "Olembé",
        "Simbock",
        "Tsinga",
    ),
}


def fold(text: str) -> str:
    """Compare spellings the way people type them: no accents, case, hyphens or extra spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().replace("-", " ").replace("'", " ").split())


_CITY_BY_FOLD = {fold(city): city for city in CITY_CENTRES}
_QUARTIER_BY_FOLD = {city: {fold(q): q for q in names} for city, names in _QUARTIERS.items()}

Precondition = Callable[[Place], None]
"""Called with the stored place before an edit; raises when the client's copy is stale."""


class PlaceService:
    """Use cases on a user's saved places."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], IdentityUnitOfWork],
        clock: Clock,
        allowed_regions: frozenset[str] = frozenset({"CM"}),
        max_places: int = 20,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._regions = allowed_regions
        self._max_places = max_places

    async def mine(self, principal: Principal | None) -> list[Place]:
        """The caller's live places, the default one first."""
        caller = require_principal(principal)
        async with self._uow() as uow:
            await _active(uow, caller)
            return await uow.places.for_user(caller.user_id)

    async def get(self, principal: Principal | None, place_id: uuid.UUID) -> Place:
        """One place; someone else's (or a deleted one) is a 404 so ids cannot be probed.

        Operations and admin may read any place (support, pin corrections).
        """
        async with self._uow() as uow:
            return await _visible(uow, principal, place_id)

    async def create(self, principal: Principal | None, fields: Mapping[str, Any]) -> Place:
        """Save a new place for the caller.

        Business rules: a user's first place is their default whatever they asked; a new
        default takes over from the old one (exactly one default per user); at most
        ``max_places`` live places. Addresses are validated and normalised (see
        :func:`normalise_place`).
        """
        caller = require_principal(principal)
        unknown = sorted(set(fields) - PLACE_FIELDS)
        if unknown:
            raise Unprocessable("field_not_editable", fields=", ".join(unknown))
        now = self._clock.now()
        place = Place(
            id=new_id(),
            user_id=caller.user_id,
            label=fields.get("label") or "",
            city=fields.get("city") or "",
            quartier=fields.get("quartier") or "",
            created_at=now,
            updated_at=now,
            **{k: fields[k] for k in PLACE_FIELDS - {"label", "city", "quartier"} if k in fields},
        )
        place.is_default = bool(place.is_default)
        place = self.normalise(place)
        async with self._uow() as uow:
            await _active(uow, caller)
            existing = await uow.places.for_user(caller.user_id)
            if len(existing) >= self._max_places:
                raise Unprocessable("too_many_places", max=self._max_places)
            if not existing:
                place.is_default = True
            if place.is_default:
                await _demote_default(uow, existing, now)
            await uow.places.add(place)
            _publish(uow, place)
            await uow.commit()
        return place

    async def update(
        self,
        principal: Principal | None,
        place_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        precondition: Precondition,
    ) -> Place:
        """Apply a JSON merge patch (RFC 7396) to a place.

        Business rules: ``null`` clears an optional field (landmark, directions, pin, Plus
        Code, contact phone) and is refused for label, city, quartier and ``is_default``;
        other fields (id, owner, version, dates) are not editable. The edit needs the
        current ETag (412 when stale). Making a place the default demotes the previous one;
        un-defaulting the default is refused (choose another default instead). A patch that
        changes nothing creates no version and no event.
        """
        not_editable = sorted(set(changes) - PLACE_FIELDS)
        if not_editable:
            raise Unprocessable("field_not_editable", fields=", ".join(not_editable))
        cleared = sorted(k for k in REQUIRED_FIELDS if k in changes and changes[k] is None)
        if cleared:
            raise Unprocessable("validation_failed", fields=", ".join(cleared))
        now = self._clock.now()
        async with self._uow() as uow:
            place = await _visible(uow, principal, place_id)
            precondition(place)
            edited = self.normalise(replace(place, **dict(changes)))
            if edited == place:
                return place
            if place.is_default and not edited.is_default:
                raise Unprocessable("default_place_required")
            if edited.is_default and not place.is_default:
                others = [p for p in await uow.places.for_user(place.user_id) if p.id != place.id]
                await _demote_default(uow, others, now)
            previous = edited.touch(now)
            try:
                await uow.places.save(edited, expected_version=previous)
            except ConcurrencyConflict as exc:
                raise PreconditionFailed() from exc
            _publish(uow, edited)
            await uow.commit()
        return edited

    async def delete(
        self, principal: Principal | None, place_id: uuid.UUID, *, precondition: Precondition
    ) -> None:
        """Soft-delete a place (kept for order history, never listed again).

        Business rules: deleting the default hands the default to the most recently
        created remaining place; ``PlaceChanged`` goes out with ``state.deleted = true``.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            place = await _visible(uow, principal, place_id)
            precondition(place)
            was_default = place.is_default
            place.deleted_at = now
            place.is_default = False
            previous = place.touch(now)
            try:
                await uow.places.save(place, expected_version=previous)
            except ConcurrencyConflict as exc:
                raise PreconditionFailed() from exc
            _publish(uow, place)
            if was_default:
                remaining = await uow.places.for_user(place.user_id)
                if remaining:
                    heir = max(remaining, key=lambda p: p.created_at)
                    heir.is_default = True
                    await uow.places.save(heir, expected_version=heir.touch(now))
                    _publish(uow, heir)
            await uow.commit()

    def normalise(self, place: Place) -> Place:
        """Validate and normalise an address (see :func:`normalise_place`)."""
        return normalise_place(place, allowed_regions=self._regions)


def normalise_place(place: Place, *, allowed_regions: frozenset[str]) -> Place:
    """Return ``place`` validated and in canonical form, or raise ``Unprocessable``.

    Business rules: the city is Douala or Yaoundé, however typed (``yaounde``,
    ``YAOUNDÉ``), stored with its canonical spelling; known quartiers get their usual
    spelling, unknown ones are kept as typed; label, city and quartier are required; a pin
    needs both coordinates and must fall in Cameroon; a Plus Code must be valid, may be short
    (``GH5W+5F``, recovered next to the pin or the city centre), is stored in full and fills
    the pin when there is none; the contact phone is stored in E.164.
    """
    label = _text(place.label, "label", 60)
    quartier_typed = _text(place.quartier, "quartier", 80)
    if label is None or quartier_typed is None:
        raise Unprocessable("validation_failed", fields="label" if label is None else "quartier")
    city = _CITY_BY_FOLD.get(fold(place.city or ""))
    if city is None:
        raise Unprocessable("city_not_served", cities=", ".join(CITY_CENTRES))
    quartier = _QUARTIER_BY_FOLD[city].get(fold(quartier_typed), quartier_typed)
    lat, lng = place.lat, place.lng
    if (lat is None) != (lng is None):
        raise Unprocessable("coordinates_incomplete")
    if lat is not None and lng is not None:
        lat, lng = float(lat), float(lng)
        _inside_cameroon(lat, lng)
    code = _plus_code(place.plus_code, lat, lng, city)
    if code is not None and lat is None:
        lat, lng = (round(v, 6) for v in pluscode.decode(code).center)
    contact = place.contact_phone
    if contact is not None:
        contact = parse_phone(contact, allowed_regions=allowed_regions).e164
    return replace(
        place,
        label=label,
        city=city,
        quartier=quartier,
        landmark=_text(place.landmark, "landmark", 160),
        directions=_text(place.directions, "directions", 500),
        lat=lat,
        lng=lng,
        plus_code=code,
        contact_phone=contact,
        is_default=bool(place.is_default),
    )


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unprocessable("validation_failed", fields=name)
    text = " ".join(value.split())
    if len(text) > limit:
        raise Unprocessable("validation_failed", fields=name)
    return text or None


def _inside_cameroon(lat: float, lng: float) -> None:
    south, north, west, east = CAMEROON_BOUNDS
    if not (south <= lat <= north and west <= lng <= east):
        raise Unprocessable("location_outside_cameroon")


def _plus_code(raw: str | None, lat: float | None, lng: float | None, city: str) -> str | None:
    if raw is None:
        return None
    # People paste "GH5W+5F Douala": keep the code, the locality is the place's city anyway.
    parts = raw.strip().upper().split()
    if not parts:
        return None
    code = parts[0]
    if pluscode.is_full(code):
        full = code
    elif pluscode.is_short(code):
        ref_lat, ref_lng = (lat, lng) if lat is not None and lng is not None else CITY_CENTRES[city]
        full = pluscode.recover_nearest(code, ref_lat, ref_lng)
    else:
        raise Unprocessable("invalid_plus_code")
    area = pluscode.decode(full)
    if area.code_length < 8:
        raise Unprocessable("invalid_plus_code")  # a cell kilometres wide locates nothing
    _inside_cameroon(*area.center)
    return full


async def _active(uow: IdentityUnitOfWork, caller: Principal) -> None:
    # A disabled account's access token lives up to 10 more minutes; identity itself
    # refuses it at once.
    user = await uow.users.by_id(caller.user_id)
    if user is None or user.disabled:
        raise Forbidden("account_disabled")


async def _visible(
    uow: IdentityUnitOfWork, principal: Principal | None, place_id: uuid.UUID
) -> Place:
    await _active(uow, require_principal(principal))
    place = await uow.places.by_id(place_id)
    ensure_owner(principal, place.user_id if place is not None else None)
    if place is None:
        raise NotFound()
    return place


async def _demote_default(uow: IdentityUnitOfWork, places: list[Place], now: dt.datetime) -> None:
    # Demote before promoting: the one-default index is checked statement by statement.
    for other in places:
        if other.is_default:
            other.is_default = False
            await uow.places.save(other, expected_version=other.touch(now))
            _publish(uow, other)


def _publish(uow: IdentityUnitOfWork, place: Place) -> None:
    uow.publish(PlaceChanged(entity_id=place.id, version=place.version, state=place.public_state()))
