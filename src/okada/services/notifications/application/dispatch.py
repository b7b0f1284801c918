"""Sending queued messages: claim due rows, call providers, record the outcome.

Business rules:
    - A message is claimed with a lease (compare-and-swap on its row) before any provider is
      called, so two dispatchers never send it twice; a crash leaves it due again when the
      lease ends.
    - Push: sent to every active token of the recipient; a token the provider reports
      unregistered or invalid is retired. A critical push that cannot be sent (no token
      left, every token refused, provider error) falls back to SMS at once; a critical push
      accepted but not acknowledged by the device within the receipt window falls back to
      SMS then. A non-critical push is retried with backoff on provider errors.
    - SMS: provider errors are retried with backoff; after ``failover_after`` failed
      attempts the next attempt goes to the backup provider at once, then providers
      alternate. When attempts run out the message is failed and logged as an error.
    - Delivery reports of accepted SMS are asked from the provider a few times; a report
      that cannot be read is recorded as ``unknown`` and asked again later.
    - Phone numbers are masked in logs; OTP texts are never logged and are redacted once
      the SMS has been accepted.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence

import structlog

from okada.kernel.clock import Clock
from okada.services.notifications.application.messages import add_sms_fallback, mask_phone
from okada.services.notifications.application.model import (
    Message,
    MessageEvent,
    Outcome,
    Receipt,
    ReceiptStatus,
    SendResult,
)
from okada.services.notifications.application.ports import (
    NotificationsUnitOfWork,
    PushGateway,
    SmsGateway,
)
from okada.services.notifications.domain.policy import (
    Channel,
    DeliveryPolicy,
    Kind,
    Status,
)

log = structlog.get_logger(__name__)


def _mask_token(token: str) -> str:
    return f"{token[:6]}…" if len(token) > 6 else "…"


class Dispatcher:
    """Sends due messages and chases their receipts (one pass per :meth:`run_once`)."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], NotificationsUnitOfWork],
        clock: Clock,
        policy: DeliveryPolicy,
        push: PushGateway,
        sms: Sequence[SmsGateway],
        batch_size: int = 50,
    ) -> None:
        if not sms:
            raise ValueError("at least one SMS provider is required")
        self._uow = uow_factory
        self._clock = clock
        self._policy = policy
        self._push = push
        self._sms = list(sms)
        self.batch_size = batch_size

    async def run_once(self, *, receipts: bool = True) -> int:
        """Send what is due, fall back where receipts are late, ask SMS reports.

        ``receipts=False`` only sends: the receipt scans (late push receipts, SMS delivery
        reports) look for deadlines seconds or minutes away, so the worker runs them at its
        polling pace instead of on every wake-up by a newly queued message.
        """
        done = 0
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.messages.due(now, limit=self.batch_size)
        for message_id in due:
            if await self.deliver(message_id) is not None:
                done += 1
        if receipts:
            done += await self.fallback_unacknowledged()
            done += await self.check_sms_receipts()
        return done

    async def deliver(self, message_id: uuid.UUID) -> Message | None:
        """Claim one due message and make one delivery attempt; None if not claimable."""
        lease = uuid.uuid4()
        now = self._clock.now()
        until = now + dt.timedelta(seconds=self._policy.lease_seconds)
        async with self._uow() as uow:
            message = await uow.messages.claim(message_id, now=now, lease=lease, until=until)
            await uow.commit()
        if message is None:
            return None
        if message.channel is Channel.PUSH:
            await self._push_once(message, lease)
        else:
            await self._sms_once(message, lease)
        return message

    async def _push_once(self, message: Message, lease: uuid.UUID) -> None:
        assert message.recipient_id is not None
        async with self._uow() as uow:
            devices = await uow.devices.active_for(message.recipient_id)
        data = {
            "message_id": str(message.id),
            "kind": message.kind.value,
            "order_id": str(message.order_id) if message.order_id else "",
        }
        results: list[tuple[str, SendResult]] = []
        for device in devices:
            try:
                result = await self._push.send(
                    token=device.token,
                    title=message.title,
                    body=message.body,
                    data=data,
                    high_priority=message.critical,
                )
            except Exception as exc:  # an adapter bug must not stop the dispatcher
                result = SendResult(Outcome.TRANSIENT, "fcm", error=type(exc).__name__)
            results.append((device.token, result))
        now = self._clock.now()
        async with self._uow() as uow:
            message.attempts += 1
            message.updated_at = now
            for token, result in results:
                await uow.messages.add_event(
                    MessageEvent(message.id, now, "attempt", result.provider,
                                 result.outcome.value,
                                 f"token={_mask_token(token)} {result.error or ''}".strip())
                )
                if result.outcome is Outcome.INVALID_TOKEN:
                    await uow.devices.retire(token, reason=result.error or "invalid", at=now)
                    log.info("notifications.token_retired", token=_mask_token(token),
                             reason=result.error)
            accepted = [r for _, r in results if r.outcome is Outcome.ACCEPTED]
            transient = any(r.outcome is Outcome.TRANSIENT for _, r in results)
            message.provider = "fcm"
            if accepted:
                message.status = Status.SENT
                message.provider_message_id = accepted[0].provider_message_id
                message.sent_at = now
                message.receipt_due_at = self._policy.receipt_due(message.kind, now)
                message.last_error = None
            elif not results:
                message.status = Status.FAILED
                message.last_error = "no_active_device"
            elif (transient and not message.critical
                  and message.attempts < self._policy.max_attempts):
                message.status = Status.PENDING
                message.due_at = now + self._policy.retry_delay(message.attempts)
                message.last_error = next(
                    (r.error for _, r in results if r.error), "provider_error")
            else:
                message.status = Status.FAILED
                message.last_error = next(
                    (r.error for _, r in results if r.error), "push_failed")
            if message.status is Status.FAILED:
                if message.critical:
                    message.fallback_at = now
                    await add_sms_fallback(uow, message, now=now,
                                           reason=message.last_error or "push_failed")
                else:
                    log.warning("notifications.push_gave_up", message_id=str(message.id),
                                kind=message.kind.value, error=message.last_error)
            if await uow.messages.save_claimed(message, lease=lease):
                await uow.commit()

    async def _sms_once(self, message: Message, lease: uuid.UUID) -> None:
        urgent = message.kind is Kind.OTP
        index = self._policy.sms_provider_index(message.attempts, urgent=urgent) % len(self._sms)
        gateway = self._sms[index]
        if not message.phone:
            result = SendResult(Outcome.REJECTED, gateway.name, error="no_phone")
        else:
            try:
                result = await gateway.send(to=message.phone, text=message.body)
            except Exception as exc:  # an adapter bug must not stop the dispatcher
                result = SendResult(Outcome.TRANSIENT, gateway.name, error=type(exc).__name__)
        now = self._clock.now()
        async with self._uow() as uow:
            message.attempts += 1
            message.updated_at = now
            message.provider = gateway.name
            await uow.messages.add_event(
                MessageEvent(message.id, now, "attempt", gateway.name, result.outcome.value,
                             result.error)
            )
            if result.outcome is Outcome.ACCEPTED:
                message.status = Status.SENT
                message.provider_message_id = result.provider_message_id
                message.sent_at = now
                message.last_error = None
                message.receipt_due_at = now + dt.timedelta(
                    seconds=self._policy.sms_receipt_delay_seconds)
                if message.kind is Kind.OTP:
                    message.body = re.sub(r"\d", "*", message.body)
                log.info("notifications.sms_sent", message_id=str(message.id),
                         provider=gateway.name, to=mask_phone(message.phone),
                         segments=message.segments)
            elif (result.outcome is not Outcome.REJECTED
                  and message.attempts < self._policy.max_attempts):
                message.status = Status.PENDING
                message.last_error = result.error or "provider_error"
                next_index = self._policy.sms_provider_index(
                    message.attempts, urgent=urgent) % len(self._sms)
                # Failing over to the other provider happens at once; the same provider
                # gets time to recover.
                message.due_at = now if next_index != index else now + self._policy.retry_delay(
                    message.attempts)
                log.warning("notifications.sms_retry", message_id=str(message.id),
                            provider=gateway.name, attempts=message.attempts,
                            error=message.last_error, next_provider=self._sms[next_index].name)
            else:
                message.status = Status.FAILED
                message.last_error = result.error or "provider_error"
                log.error("notifications.sms_gave_up", message_id=str(message.id),
                          kind=message.kind.value, to=mask_phone(message.phone),
                          attempts=message.attempts, error=message.last_error)
            if await uow.messages.save_claimed(message, lease=lease):
                await uow.commit()

    async def fallback_unacknowledged(self) -> int:
        """Queue the SMS of critical pushes whose device receipt did not come in time."""
        now = self._clock.now()
        count = 0
        async with self._uow() as uow:
            for message in await uow.messages.receipt_timeouts(now, limit=self.batch_size):
                message.fallback_at = now
                message.updated_at = now
                if await uow.messages.update_if(
                    message, expected=Status.SENT
                ) and await add_sms_fallback(uow, message, now=now, reason="no_receipt"):
                    count += 1
            await uow.commit()
        return count

    async def check_sms_receipts(self) -> int:
        """Ask providers for the delivery report of accepted SMS that are due a check."""
        now = self._clock.now()
        async with self._uow() as uow:
            messages = await uow.messages.receipt_checks_due(now, limit=self.batch_size)
        count = 0
        by_name = {g.name: g for g in self._sms}
        for message in messages:
            gateway = by_name.get(message.provider or "")
            if gateway is None or not message.provider_message_id:
                receipt = Receipt(ReceiptStatus.UNKNOWN, "unknown_provider")
            else:
                try:
                    receipt = await gateway.status(message.provider_message_id)
                except Exception as exc:  # a broken report never stops the dispatcher
                    receipt = Receipt(ReceiptStatus.UNKNOWN, type(exc).__name__)
            await self.record_receipt(message, receipt)
            count += 1
        return count

    async def record_receipt(self, message: Message, receipt: Receipt) -> None:
        """Store a delivery report of an SMS and move the message on."""
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.messages.add_event(
                MessageEvent(message.id, now, "receipt", message.provider,
                             receipt.status.value, receipt.detail)
            )
            message.updated_at = now
            if receipt.status is ReceiptStatus.DELIVERED:
                message.status = Status.DELIVERED
                message.delivered_at = now
                message.receipt_due_at = None
            elif receipt.status is ReceiptStatus.FAILED:
                message.status = Status.UNDELIVERED
                message.receipt_due_at = None
                message.last_error = receipt.detail or "undelivered"
                log.warning("notifications.sms_undelivered", message_id=str(message.id),
                            kind=message.kind.value, to=mask_phone(message.phone))
            else:
                if receipt.status is ReceiptStatus.UNKNOWN:
                    log.warning("notifications.receipt_unreadable", message_id=str(message.id),
                                provider=message.provider, detail=receipt.detail)
                message.receipt_checks += 1
                if message.receipt_checks >= self._policy.sms_receipt_checks:
                    message.receipt_due_at = None  # stop asking; it stays "sent"
                else:
                    delay = self._policy.sms_receipt_delay_seconds * 2**message.receipt_checks
                    message.receipt_due_at = now + dt.timedelta(seconds=delay)
            if await uow.messages.update_if(message, expected=Status.SENT):
                await uow.commit()

    async def acknowledge_push(self, message: Message) -> None:
        """The device confirmed it displayed a push: no SMS fallback any more."""
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.messages.add_event(
                MessageEvent(message.id, now, "receipt", "device", ReceiptStatus.DELIVERED.value)
            )
            message.status = Status.DELIVERED
            message.delivered_at = now
            message.receipt_due_at = None
            message.updated_at = now
            if await uow.messages.update_if(message, expected=Status.SENT):
                await uow.commit()
