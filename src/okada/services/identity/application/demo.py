"""Demo staff accounts, created only when the demo data set is seeded.

``okada demo`` and the journey tests play store staff, riders and operations. They need
accounts with known numbers, so the demo seed creates them (never in production: the seed
runs only with ``OKADA_SEED_DEMO_DATA=true``, the demo default, and never by migrations).

=====================  ==============  ==================================================
Account                Phone           Signs in with
=====================  ==============  ==================================================
Staff, Bonamoussadi    +237650100101   OTP (SMS); store "Okada Bonamoussadi" (Douala)
Staff, Akwa            +237650100102   OTP (SMS); store "Okada Akwa" (Douala)
Staff, Bastos          +237650100103   OTP (SMS); store "Okada Bastos" (Yaoundé)
Rider, Douala          +237650100201   OTP (SMS)
Rider, Yaoundé         +237650100202   OTP (SMS)
Operations             +237650100301   password ``Okada-demo-ops-2026`` + TOTP, secret
                                       ``OKADADEMOOPERATIONSTOTPSECRET234`` (base32)
=====================  ==============  ==================================================

The store ids are those of the catalog's demo seed (UUIDv5 of the store slug in the seed's
namespace, so they are stable). Bonamoussadi customers are served by the Bonamoussadi dark
store (the nearest one); Akwa staff are there for the city centre.

Business rule: seeding is idempotent and never changes an account that already holds one of
these numbers (somebody may have edited it); it only creates the missing ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from okada.kernel.authz import Role
from okada.kernel.errors import Conflict
from okada.services.identity.application.admin import AdminService

BONAMOUSSADI_STORE_ID = uuid.UUID("eb20fd84-5310-5cc9-9809-6fd2ddef38b0")
AKWA_STORE_ID = uuid.UUID("9df0d27b-bce4-585c-8ca5-f94b8590276a")
BASTOS_STORE_ID = uuid.UUID("0705cd53-a179-59b9-a709-dc7837a8410d")

DEMO_OPERATIONS_PASSWORD = "Okada-demo-ops-2026"  # noqa: S105 - a documented demo value
DEMO_OPERATIONS_TOTP_SECRET = "OKADADEMOOPERATIONSTOTPSECRET234"  # noqa: S105 - demo value


@dataclass(frozen=True)
class DemoAccount:
    """One demo staff account."""

    phone: str
    name: str
    roles: tuple[str, ...]
    store_ids: tuple[uuid.UUID, ...] = field(default=())
    password: str | None = None
    totp_secret: str | None = None


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("+237650100101", "Staff Bonamoussadi", (Role.MERCHANT_STAFF.value,),
                (BONAMOUSSADI_STORE_ID,)),
    DemoAccount("+237650100102", "Staff Akwa", (Role.MERCHANT_STAFF.value,), (AKWA_STORE_ID,)),
    DemoAccount("+237650100103", "Staff Bastos", (Role.MERCHANT_STAFF.value,),
                (BASTOS_STORE_ID,)),
    DemoAccount("+237650100201", "Rider Douala", (Role.RIDER.value,)),
    DemoAccount("+237650100202", "Rider Yaoundé", (Role.RIDER.value,)),
    DemoAccount("+237650100301", "Operations Demo", (Role.OPERATIONS.value,),
                password=DEMO_OPERATIONS_PASSWORD, totp_secret=DEMO_OPERATIONS_TOTP_SECRET),
)


async def seed_demo_accounts(admin: AdminService) -> int:
    """Create the demo staff accounts that do not exist yet; return how many were created.

    An account whose number is already taken is left as it is (``phone_taken``), so running
    the seed twice creates nothing the second time.
    """
    created = 0
    for account in DEMO_ACCOUNTS:
        try:
            await admin.provision(
                raw_phone=account.phone,
                roles=list(account.roles),
                store_ids=list(account.store_ids),
                name=account.name,
                password=account.password,
                totp_secret=account.totp_secret,
            )
        except Conflict:
            continue
        created += 1
    return created
