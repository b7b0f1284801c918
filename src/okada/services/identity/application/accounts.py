"""The caller's own account: profile edits and phone numbers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from okada.contracts.identity.v1 import UserUpdated
from okada.kernel.authz import Principal, require_principal
from okada.kernel.clock import Clock
from okada.kernel.errors import (
    ConcurrencyConflict,
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
)
from okada.kernel.ids import new_id
from okada.kernel.phone import PhoneNumber
from okada.services.identity.application.auth import AuthService
from okada.services.identity.application.claims import release_pending_claims
from okada.services.identity.application.errors import PreconditionFailed
from okada.services.identity.application.model import Phone, User
from okada.services.identity.application.ports import IdentityUnitOfWork

EDITABLE_PROFILE_FIELDS = frozenset({"name", "language"})
LANGUAGES = frozenset({"fr", "en"})
NAME_MAX = 120

Precondition = Callable[[User], None]
"""Called with the stored user before an edit; raises when the client's copy is stale."""


@dataclass(frozen=True)
class PhoneAdded:
    """A number attached unverified, and when another code may be asked for."""

    phone: Phone
    retry_after: int
    expires_in: int


class AccountService:
    """Use cases on the caller's own account."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], IdentityUnitOfWork],
        codes: AuthService,
        clock: Clock,
        max_phones: int = 3,
    ) -> None:
        self._uow = uow_factory
        self._codes = codes
        self._clock = clock
        self._max_phones = max_phones

    async def me(self, principal: Principal | None) -> User:
        """The caller's account; 403 once it is disabled (its access token may still be live)."""
        caller = require_principal(principal)
        async with self._uow() as uow:
            return await _own_user(uow, caller.user_id)

    async def update_profile(
        self,
        principal: Principal | None,
        changes: Mapping[str, Any],
        *,
        precondition: Precondition,
    ) -> User:
        """Apply a JSON merge patch (RFC 7396) to the caller's profile.

        Business rules: only ``name`` and ``language`` are editable (roles, phones, store
        scopes and the disabled flag belong to operations); ``null`` clears the name, while
        the language cannot be cleared (it is ``fr`` or ``en``); the edit needs the current
        ETag (``If-Match``), and a copy that went stale meanwhile gets 412. A patch that
        changes nothing creates no new version and no event.
        """
        caller = require_principal(principal)
        not_editable = sorted(set(changes) - EDITABLE_PROFILE_FIELDS)
        if not_editable:
            raise Unprocessable("field_not_editable", fields=", ".join(not_editable))
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            precondition(user)
            name, language = user.name, user.language
            if "name" in changes:
                name = _clean_name(changes["name"])
            if "language" in changes:
                language = changes["language"]
                if language not in LANGUAGES:
                    raise Unprocessable("invalid_language")
            if (name, language) == (user.name, user.language):
                return user
            user.name, user.language = name, language
            try:
                await _save(uow, user, now)
            except ConcurrencyConflict as exc:  # edited since the client's If-Match check
                raise PreconditionFailed() from exc
            await uow.commit()
        return user

    async def phones(self, principal: Principal | None) -> list[Phone]:
        """The caller's numbers, primary first; unverified ones say so."""
        user = await self.me(principal)
        return sorted(user.phones, key=lambda p: (not p.is_primary, p.created_at))

    async def add_phone(
        self, principal: Principal | None, raw_phone: str, *, ip: str, language: str
    ) -> PhoneAdded:
        """Attach a second number, unverified, and text it a code (purpose ``add_phone``).

        Business rules: a number verified on another account is refused (409); a number
        already verified here is refused (409); asking again for a pending one sends a new
        code. At most ``max_phones`` numbers per account. The code goes through the same SMS
        caps as login codes, and is sent before the number is attached, so a failed SMS
        leaves nothing behind. Until verified the number cannot be primary, cannot sign in,
        and payments refuse it.
        """
        caller = require_principal(principal)
        phone = self._codes.phone(raw_phone)
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            await _refuse_if_taken(uow, phone, caller.user_id)
            existing = user.phone(phone.e164)
            if existing is not None and existing.verified:
                raise Conflict("phone_already_added")
            if existing is None and len(user.phones) >= self._max_phones:
                raise Unprocessable("too_many_phones", max=self._max_phones)
        retry_after = await self._codes.issue_code(
            phone, ip=ip, language=language, purpose="add_phone", user_id=caller.user_id
        )
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            attached = user.phone(phone.e164)
            if attached is None:
                attached = Phone(
                    id=new_id(),
                    user_id=user.id,
                    e164=phone.e164,
                    operator=phone.operator.value,
                    verified=False,
                    is_primary=False,
                    created_at=now,
                )
                user.phones.append(attached)
                await _save(uow, user, now)
                await uow.commit()
        return PhoneAdded(
            phone=attached, retry_after=retry_after, expires_in=self._codes.rules.otp_ttl
        )

    async def verify_phone(self, principal: Principal | None, raw_phone: str, code: str) -> Phone:
        """Prove a pending number with its code; it becomes verified.

        Business rules: the code must be the one sent to this number for this account. If
        another account verified the number in the meantime, 409. Other accounts' pending
        claims on the number are dropped.
        """
        caller = require_principal(principal)
        phone = self._codes.phone(raw_phone)
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            attached = user.phone(phone.e164)
            if attached is None:
                raise NotFound()
            if attached.verified:
                return attached
        await self._codes.check_code(phone, code, purpose="add_phone", user_id=caller.user_id)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            attached = user.phone(phone.e164)
            if attached is None:
                raise NotFound()
            await _refuse_if_taken(uow, phone, caller.user_id)
            await release_pending_claims(uow, phone.e164, winner_id=user.id, at=now)
            attached.verified = True
            try:
                await _save(uow, user, now)
            except ConcurrencyConflict as exc:  # verified on another account meanwhile
                raise Conflict("phone_taken") from exc
            await uow.commit()
        return attached

    async def make_primary(self, principal: Principal | None, raw_phone: str) -> Phone:
        """Make a verified number the one codes and receipts go to (422 while unverified)."""
        caller = require_principal(principal)
        phone = self._codes.phone(raw_phone)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            chosen = user.phone(phone.e164)
            if chosen is None:
                raise NotFound()
            if not chosen.verified:
                raise Unprocessable("phone_not_verified")
            if chosen.is_primary:
                return chosen
            for p in user.phones:
                p.is_primary = p.id == chosen.id
            await _save(uow, user, now)
            await uow.commit()
        return chosen

    async def remove_phone(self, principal: Principal | None, raw_phone: str) -> None:
        """Detach a number; the primary one cannot be removed (make another primary first)."""
        caller = require_principal(principal)
        phone = self._codes.phone(raw_phone)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _own_user(uow, caller.user_id)
            chosen = user.phone(phone.e164)
            if chosen is None:
                raise NotFound()
            if chosen.is_primary:
                raise Conflict("primary_phone_required")
            user.phones = [p for p in user.phones if p.id != chosen.id]
            await _save(uow, user, now)
            await uow.commit()


async def _own_user(uow: IdentityUnitOfWork, user_id: uuid.UUID) -> User:
    user = await uow.users.by_id(user_id)
    if user is None:
        raise NotFound()
    if user.disabled:
        raise Forbidden("account_disabled")
    return user


async def _refuse_if_taken(uow: IdentityUnitOfWork, phone: PhoneNumber, user_id: uuid.UUID) -> None:
    for claim in await uow.users.phone_claims(phone.e164):
        if claim.verified and claim.user_id != user_id:
            raise Conflict("phone_taken")


async def _save(uow: IdentityUnitOfWork, user: User, now: dt.datetime) -> None:
    previous = user.touch(now)
    await uow.users.save(user, expected_version=previous)
    uow.publish(UserUpdated(entity_id=user.id, version=user.version, state=user.public_state()))


def _clean_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unprocessable("invalid_name", max=NAME_MAX)
    name = " ".join(value.split())
    if not name or len(name) > NAME_MAX:
        raise Unprocessable("invalid_name", max=NAME_MAX)
    return name
