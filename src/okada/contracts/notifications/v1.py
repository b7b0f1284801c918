"""notifications.v1: messages put in a user's in-app inbox (read by the sync service)."""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class InboxItemState(ContractModel):
    """One message of a user's inbox, already in the user's language."""

    user_id: uuid.UUID
    kind: str  # "order_confirmed", "rider_arriving", ...
    title: str
    body: str
    order_id: uuid.UUID | None
    read: bool
    sent_at: dt.datetime


class InboxItemChanged(IntegrationEvent, schema="notifications.v1.InboxItemChanged"):
    """An inbox message was created or marked read (``entity_id`` is the message id)."""

    state: InboxItemState
