"""Notifications HTTP API: the caller's inbox and devices, operations' view, internal SMS."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from fastapi import APIRouter, Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.pagination import clamp_limit, decode_cursor, encode_cursor
from okada.infra.http.problems import problem_responses
from okada.kernel.authz import Role, require_role
from okada.kernel.errors import OkadaError, Unprocessable
from okada.services.notifications.application.messages import mask_phone
from okada.services.notifications.application.model import Device, InboxItem
from okada.services.notifications.application.services import (
    AdminMessage,
    DeviceService,
    InboxService,
    NotificationAdmin,
    OtpSender,
    RegisterDevice,
)
from okada.services.notifications.domain.policy import Kind
from okada.services.notifications.entrypoints.schemas import (
    AdminMessagePage,
    AdminMessageRead,
    DeviceIn,
    DeviceRead,
    InboxItemRead,
    InboxPage,
    InternalSmsAccepted,
    InternalSmsIn,
    MessageEventRead,
    PushReceiptIn,
)


def item_read(item: InboxItem) -> InboxItemRead:
    """Public view of an inbox item."""
    return InboxItemRead(
        id=item.id,
        kind=item.kind,
        title=item.title,
        body=item.body,
        order_id=item.order_id,
        read=item.read,
        sent_at=item.sent_at,
    )


def device_read(device: Device) -> DeviceRead:
    """Public view of a device."""
    return DeviceRead(
        token=device.token,
        platform=device.platform,
        locale=device.locale,
        active=device.retired_at is None,
        updated_at=device.updated_at,
    )


def admin_read(entry: AdminMessage) -> AdminMessageRead:
    """Operations' view of a message: never a full phone number nor a login code."""
    m = entry.message
    body = re.sub(r"\d", "*", m.body) if m.kind is Kind.OTP else m.body
    return AdminMessageRead(
        id=m.id,
        kind=m.kind.value,
        critical=m.critical,
        channel=m.channel.value,
        status=m.status.value,
        recipient_id=m.recipient_id,
        to=mask_phone(m.phone),
        order_id=m.order_id,
        language=m.language,
        title=m.title,
        body=body,
        provider=m.provider,
        provider_message_id=m.provider_message_id,
        segments=m.segments,
        encoding=m.encoding,
        attempts=m.attempts,
        created_at=m.created_at,
        due_at=m.due_at,
        sent_at=m.sent_at,
        delivered_at=m.delivered_at,
        fallback_at=m.fallback_at,
        last_error=m.last_error,
        events=[
            MessageEventRead(at=e.at, kind=e.kind, provider=e.provider, outcome=e.outcome,
                             detail=e.detail)
            for e in entry.events
        ],
    )


def _position(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(position["at"])), uuid.UUID(str(position["id"]))
    except (KeyError, ValueError):
        raise OkadaError("invalid_request") from None


def make_router(
    inbox: InboxService, devices: DeviceService, admin: NotificationAdmin, otp: OtpSender
) -> APIRouter:
    """Build the notifications routes around the application services."""
    router = APIRouter(tags=["notifications"])

    @router.get(
        "/v1/notifications",
        response_model=InboxPage,
        responses=problem_responses(400, 401, 422),
    )
    async def list_inbox(
        principal: CurrentPrincipal,
        cursor: str | None = None,
        limit: int | None = None,
        unread: bool = False,
    ) -> InboxPage:
        """The caller's inbox, newest first (``unread=true`` for unread items only)."""
        size = clamp_limit(limit)
        page = await inbox.page(
            principal.user_id, before=_position(cursor), unread_only=unread, limit=size
        )
        next_cursor = None
        if page.next_after is not None:
            at, last = page.next_after
            next_cursor = encode_cursor({"at": at.isoformat(), "id": str(last)})
        return InboxPage(data=[item_read(i) for i in page.items], next_cursor=next_cursor)

    @router.post(
        "/v1/notifications/devices",
        response_model=DeviceRead,
        responses=problem_responses(400, 401, 422),
    )
    async def register_device(body: DeviceIn, principal: CurrentPrincipal) -> DeviceRead:
        """Register this install's push token (idempotent; a token moves to the caller)."""
        device = await devices.register(
            RegisterDevice(
                user_id=principal.user_id,
                token=body.token,
                platform=body.platform,
                locale=body.locale,
            )
        )
        return device_read(device)

    @router.delete(
        "/v1/notifications/devices/{token}",
        status_code=204,
        responses=problem_responses(401, 404, 422),
    )
    async def unregister_device(token: str, principal: CurrentPrincipal) -> Response:
        """Stop pushing to this token (sign-out); 404 if it is not the caller's."""
        await devices.unregister(principal.user_id, token)
        return Response(status_code=204)

    @router.post(
        "/v1/notifications/receipts",
        status_code=204,
        responses=problem_responses(401, 404, 422),
    )
    async def push_receipt(body: PushReceiptIn, principal: CurrentPrincipal) -> Response:
        """The app received a push: no SMS fallback for it. 404 for others' messages."""
        await admin.acknowledge(principal.user_id, body.message_id)
        return Response(status_code=204)

    @router.post(
        "/v1/notifications/{item_id}/read",
        response_model=InboxItemRead,
        responses=problem_responses(401, 404, 422),
    )
    async def mark_read(item_id: uuid.UUID, principal: CurrentPrincipal) -> InboxItemRead:
        """Mark one of the caller's items read (idempotent); 404 for anyone else's."""
        return item_read(await inbox.mark_read(principal.user_id, item_id))

    @router.get(
        "/v1/admin/notifications",
        response_model=AdminMessagePage,
        responses=problem_responses(401, 403, 422),
    )
    async def search_messages(
        principal: CurrentPrincipal,
        user_id: uuid.UUID | None = None,
        order_id: uuid.UUID | None = None,
        limit: int | None = None,
    ) -> AdminMessagePage:
        """Messages of a user and/or an order with channel, provider, status, segments,
        attempts and receipts. Operations and admin only; at least one filter."""
        require_role(principal, Role.OPERATIONS)
        if user_id is None and order_id is None:
            raise Unprocessable("validation_failed", fields="user_id, order_id")
        found = await admin.search(user_id=user_id, order_id=order_id,
                                   limit=clamp_limit(limit, default=50))
        return AdminMessagePage(data=[admin_read(m) for m in found])

    @router.post(
        "/internal/v1/notifications/sms",
        status_code=202,
        response_model=InternalSmsAccepted,
        responses=problem_responses(401, 403, 422, 503),
    )
    async def send_sms(body: InternalSmsIn, principal: CurrentPrincipal) -> InternalSmsAccepted:
        """Send an SMS for another service (identity's login codes): always SMS, failing
        over to the backup provider; 202 once a provider accepted it, 503 when none did."""
        require_role(principal, Role.SERVICE)
        message = await otp.send(to=body.to, text=body.text)
        return InternalSmsAccepted(id=message.id, status=message.status.value,
                                   provider=message.provider, segments=message.segments)

    return router
