"""Pending phone claims: who may hold a number, and what proving it does to other claims."""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.identity.v1 import UserUpdated
from okada.services.identity.application.ports import IdentityUnitOfWork


async def release_pending_claims(
    uow: IdentityUnitOfWork, e164: str, *, winner_id: uuid.UUID | None, at: dt.datetime
) -> None:
    """Detach ``e164`` from every account other than ``winner_id`` that only claimed it.

    Business rule: a number added but never verified proves nothing. When someone proves
    they hold it (a login code, or an add-phone code), other accounts' pending claims on it
    are dropped, and those accounts publish ``UserUpdated`` with their phones minus it.
    """
    for claim in await uow.users.phone_claims(e164):
        if claim.user_id == winner_id or claim.verified:
            continue
        user = await uow.users.by_id(claim.user_id)
        if user is None:
            continue
        user.phones = [p for p in user.phones if p.e164 != e164]
        previous = user.touch(at)
        await uow.users.save(user, expected_version=previous)
        uow.publish(UserUpdated(entity_id=user.id, version=user.version, state=user.public_state()))
