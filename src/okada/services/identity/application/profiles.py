"""Published keys and plain profile reads (edits live in ``accounts``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from okada.services.identity.application.model import User
from okada.services.identity.application.ports import IdentityUnitOfWork


class ProfileService:
    """The JWKS the gateway and services verify tokens with, and profile lookups."""

    def __init__(
        self, *, uow_factory: Callable[[], IdentityUnitOfWork], jwks: Callable[[], dict[str, Any]]
    ) -> None:
        self._uow = uow_factory
        self._jwks = jwks

    def jwks(self) -> dict[str, Any]:
        """The public signing keys."""
        return self._jwks()

    async def get(self, user_id: uuid.UUID) -> User | None:
        """Load a user."""
        async with self._uow() as uow:
            return await uow.users.by_id(user_id)
