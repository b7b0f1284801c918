"""Operations and admin: staff accounts, disabling people, TOTP enrolment, key rotation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from okada.contracts.identity.v1 import UserDisabled, UserRegistered, UserUpdated
from okada.kernel.authz import Principal, Role, require_principal, require_role
from okada.kernel.clock import Clock
from okada.kernel.errors import ConcurrencyConflict, Conflict, NotFound, Unprocessable
from okada.kernel.ids import new_id
from okada.kernel.phone import parse_phone
from okada.kernel.ports import Cache
from okada.services.identity.application.claims import release_pending_claims
from okada.services.identity.application.errors import PreconditionFailed
from okada.services.identity.application.model import Phone, User
from okada.services.identity.application.passwords import check_password_policy
from okada.services.identity.application.ports import (
    IdentityUnitOfWork,
    PasswordHasher,
    SigningKeys,
    TokenSigner,
    TotpAuthenticator,
)
from okada.services.identity.application.revocation import refuse_tokens_issued_before

ASSIGNABLE_ROLES = frozenset(r.value for r in Role)
PRIVILEGED_ROLES = frozenset({Role.OPERATIONS.value, Role.ADMIN.value})
EDITABLE_BY_STAFF = frozenset({"roles", "store_ids", "name"})
TOTP_ISSUER = "Okada"

Precondition = Callable[[User], None]
"""Called with the stored user before an edit; raises when the client's copy is stale."""


@dataclass(frozen=True)
class TotpEnrolment:
    """Shown once: the secret and the ``otpauth://`` URI an authenticator app scans."""

    secret: str
    provisioning_uri: str


@dataclass(frozen=True)
class BootstrapAdmin:
    """The first admin, from configuration (``IDENTITY_BOOTSTRAP_ADMIN_*``)."""

    phone: str
    password: str
    totp_secret: str


class AdminService:
    """Use cases of operations and admin staff."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], IdentityUnitOfWork],
        passwords: PasswordHasher,
        totp: TotpAuthenticator,
        sealer: TokenSigner,
        keys: SigningKeys,
        clock: Clock,
        allowed_regions: frozenset[str] = frozenset({"CM"}),
        bootstrap: BootstrapAdmin | None = None,
        cache: Cache | None = None,
        access_ttl: int = 600,
    ) -> None:
        self._uow = uow_factory
        self._cache = cache
        self._access_ttl = access_ttl
        self._passwords = passwords
        self._totp = totp
        self._sealer = sealer
        self._keys = keys
        self._clock = clock
        self._regions = allowed_regions
        self._bootstrap = bootstrap
        self._bootstrapped = bootstrap is None
        self._bootstrap_lock = asyncio.Lock()

    async def create_user(
        self,
        principal: Principal | None,
        *,
        raw_phone: str,
        roles: Sequence[str],
        store_ids: Sequence[uuid.UUID] = (),
        name: str | None = None,
        password: str | None = None,
        language: str = "fr",
    ) -> tuple[User, TotpEnrolment | None]:
        """Create a rider, merchant-staff, operations or admin account.

        Business rules: operations and admin may create accounts; only admin may create
        operations or admin accounts. Merchant staff need at least one store and only they
        carry stores. Operations and admin accounts need a password (they cannot sign in by
        SMS), which must pass the password policy. The number must not belong to another
        account; staff vouch for it, so it starts verified. Operations and admin accounts
        get a TOTP authenticator at once, returned this one time to hand over.
        ``UserRegistered`` is published.
        """
        require_role(principal, Role.OPERATIONS)
        wanted = _roles(roles)
        if wanted & PRIVILEGED_ROLES:
            require_role(principal, Role.ADMIN)
        return await self.provision(
            raw_phone=raw_phone,
            roles=sorted(wanted),
            store_ids=store_ids,
            name=name,
            password=password,
            language=language,
        )

    async def provision(
        self,
        *,
        raw_phone: str,
        roles: Sequence[str],
        store_ids: Sequence[uuid.UUID] = (),
        name: str | None = None,
        password: str | None = None,
        language: str = "fr",
        totp_secret: str | None = None,
    ) -> tuple[User, TotpEnrolment | None]:
        """Create an account with no caller to authorise: the bootstrap admin and tooling.

        Same rules as :meth:`create_user` minus the caller checks; with ``totp_secret`` (or
        for operations and admin accounts, a fresh one) the TOTP enrolment is returned.
        """
        wanted = _roles(roles)
        stores = _stores(wanted, store_ids)
        phone = parse_phone(raw_phone, allowed_regions=self._regions)
        encoded = None
        if password is not None:
            clean = check_password_policy(password, phone_digits=phone.national)
            encoded = await asyncio.to_thread(self._passwords.hash, clean)
        elif wanted & PRIVILEGED_ROLES:
            raise Unprocessable("password_required")
        enrolment = None
        if totp_secret is not None or wanted & PRIVILEGED_ROLES:
            secret = totp_secret or self._totp.new_secret()
            enrolment = self._enrolment(secret, phone.e164)
        if language not in ("fr", "en"):
            raise Unprocessable("invalid_language")
        now = self._clock.now()
        user_id = new_id()
        user = User(
            id=user_id,
            name=" ".join(name.split()) if name and name.strip() else None,
            language=language,
            roles=sorted(wanted),
            store_ids=stores,
            password_hash=encoded,
            totp_secret=self._sealer.seal(enrolment.secret).encode() if enrolment else None,
            created_at=now,
            updated_at=now,
            phones=[
                Phone(
                    id=new_id(),
                    user_id=user_id,
                    e164=phone.e164,
                    operator=phone.operator.value,
                    verified=True,
                    is_primary=True,
                    created_at=now,
                )
            ],
        )
        async with self._uow() as uow:
            if await uow.users.by_phone(phone.e164) is not None:
                raise Conflict("phone_taken")
            await release_pending_claims(uow, phone.e164, winner_id=None, at=now)
            try:
                await uow.users.add(user)
            except ConcurrencyConflict as exc:
                raise Conflict("phone_taken") from exc
            uow.publish(
                UserRegistered(entity_id=user.id, version=user.version, state=user.public_state())
            )
            await uow.commit()
        return user, enrolment

    async def get_user(self, principal: Principal | None, user_id: uuid.UUID) -> User:
        """Any account, for operations and admin."""
        require_role(principal, Role.OPERATIONS)
        async with self._uow() as uow:
            user = await uow.users.by_id(user_id)
        if user is None:
            raise NotFound()
        return user

    async def update_user(
        self,
        principal: Principal | None,
        user_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        precondition: Precondition,
    ) -> User:
        """Change an account's roles, stores or name with a merge patch and ``If-Match``.

        Business rules: operations may change customers, riders and merchant staff; granting
        or removing operations or admin, or editing a staff account, takes an admin; nobody
        changes their own roles or stores. The same rules as at creation hold afterwards
        (merchant staff need stores, only they have stores, operations and admin need a
        password). New roles reach access tokens at the next refresh. ``UserUpdated`` is
        published.
        """
        caller = require_role(principal, Role.OPERATIONS)
        not_editable = sorted(set(changes) - EDITABLE_BY_STAFF)
        if not_editable:
            raise Unprocessable("field_not_editable", fields=", ".join(not_editable))
        if caller.user_id == user_id and ({"roles", "store_ids"} & set(changes)):
            raise Unprocessable("cannot_change_own_roles")
        if "roles" in changes and changes["roles"] is None:
            raise Unprocessable("validation_failed", fields="roles")
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_id(user_id)
            if user is None:
                raise NotFound()
            if user.is_staff:
                require_role(caller, Role.ADMIN)
            precondition(user)
            roles = _roles(changes["roles"]) if "roles" in changes else frozenset(user.roles)
            if (roles ^ frozenset(user.roles)) & PRIVILEGED_ROLES:
                require_role(caller, Role.ADMIN)
            if "store_ids" in changes:
                stores = _stores(roles, changes["store_ids"] or ())
            else:
                stores = _stores(roles, [uuid.UUID(s) for s in user.store_ids])
            if roles & PRIVILEGED_ROLES and user.password_hash is None:
                raise Unprocessable("password_required")
            name = user.name
            if "name" in changes:
                name = " ".join((changes["name"] or "").split()) or None  # null or blank: cleared
            if (sorted(roles), stores, name) == (
                sorted(user.roles),
                sorted(user.store_ids),
                user.name,
            ):
                return user
            user.roles, user.store_ids, user.name = sorted(roles), stores, name
            previous = user.touch(now)
            try:
                await uow.users.save(user, expected_version=previous)
            except ConcurrencyConflict as exc:
                raise PreconditionFailed() from exc
            uow.publish(
                UserUpdated(entity_id=user.id, version=user.version, state=user.public_state())
            )
            await uow.commit()
        return user

    async def disable(
        self, principal: Principal | None, user_id: uuid.UUID, *, reason: str | None
    ) -> User:
        """Disable an account and end every session it has.

        Business rules: operations may disable customers, riders and merchant staff; only
        admin may disable operations or admin accounts; nobody disables themselves. Every
        refresh-token family of the account is revoked in the same transaction, so no new
        access token can be obtained (live ones die within their 10 minutes, and identity's
        own endpoints refuse the account at once; the "not before" marker makes the gateway and
        every other service refuse its live access tokens at once too). Disabling twice changes
        nothing.
        ``UserDisabled`` is published with the reason.
        """
        caller = require_role(principal, Role.OPERATIONS)
        if caller.user_id == user_id:
            raise Unprocessable("cannot_disable_self")
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_id(user_id)
            if user is None:
                raise NotFound()
            if user.is_staff:
                require_role(caller, Role.ADMIN)
            if user.disabled:
                return user
            user.disabled = True
            user.disabled_at = now
            user.disabled_reason = " ".join(reason.split())[:500] if reason else None
            await uow.users.save(user, expected_version=user.touch(now))
            await uow.tokens.revoke_user(user.id, at=now)
            uow.publish(
                UserDisabled(
                    entity_id=user.id,
                    version=user.version,
                    state=user.public_state(),
                    reason=user.disabled_reason,
                )
            )
            await uow.commit()
        if self._cache is not None:
            # Live access tokens are refused at once by the gateway and every service.
            await refuse_tokens_issued_before(self._cache, user.id, now, ttl=self._access_ttl + 60)
        return user

    async def enrol_totp(self, principal: Principal | None, user_id: uuid.UUID) -> TotpEnrolment:
        """Enrol a new TOTP authenticator; the secret is shown this once and stored sealed.

        Business rules: a user may enrol their own authenticator when they have none; only
        an admin may enrol someone else's or replace an existing one (lost phone). From then
        on the account's password logins need a TOTP code.
        """
        caller = require_principal(principal)
        if caller.user_id != user_id:
            require_role(caller, Role.ADMIN)
        async with self._uow() as uow:
            user = await uow.users.by_id(user_id)
            if user is None:
                raise NotFound()
            if user.totp_enrolled and not caller.has(Role.ADMIN):
                raise Conflict("totp_already_enrolled")
            primary = user.primary_phone
            enrolment = self._enrolment(
                self._totp.new_secret(), primary.e164 if primary else str(user.id)
            )
            user.totp_secret = self._sealer.seal(enrolment.secret).encode()
            # Not a public change: same version, no event, the profile ETag stays valid.
            await uow.users.save(user, expected_version=user.version)
            await uow.commit()
        return enrolment

    async def rotate_keys(self, principal: Principal | None) -> str:
        """Start signing access tokens with a new key (admin only); return its ``kid``.

        The previous key stays in the JWKS for 20 minutes, longer than any access token it
        signed lives, so nobody is signed out by a rotation.
        """
        require_role(principal, Role.ADMIN)
        return await self._keys.rotate()

    def published_kids(self) -> list[str]:
        """The ``kid`` of every key in the JWKS."""
        return [str(k.get("kid")) for k in self._keys.jwks().get("keys", [])]

    async def ensure_bootstrap_admin(self) -> None:
        """Create the configured first admin if no account holds its number yet.

        Runs once per process, lazily (before the first password login). It never changes
        an existing account: to reset that admin, use another admin or the CLI.
        """
        if self._bootstrapped or self._bootstrap is None:
            return
        async with self._bootstrap_lock:
            if self._bootstrapped:
                return
            config = self._bootstrap
            phone = parse_phone(config.phone, allowed_regions=self._regions)
            async with self._uow() as uow:
                exists = await uow.users.by_phone(phone.e164) is not None
            if not exists:
                try:
                    await self.provision(
                        raw_phone=phone.e164,
                        roles=[Role.ADMIN.value],
                        password=config.password,
                        totp_secret=config.totp_secret,
                        name="Admin",
                    )
                except Conflict:  # another replica created it first
                    pass
            self._bootstrapped = True

    def _enrolment(self, secret: str, account: str) -> TotpEnrolment:
        return TotpEnrolment(
            secret=secret,
            provisioning_uri=self._totp.provisioning_uri(
                secret, account=account, issuer=TOTP_ISSUER
            ),
        )


def _stores(roles: frozenset[str], store_ids: Sequence[uuid.UUID]) -> list[str]:
    stores = sorted({str(s) for s in store_ids})
    if Role.MERCHANT_STAFF.value in roles and not stores:
        raise Unprocessable("store_ids_required")
    if stores and Role.MERCHANT_STAFF.value not in roles:
        raise Unprocessable("store_ids_not_allowed")
    return stores


def _roles(values: Sequence[str]) -> frozenset[str]:
    wanted = frozenset(values)
    if not wanted or not wanted <= ASSIGNABLE_ROLES:
        raise Unprocessable("invalid_roles", roles=", ".join(sorted(ASSIGNABLE_ROLES)))
    return wanted
