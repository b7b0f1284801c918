"""Phone-first login: OTP codes by SMS, access tokens, refresh-token rotation, logout."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from okada.contracts.identity.v1 import UserRegistered
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import Clock
from okada.kernel.errors import (
    Forbidden,
    RateLimited,
    Unauthenticated,
    Unavailable,
    Unprocessable,
)
from okada.kernel.ids import new_id
from okada.kernel.phone import PhoneNumber, parse_phone
from okada.kernel.ports import Cache
from okada.services.identity.application.claims import release_pending_claims
from okada.services.identity.application.model import (
    OtpChallenge,
    Phone,
    RefreshToken,
    SessionInfo,
    TokenPair,
    User,
)
from okada.services.identity.application.passwords import normalise_password
from okada.services.identity.application.ports import (
    IdentityUnitOfWork,
    PasswordHasher,
    SmsSender,
    TokenSigner,
    TotpAuthenticator,
)
from okada.services.identity.application.revocation import refuse_tokens_issued_before

ISSUER = "https://auth.okada.cm"
AUDIENCE = "okada-api"
_CODE = re.compile(r"^\d{6}$")
_OTP_TEXT = {
    "login": {
        "fr": "Okada: votre code est {code}. Il expire dans 5 min. Ne le partagez avec personne.",
        "en": "Okada: your code is {code}. It expires in 5 min. Never share it with anyone.",
    },
    "add_phone": {
        "fr": "Okada: code {code} pour ajouter ce numéro à votre compte. Expire dans 5 min.",
        "en": "Okada: code {code} to add this number to your account. Expires in 5 min.",
    },
}
PURPOSES = frozenset(_OTP_TEXT)


@dataclass(frozen=True)
class AuthRules:
    """Lifetimes and caps (from settings)."""

    access_ttl: int = 600
    refresh_idle_days: int = 30
    refresh_absolute_days: int = 90
    refresh_grace_seconds: int = 30
    otp_ttl: int = 300
    otp_max_attempts: int = 5
    otp_per_phone_per_hour: int = 5
    otp_per_ip_per_hour: int = 20
    otp_per_prefix_per_day: int = 200
    otp_first_cooldown: int = 60
    allowed_regions: frozenset[str] = frozenset({"CM"})
    login_max_failures: int = 10
    login_failure_window: int = 900


def hash_token(value: str) -> str:
    """SHA-256 of a refresh token: only hashes are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


class AuthService:
    """Use cases of signing in and out."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], IdentityUnitOfWork],
        sms: SmsSender,
        signer: TokenSigner,
        cache: Cache,
        clock: Clock,
        pepper: bytes,
        rules: AuthRules,
        passwords: PasswordHasher | None = None,
        totp: TotpAuthenticator | None = None,
        before_password_login: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._sms = sms
        self._signer = signer
        self._cache = cache
        self._clock = clock
        self._pepper = pepper
        self.rules = rules
        self._passwords = passwords
        self._totp = totp
        self._before_password_login = before_password_login
        self._dummy_hash: str | None = None

    def phone(self, raw: str) -> PhoneNumber:
        """Parse a typed number under the configured country rules."""
        return parse_phone(raw, allowed_regions=self.rules.allowed_regions)

    def _code_hash(self, phone: str, code: str) -> str:
        return hmac.new(self._pepper, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()

    async def request_otp(self, *, raw_phone: str, ip: str, language: str) -> int:
        """Send a login code by SMS; return the seconds before another may be requested.

        Business rules: one active code per number (a resend voids the old one); codes live 5
        minutes; sends are capped per number (5/h), per IP (20/h) and per number prefix
        (daily) against SMS pumping, with a growing cooldown between sends; the cap counters
        fail closed (no counter, no SMS). The answer is the same whether or not the number has
        an account.
        """
        return await self.issue_code(self.phone(raw_phone), ip=ip, language=language)

    async def issue_code(
        self,
        phone: PhoneNumber,
        *,
        ip: str,
        language: str,
        purpose: str = "login",
        user_id: uuid.UUID | None = None,
    ) -> int:
        """Send a one-time code for ``purpose``; return the cooldown before the next send.

        Every purpose shares the same SMS port and the same per-number, per-IP and
        per-prefix caps: a second number added to an account costs SMS like a login does.
        A resend voids the previous code of the same purpose only.
        """
        cooldown = await self._enforce_send_caps(phone, ip)
        code = f"{secrets.randbelow(1_000_000):06d}"
        now = self._clock.now()
        texts = _OTP_TEXT[purpose]
        async with self._uow() as uow:
            await uow.otps.void_active(phone.e164, at=now, purpose=purpose)
            await uow.otps.add(
                OtpChallenge(
                    id=new_id(),
                    phone=phone.e164,
                    purpose=purpose,
                    code_hash=self._code_hash(phone.e164, code),
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=self.rules.otp_ttl),
                    user_id=user_id,
                )
            )
            # Send before commit: if the provider fails, nothing is half-created.
            await self._sms.send(
                to=phone.e164, text=texts.get(language, texts["fr"]).format(code=code)
            )
            await uow.commit()
        return cooldown

    async def check_code(
        self, phone: PhoneNumber, code: str, *, purpose: str, user_id: uuid.UUID
    ) -> None:
        """Consume a non-login code sent to ``phone`` for ``user_id``; 422 when it does not fit.

        Business rules: same as login codes (single use, 5 misses kill it, 5-minute life),
        and the code only works for the account that asked for it. A wrong code is a 422,
        not a 401: the caller is signed in, and a 401 would make the app drop the session.
        """
        if not _CODE.match(code or ""):
            raise Unprocessable("invalid_code_format")
        now = self._clock.now()
        max_attempts = self.rules.otp_max_attempts
        async with self._uow() as uow:
            challenge = await uow.otps.active(
                phone.e164, at=now, max_attempts=max_attempts, purpose=purpose
            )
            if challenge is None or challenge.user_id != user_id:
                raise Unprocessable("invalid_code")
            if not hmac.compare_digest(challenge.code_hash, self._code_hash(phone.e164, code)):
                await uow.otps.record_miss(challenge.id)
                await uow.commit()
                raise Unprocessable("invalid_code")
            if not await uow.otps.consume(challenge.id, at=now, max_attempts=max_attempts):
                raise Unprocessable("invalid_code")
            await uow.commit()

    async def _enforce_send_caps(self, phone: PhoneNumber, ip: str) -> int:
        try:
            cooldown_key = f"otp:cooldown:{phone.e164}"
            if await self._cache.get(cooldown_key) is not None:
                raise RateLimited("otp_cooldown", retry_after=self.rules.otp_first_cooldown)
            per_phone = await self._cache.incr(f"otp:phone:{phone.e164}", ttl=3600)
            per_ip = await self._cache.incr(f"otp:ip:{ip}", ttl=3600)
            per_prefix = await self._cache.incr(f"otp:prefix:{phone.prefix}", ttl=86400)
        except RateLimited:
            raise
        except Exception as exc:  # counters unavailable: fail closed, send nothing
            raise Unavailable("otp_unavailable") from exc
        if per_phone > self.rules.otp_per_phone_per_hour or per_ip > self.rules.otp_per_ip_per_hour:
            raise RateLimited("otp_too_many", retry_after=3600)
        if per_prefix > self.rules.otp_per_prefix_per_day:
            raise RateLimited("otp_too_many", retry_after=3600)
        # Exponential cooldown: 1, 2, 4, 8, 16, 32 minutes between successive sends.
        cooldown = min(self.rules.otp_first_cooldown * 2 ** (per_phone - 1), 32 * 60)
        await self._cache.set(f"otp:cooldown:{phone.e164}", b"1", ttl=cooldown)
        return int(cooldown)

    async def verify_otp(
        self, *, raw_phone: str, code: str, device_id: str, language: str
    ) -> TokenPair:
        """Check a code and sign the person in, creating the customer on first login.

        Business rules: a code is single use and dies after 5 wrong attempts; wrong, expired,
        replayed and unknown codes get the same answer; a disabled account cannot sign in.
        Only a verified number leads to an account; a first login creates the customer and
        drops other accounts' unproven claims on the number. Operations and admin accounts
        cannot sign in by SMS (a restricted authenticator): they use password and TOTP.
        """
        phone = self.phone(raw_phone)
        if not _CODE.match(code or ""):
            raise Unprocessable("invalid_code_format")
        now = self._clock.now()
        async with self._uow() as uow:
            challenge = await uow.otps.active(
                phone.e164, at=now, max_attempts=self.rules.otp_max_attempts
            )
            if challenge is None:
                raise Unauthenticated("invalid_code")
            if not hmac.compare_digest(challenge.code_hash, self._code_hash(phone.e164, code)):
                await uow.otps.record_miss(challenge.id)
                await uow.commit()
                raise Unauthenticated("invalid_code")
            if not await uow.otps.consume(
                challenge.id, at=now, max_attempts=self.rules.otp_max_attempts
            ):
                raise Unauthenticated("invalid_code")
            user = await uow.users.by_phone(phone.e164)
            if user is not None and user.is_staff:
                raise Forbidden("password_login_required")
            if user is None:
                await release_pending_claims(uow, phone.e164, winner_id=None, at=now)
                user = self._new_customer(phone, language, now)
                await uow.users.add(user)
                uow.publish(
                    UserRegistered(
                        entity_id=user.id, version=user.version, state=user.public_state()
                    )
                )
            if user.disabled:
                raise Forbidden("account_disabled")
            pair = await self._start_family(uow, user, device_id, now)
            await uow.commit()
        return pair

    def _new_customer(self, phone: PhoneNumber, language: str, now: dt.datetime) -> User:
        user_id = new_id()
        return User(
            id=user_id,
            language=language if language in ("fr", "en") else "fr",
            roles=[Role.CUSTOMER.value],
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

    async def sign_in_user(self, user: User, *, device_id: str) -> TokenPair:
        """Start a new session for an already authenticated user (password login)."""
        now = self._clock.now()
        async with self._uow() as uow:
            pair = await self._start_family(uow, user, device_id, now)
            await uow.commit()
        return pair

    async def password_login(
        self, *, raw_phone: str, password: str, totp: str | None, device_id: str
    ) -> TokenPair:
        """Sign a staff member in with their password (and TOTP); same tokens as OTP login.

        Business rules: operations and admin staff, and anyone who enrolled an
        authenticator, must also give a TOTP code (30 s steps, one step of drift either
        side); a code already used cannot be used again. A wrong password, an unknown
        number, an account without a password and a missing, wrong or replayed TOTP all get
        the same 401, with the same Argon2 work, so nothing tells them apart. After 10
        attempts on one number within 15 minutes further ones get 429 until the window ends
        (a success clears the count); with the counter store down, logins fail closed (503).
        A disabled account gets 403 only once its credentials are proven. Hashes made with
        weaker parameters are upgraded at login.
        """
        if self._passwords is None or self._totp is None:
            raise Unavailable("login_unavailable")
        phone = self.phone(raw_phone)
        if self._before_password_login is not None:
            await self._before_password_login()
        throttle_key = f"pwlogin:attempts:{phone.e164}"
        await self._count_login_attempt(throttle_key)
        secret = normalise_password(password)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_phone(phone.e164)
        encoded = user.password_hash if user is not None else None
        # Unknown numbers still pay for one Argon2 verification, so timing reveals nothing.
        matched = await asyncio.to_thread(
            self._passwords.verify, encoded or await self._dummy(), secret
        )
        if user is None or encoded is None or not matched:
            raise Unauthenticated("invalid_credentials")
        step: int | None = None
        if user.is_staff or user.totp_enrolled:
            if not totp or user.totp_secret is None:
                raise Unauthenticated("invalid_credentials")
            totp_secret = self._signer.unseal(user.totp_secret.decode())
            step = self._totp.matching_step(totp_secret, totp.strip(), at=now)
            if step is None:
                raise Unauthenticated("invalid_credentials")
        if user.disabled:
            raise Forbidden("account_disabled")
        async with self._uow() as uow:
            if step is not None and not await uow.users.record_totp_step(user.id, step):
                raise Unauthenticated("invalid_credentials")  # replayed code
            if self._passwords.needs_rehash(encoded):
                rehashed = await asyncio.to_thread(self._passwords.hash, secret)
                await uow.users.set_password_hash(user.id, rehashed)
            pair = await self._start_family(uow, user, device_id, now)
            await uow.commit()
        with contextlib.suppress(Exception):  # the window expires on its own anyway
            await self._cache.delete(throttle_key)
        return pair

    async def _count_login_attempt(self, key: str) -> None:
        # Counting attempts before checking them (not failures after) keeps the cap exact
        # when many guesses arrive at once.
        try:
            attempts = await self._cache.incr(key, ttl=self.rules.login_failure_window)
        except Exception as exc:  # no counter, no login: fail closed like OTP sends
            raise Unavailable("login_unavailable") from exc
        if attempts > self.rules.login_max_failures:
            raise RateLimited("login_throttled", retry_after=self.rules.login_failure_window)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            assert self._passwords is not None
            self._dummy_hash = await asyncio.to_thread(
                self._passwords.hash, secrets.token_urlsafe(16)
            )
        return self._dummy_hash

    async def _start_family(
        self, uow: IdentityUnitOfWork, user: User, device_id: str, now: dt.datetime
    ) -> TokenPair:
        family_id = new_id()
        value = secrets.token_urlsafe(32)
        await uow.tokens.add(
            RefreshToken(
                id=new_id(),
                family_id=family_id,
                user_id=user.id,
                device_id=device_id[:100],
                token_hash=hash_token(value),
                issued_at=now,
                expires_at=now + dt.timedelta(days=self.rules.refresh_idle_days),
                family_expires_at=now + dt.timedelta(days=self.rules.refresh_absolute_days),
            )
        )
        return TokenPair(
            access_token=await self._access_token(user, family_id, now),
            refresh_token=value,
            expires_in=self.rules.access_ttl,
        )

    async def _access_token(self, user: User, family_id: uuid.UUID, now: dt.datetime) -> str:
        issued = int(now.timestamp())
        return await self._signer.sign(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": str(user.id),
                "roles": sorted(user.roles),
                "stores": sorted(user.store_ids),
                "sid": str(family_id),
                "jti": secrets.token_urlsafe(16),
                "iat": issued,
                "nbf": issued,
                "exp": issued + self.rules.access_ttl,
                "lang": user.language,
            }
        )

    async def refresh(self, *, refresh_token: str) -> TokenPair:
        """Rotate a refresh token.

        Business rules: every use returns a new refresh token and retires the old one. The
        immediately previous token presented again within the grace window (a retry after a
        lost response on a flaky network) gets the same new token instead of a new branch;
        any other reuse revokes the whole family. Idle and absolute lifetimes apply.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            token = await uow.tokens.by_hash(hash_token(refresh_token or ""))
            if token is None or token.revoked_at is not None:
                raise Unauthenticated("invalid_refresh_token")
            if now >= token.family_expires_at or (
                token.used_at is None and now >= token.expires_at
            ):
                raise Unauthenticated("invalid_refresh_token")
            user = await uow.users.by_id(token.user_id)
            if user is None or user.disabled:
                raise Unauthenticated("invalid_refresh_token")
            if token.used_at is None:
                child_value = secrets.token_urlsafe(32)
                child = RefreshToken(
                    id=new_id(),
                    family_id=token.family_id,
                    user_id=token.user_id,
                    device_id=token.device_id,
                    token_hash=hash_token(child_value),
                    parent_id=token.id,
                    issued_at=now,
                    expires_at=min(
                        now + dt.timedelta(days=self.rules.refresh_idle_days),
                        token.family_expires_at,
                    ),
                    family_expires_at=token.family_expires_at,
                )
                if await uow.tokens.mark_used(
                    token.id, at=now, child_id=child.id, child_sealed=self._signer.seal(child_value)
                ):
                    await uow.tokens.add(child)
                    pair = TokenPair(
                        access_token=await self._access_token(user, token.family_id, now),
                        refresh_token=child_value,
                        expires_in=self.rules.access_ttl,
                    )
                    await uow.commit()
                    return pair
                token = await uow.tokens.by_id(token.id) or token  # lost a race: re-read
            return await self._retry_within_grace(uow, token, user, now)

    async def _retry_within_grace(
        self, uow: IdentityUnitOfWork, token: RefreshToken, user: User, now: dt.datetime
    ) -> TokenPair:
        grace = dt.timedelta(seconds=self.rules.refresh_grace_seconds)
        child = await uow.tokens.by_id(token.replaced_by) if token.replaced_by else None
        if (
            token.used_at is not None
            and now - token.used_at <= grace
            and child is not None
            and child.used_at is None
            and child.revoked_at is None
            and token.child_token_sealed
        ):
            return TokenPair(
                access_token=await self._access_token(user, token.family_id, now),
                refresh_token=self._signer.unseal(token.child_token_sealed),
                expires_in=self.rules.access_ttl,
            )
        await uow.tokens.revoke_family(token.family_id, at=now)
        await uow.commit()
        raise Unauthenticated("refresh_token_reused")

    async def logout(self, principal: Principal, *, refresh_token: str | None = None) -> None:
        """Revoke the current session (the family of the token or of the access token)."""
        now = self._clock.now()
        async with self._uow() as uow:
            family_id = principal.session_family
            if refresh_token:
                token = await uow.tokens.by_hash(hash_token(refresh_token))
                if token is not None and token.user_id == principal.user_id:
                    family_id = token.family_id
            if family_id is not None:
                await uow.tokens.revoke_family(family_id, at=now)
            await uow.commit()
        await self._deny_access_token(principal)

    async def logout_all(self, principal: Principal) -> None:
        """Revoke every session of the caller."""
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.tokens.revoke_user(principal.user_id, at=now)
            await uow.commit()
        await self._deny_access_token(principal)
        await refuse_tokens_issued_before(
            self._cache, principal.user_id, now, ttl=self.rules.access_ttl + 60
        )

    async def _deny_access_token(self, principal: Principal) -> None:
        if principal.token_id:
            try:
                await self._cache.set(
                    f"jti-deny:{principal.token_id}", b"1", ttl=self.rules.access_ttl + 60
                )
            except Exception:  # the access token still dies at its (short) expiry
                return

    async def sessions(self, principal: Principal) -> list[SessionInfo]:
        """List the caller's signed-in devices."""
        async with self._uow() as uow:
            found = await uow.tokens.sessions(principal.user_id, at=self._clock.now())
        return [
            SessionInfo(
                family_id=s.family_id,
                device_id=s.device_id,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                current=s.family_id == principal.session_family,
            )
            for s in found
        ]
