"""SQLAlchemy Core repositories and the identity unit of work."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.kernel.errors import ConcurrencyConflict
from okada.services.identity.adapters.orm import (
    otp_challenges,
    phones,
    places,
    refresh_tokens,
    users,
)
from okada.services.identity.application.model import (
    OtpChallenge,
    Phone,
    Place,
    RefreshToken,
    SessionInfo,
    User,
)
from okada.services.identity.application.ports import (
    OtpRepository,
    PlaceRepository,
    RefreshTokenRepository,
    UserRepository,
)


def _phone(row: Any) -> Phone:
    return Phone(
        id=row.id,
        user_id=row.user_id,
        e164=row.e164,
        operator=row.operator,
        verified=row.verified,
        is_primary=row.is_primary,
        created_at=row.created_at,
    )


class SqlaUserRepository:
    """Users with their phones."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def _load(self, where: Any) -> User | None:
        row = (await self._s.execute(select(users).where(where))).first()
        if row is None:
            return None
        phone_rows = (
            await self._s.execute(
                select(phones).where(phones.c.user_id == row.id).order_by(phones.c.created_at)
            )
        ).all()
        return User(
            id=row.id,
            name=row.name,
            language=row.language,
            roles=list(row.roles),
            store_ids=list(row.store_ids),
            disabled=row.disabled,
            password_hash=row.password_hash,
            totp_secret=row.totp_secret,
            totp_last_step=row.totp_last_step,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            phones=[_phone(p) for p in phone_rows],
        )

    async def by_id(self, user_id: uuid.UUID) -> User | None:
        return await self._load(users.c.id == user_id)

    async def by_phone(self, e164: str) -> User | None:
        owner = await self._s.scalar(
            select(phones.c.user_id).where(phones.c.e164 == e164, phones.c.verified.is_(true()))
        )
        return None if owner is None else await self.by_id(owner)

    async def phone_claims(self, e164: str) -> list[Phone]:
        rows = (
            await self._s.execute(
                select(phones).where(phones.c.e164 == e164).order_by(phones.c.created_at)
            )
        ).all()
        return [_phone(r) for r in rows]

    async def record_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        # Guarded update: of two logins racing with the same code, only one moves the step.
        result = await self._s.execute(
            update(users)
            .where(
                users.c.id == user_id,
                or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        return rows_affected(result) == 1

    async def set_password_hash(self, user_id: uuid.UUID, encoded: str) -> None:
        await self._s.execute(
            update(users).where(users.c.id == user_id).values(password_hash=encoded)
        )

    def _values(self, user: User) -> dict[str, Any]:
        return {
            "name": user.name,
            "language": user.language,
            "roles": sorted(user.roles),
            "store_ids": sorted(user.store_ids),
            "disabled": user.disabled,
            "disabled_at": user.disabled_at,
            "disabled_reason": user.disabled_reason,
            "password_hash": user.password_hash,
            "totp_secret": user.totp_secret,
            "updated_at": user.updated_at,
        }
        # totp_last_step is left out on purpose: only record_totp_step moves it, so saving a
        # user loaded before a login can never wind it back and reopen a used code.

    async def add(self, user: User) -> None:
        try:
            async with self._s.begin_nested():
                await self._s.execute(
                    insert(users).values(
                        id=user.id,
                        created_at=user.created_at,
                        version=user.version,
                        **self._values(user),
                    )
                )
                await self._sync_phones(user)
        except IntegrityError as exc:  # a verified number taken by a concurrent request
            raise ConcurrencyConflict() from exc

    async def save(self, user: User, *, expected_version: int) -> None:
        result = await self._s.execute(
            update(users)
            .where(users.c.id == user.id, users.c.version == expected_version)
            .values(version=user.version, **self._values(user))
        )
        if rows_affected(result) != 1:
            raise ConcurrencyConflict()
        try:
            async with self._s.begin_nested():
                await self._sync_phones(user)
        except IntegrityError as exc:
            raise ConcurrencyConflict() from exc

    async def _sync_phones(self, user: User) -> None:
        keep = [p.id for p in user.phones]
        await self._s.execute(
            delete(phones).where(phones.c.user_id == user.id, phones.c.id.not_in(keep))
        )
        existing = set(
            (await self._s.scalars(select(phones.c.id).where(phones.c.user_id == user.id))).all()
        )
        # Demotions first, so the single-primary and single-verified rules hold after each
        # statement, not only at the end.
        for p in sorted(user.phones, key=lambda p: (p.is_primary, p.verified)):
            values = {
                "e164": p.e164,
                "operator": p.operator,
                "verified": p.verified,
                "is_primary": p.is_primary,
            }
            if p.id in existing:
                await self._s.execute(update(phones).where(phones.c.id == p.id).values(**values))
            else:
                await self._s.execute(
                    insert(phones).values(
                        id=p.id, user_id=user.id, created_at=p.created_at, **values
                    )
                )


class SqlaOtpRepository:
    """OTP challenges."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def void_active(self, phone: str, *, at: dt.datetime, purpose: str = "login") -> None:
        await self._s.execute(
            update(otp_challenges)
            .where(
                otp_challenges.c.phone == phone,
                otp_challenges.c.purpose == purpose,
                otp_challenges.c.consumed_at.is_(None),
                otp_challenges.c.voided_at.is_(None),
            )
            .values(voided_at=at)
        )

    async def add(self, challenge: OtpChallenge) -> None:
        await self._s.execute(
            insert(otp_challenges).values(
                id=challenge.id,
                phone=challenge.phone,
                purpose=challenge.purpose,
                code_hash=challenge.code_hash,
                created_at=challenge.created_at,
                expires_at=challenge.expires_at,
                attempts=challenge.attempts,
                user_id=challenge.user_id,
            )
        )

    async def active(
        self, phone: str, *, at: dt.datetime, max_attempts: int, purpose: str = "login"
    ) -> OtpChallenge | None:
        row = (
            await self._s.execute(
                select(otp_challenges)
                .where(
                    otp_challenges.c.phone == phone,
                    otp_challenges.c.purpose == purpose,
                    otp_challenges.c.consumed_at.is_(None),
                    otp_challenges.c.voided_at.is_(None),
                    otp_challenges.c.expires_at > at,
                    otp_challenges.c.attempts < max_attempts,
                )
                .order_by(otp_challenges.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return OtpChallenge(
            id=row.id,
            phone=row.phone,
            purpose=row.purpose,
            code_hash=row.code_hash,
            created_at=row.created_at,
            expires_at=row.expires_at,
            attempts=row.attempts,
            user_id=row.user_id,
        )

    async def record_miss(self, challenge_id: uuid.UUID) -> int:
        await self._s.execute(
            update(otp_challenges)
            .where(otp_challenges.c.id == challenge_id)
            .values(attempts=otp_challenges.c.attempts + 1)
        )
        value = await self._s.scalar(
            select(otp_challenges.c.attempts).where(otp_challenges.c.id == challenge_id)
        )
        return int(value or 0)

    async def consume(self, challenge_id: uuid.UUID, *, at: dt.datetime, max_attempts: int) -> bool:
        # Guarded update: two concurrent verifications of one code cannot both succeed.
        result = await self._s.execute(
            update(otp_challenges)
            .where(
                otp_challenges.c.id == challenge_id,
                otp_challenges.c.consumed_at.is_(None),
                otp_challenges.c.voided_at.is_(None),
                otp_challenges.c.attempts < max_attempts,
            )
            .values(consumed_at=at)
        )
        return rows_affected(result) == 1


def _token(row: Any) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        family_id=row.family_id,
        user_id=row.user_id,
        device_id=row.device_id,
        token_hash=row.token_hash,
        parent_id=row.parent_id,
        issued_at=row.issued_at,
        used_at=row.used_at,
        replaced_by=row.replaced_by,
        child_token_sealed=row.child_token_sealed,
        expires_at=row.expires_at,
        family_expires_at=row.family_expires_at,
        revoked_at=row.revoked_at,
    )


class SqlaRefreshTokenRepository:
    """Refresh-token families."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, token: RefreshToken) -> None:
        await self._s.execute(
            insert(refresh_tokens).values(
                id=token.id,
                family_id=token.family_id,
                user_id=token.user_id,
                device_id=token.device_id,
                token_hash=token.token_hash,
                parent_id=token.parent_id,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                family_expires_at=token.family_expires_at,
            )
        )

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        row = (
            await self._s.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
            )
        ).first()
        return None if row is None else _token(row)

    async def by_id(self, token_id: uuid.UUID) -> RefreshToken | None:
        row = (
            await self._s.execute(select(refresh_tokens).where(refresh_tokens.c.id == token_id))
        ).first()
        return None if row is None else _token(row)

    async def mark_used(
        self, token_id: uuid.UUID, *, at: dt.datetime, child_id: uuid.UUID, child_sealed: str
    ) -> bool:
        result = await self._s.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.id == token_id,
                refresh_tokens.c.used_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(used_at=at, replaced_by=child_id, child_token_sealed=child_sealed)
        )
        return rows_affected(result) == 1

    async def revoke_family(self, family_id: uuid.UUID, *, at: dt.datetime) -> None:
        await self._s.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at, child_token_sealed=None)
        )

    async def revoke_user(self, user_id: uuid.UUID, *, at: dt.datetime) -> None:
        await self._s.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at, child_token_sealed=None)
        )

    async def family_revoked(self, family_id: uuid.UUID) -> bool:
        found = await self._s.scalar(
            select(func.count())
            .select_from(refresh_tokens)
            .where(
                refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_not(None)
            )
        )
        return bool(found)

    async def sessions(self, user_id: uuid.UUID, *, at: dt.datetime) -> list[SessionInfo]:
        rows = (
            await self._s.execute(
                select(
                    refresh_tokens.c.family_id,
                    func.min(refresh_tokens.c.device_id).label("device_id"),
                    func.min(refresh_tokens.c.issued_at).label("created_at"),
                    func.max(refresh_tokens.c.issued_at).label("last_used_at"),
                )
                .where(
                    and_(
                        refresh_tokens.c.user_id == user_id,
                        refresh_tokens.c.revoked_at.is_(None),
                        refresh_tokens.c.family_expires_at > at,
                    )
                )
                .group_by(refresh_tokens.c.family_id)
                .order_by(func.max(refresh_tokens.c.issued_at).desc())
            )
        ).all()
        from okada.infra.db.types import UtcDateTime

        fix = UtcDateTime().process_result_value
        return [
            SessionInfo(
                family_id=r.family_id,
                device_id=r.device_id,
                created_at=_aware(r.created_at, fix),
                last_used_at=_aware(r.last_used_at, fix),
                current=False,
            )
            for r in rows
        ]


def _aware(value: Any, fix: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    result: dt.datetime = fix(value, None)
    return result


def _place(row: Any) -> Place:
    return Place(
        id=row.id,
        user_id=row.user_id,
        label=row.label,
        city=row.city,
        quartier=row.quartier,
        landmark=row.landmark,
        directions=row.directions,
        lat=row.lat,
        lng=row.lng,
        plus_code=row.plus_code,
        contact_phone=row.contact_phone,
        is_default=row.is_default,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        deleted_at=row.deleted_at,
    )


class SqlaPlaceRepository:
    """Saved places."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def by_id(self, place_id: uuid.UUID) -> Place | None:
        row = (
            await self._s.execute(
                select(places).where(places.c.id == place_id, places.c.deleted_at.is_(None))
            )
        ).first()
        return None if row is None else _place(row)

    async def for_user(self, user_id: uuid.UUID) -> list[Place]:
        rows = (
            await self._s.execute(
                select(places)
                .where(places.c.user_id == user_id, places.c.deleted_at.is_(None))
                .order_by(places.c.is_default.desc(), places.c.created_at.desc())
            )
        ).all()
        return [_place(r) for r in rows]

    @staticmethod
    def _values(place: Place) -> dict[str, Any]:
        return {
            "label": place.label,
            "city": place.city,
            "quartier": place.quartier,
            "landmark": place.landmark,
            "directions": place.directions,
            "lat": place.lat,
            "lng": place.lng,
            "plus_code": place.plus_code,
            "contact_phone": place.contact_phone,
            "is_default": place.is_default,
            "updated_at": place.updated_at,
            "version": place.version,
            "deleted_at": place.deleted_at,
        }

    async def add(self, place: Place) -> None:
        try:
            async with self._s.begin_nested():
                await self._s.execute(
                    insert(places).values(
                        id=place.id,
                        user_id=place.user_id,
                        created_at=place.created_at,
                        **self._values(place),
                    )
                )
        except IntegrityError as exc:  # a concurrent request made another place the default
            raise ConcurrencyConflict() from exc

    async def save(self, place: Place, *, expected_version: int) -> None:
        try:
            async with self._s.begin_nested():
                result = await self._s.execute(
                    update(places)
                    .where(places.c.id == place.id, places.c.version == expected_version)
                    .values(**self._values(place))
                )
        except IntegrityError as exc:
            raise ConcurrencyConflict() from exc
        if rows_affected(result) != 1:
            raise ConcurrencyConflict()


class IdentityUoW(SqlUnitOfWork):
    """The identity unit of work with its repositories."""

    users: UserRepository
    otps: OtpRepository
    tokens: RefreshTokenRepository
    places: PlaceRepository

    async def __aenter__(self) -> IdentityUoW:
        await super().__aenter__()
        self.users = SqlaUserRepository(self.session)
        self.otps = SqlaOtpRepository(self.session)
        self.tokens = SqlaRefreshTokenRepository(self.session)
        self.places = SqlaPlaceRepository(self.session)
        return self
