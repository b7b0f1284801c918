"""Composition root of the identity service."""

from __future__ import annotations

from pathlib import Path

from okada.infra.hosting import HostContext, ServiceRuntime, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.services.identity.adapters.orm import metadata
from okada.services.identity.adapters.passwords import Argon2PasswordHasher
from okada.services.identity.adapters.repositories import IdentityUoW
from okada.services.identity.adapters.signing import KeyRing
from okada.services.identity.adapters.sms import FallbackSmsSender, HttpSmsSender
from okada.services.identity.adapters.totp import PyotpAuthenticator
from okada.services.identity.application.accounts import AccountService
from okada.services.identity.application.admin import AdminService, BootstrapAdmin
from okada.services.identity.application.auth import AuthRules, AuthService
from okada.services.identity.application.demo import seed_demo_accounts
from okada.services.identity.application.places import PlaceService
from okada.services.identity.application.profiles import ProfileService
from okada.services.identity.entrypoints.admin import make_admin_router
from okada.services.identity.entrypoints.api import make_router
from okada.services.identity.entrypoints.users import make_users_router
from okada.services.identity.settings import IdentitySettings

NAME = "identity"


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the identity service for the host's mode."""
    register_catalog_dir(Path(__file__).parent / "locales")
    settings = ctx.settings_for(NAME, IdentitySettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> IdentityUoW:
        return IdentityUoW(**uow_kwargs)

    keys = KeyRing(store.engine, secret=settings.internal_secret, clock=ctx.clock)
    gateway_sms = HttpSmsSender(
        ctx.directory.client(settings.sms_provider),
        path=settings.sms_path,
        sender_id=settings.sms_sender_id,
    )
    sms: HttpSmsSender | FallbackSmsSender = gateway_sms
    if settings.otp_via_notifications:
        sms = FallbackSmsSender(
            HttpSmsSender(
                ctx.directory.client("notifications"),
                path="/internal/v1/notifications/sms",
                sender_id=settings.sms_sender_id,
                headers=lambda: ctx.service_principal_header(NAME),
                timeout=settings.otp_via_notifications_timeout_seconds,
            ),
            gateway_sms,
        )
    rules = AuthRules(
        access_ttl=settings.access_token_ttl_seconds,
        refresh_idle_days=settings.refresh_idle_days,
        refresh_absolute_days=settings.refresh_absolute_days,
        refresh_grace_seconds=settings.refresh_grace_seconds,
        otp_ttl=settings.otp_ttl_seconds,
        otp_max_attempts=settings.otp_max_attempts,
        otp_per_phone_per_hour=settings.otp_per_phone_per_hour,
        otp_per_ip_per_hour=settings.otp_per_ip_per_hour,
        otp_per_prefix_per_day=settings.otp_per_prefix_per_day,
        otp_first_cooldown=settings.otp_first_cooldown_seconds,
        allowed_regions=frozenset(settings.allowed_phone_regions),
        login_max_failures=settings.login_max_failures,
        login_failure_window=settings.login_failure_window_seconds,
    )
    passwords = Argon2PasswordHasher()
    totp = PyotpAuthenticator()
    bootstrap_admin = settings.bootstrap_admin_values()
    admin = AdminService(
        uow_factory=uow_factory,
        passwords=passwords,
        totp=totp,
        sealer=keys,
        keys=keys,
        clock=ctx.clock,
        allowed_regions=rules.allowed_regions,
        bootstrap=BootstrapAdmin(*bootstrap_admin) if bootstrap_admin else None,
        cache=ctx.cache,
        access_ttl=settings.access_token_ttl_seconds,
    )
    auth = AuthService(
        uow_factory=uow_factory,
        sms=sms,
        signer=keys,
        cache=ctx.cache,
        clock=ctx.clock,
        pepper=settings.internal_secret.encode(),
        rules=rules,
        passwords=passwords,
        totp=totp,
        # The configured first admin is created lazily, before the first password login.
        before_password_login=admin.ensure_bootstrap_admin,
    )
    profiles = ProfileService(uow_factory=uow_factory, jwks=keys.jwks)
    accounts = AccountService(
        uow_factory=uow_factory,
        codes=auth,
        clock=ctx.clock,
        max_phones=settings.max_phones_per_user,
    )
    places = PlaceService(
        uow_factory=uow_factory,
        clock=ctx.clock,
        allowed_regions=rules.allowed_regions,
        max_places=settings.max_places_per_user,
    )
    app = create_service_app(
        service=NAME,
        routers=[make_router(auth, profiles)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Phone-first login, tokens, profiles and saved places.",
        extra_state={"keyring": keys, "auth": auth},
        idempotency=IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock),
    )
    app.include_router(make_users_router(accounts, places))
    app.include_router(make_admin_router(admin))
    # Tooling and tests provision staff through the application services (no HTTP caller).
    app.state.admin = admin
    app.state.accounts = accounts
    app.state.places = places
    return ServiceRuntime(
        name=NAME,
        app=app,
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        workers=[store.relay.run],
        dead_letter=store.record_dead_letter,
        on_start=[keys.load],
        seed=lambda: seed_demo_accounts(admin),  # demo staff, only when demo data is seeded
    )
