"""Payments use cases: collection per order, status reconciliation, refunds, rider cash.

Business rules (see also ``domain``):

- ``OrderPlaced`` with mobile money creates exactly one attempt per order (a UNIQUE row keyed
  by order); the provider request is sent after that row committed, under our attempt id,
  so a redelivered event or a crash mid-send never produces a second charge: a resend first
  asks the provider whether the reference exists (MoMo 404 → send again, 409 → it exists).
- A callback is a hint: the attempt is found by the unguessable token in its URL, then the
  provider's status API decides. Unknown tokens change nothing.
- Every transition is a guarded compare-and-swap (``WHERE status IN (...)``), and the ledger
  refuses a second entry with the same reference, so duplicated, reordered or late callbacks
  capture at most once.
- The reconciliation poller checks due attempts with back-off; the payment window ends with
  a final status query (``PENDING`` → ``EXPIRED``); a timeout is never a failure.
- Refunds are keyed by order and cause (``order_closed``, ``amend:<version>``) and never
  exceed what was captured minus what is already refunded or being refunded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from okada.contracts.base import IntegrationEvent
from okada.contracts.delivery.v1 import DeliveryCompleted, RiderAssigned
from okada.contracts.identity.v1 import UserDisabled, UserRegistered, UserUpdated
from okada.contracts.orders.v1 import (
    OrderAmended,
    OrderCancelled,
    OrderDeliveryFailed,
    OrderEvent,
    OrderPlaced,
    OrderStatus,
    PaymentMethod,
)
from okada.contracts.payments.v1 import (
    CashCollected,
    CashLedgerState,
    CashRemitted,
    PaymentCaptured,
    PaymentFailed,
    PaymentRequested,
    PaymentState,
    RefundCompleted,
    RefundFailed,
)
from okada.kernel.clock import Clock
from okada.kernel.errors import OkadaError
from okada.kernel.phone import parse_phone
from okada.services.payments.application.model import (
    CashDiscrepancy,
    OrderSnapshot,
    PaymentRecord,
    PaymentStatus,
    PayoutRecord,
    PhoneRecord,
    RefundRecord,
    RefundStatus,
)
from okada.services.payments.application.ports import (
    PaymentsUnitOfWork,
    ProviderGateway,
    Submission,
)
from okada.services.payments.domain import ledger
from okada.services.payments.domain.attempts import (
    CAPTURABLE_STATUSES,
    OPEN_STATUSES,
    Attempt,
    AttemptStatus,
    Decision,
    Outcome,
    Provider,
    ProviderStatus,
    decide,
    next_check_delay,
)
from okada.services.payments.domain.errors import (
    DiscrepancyReasonRequired,
    OperatorNotSupported,
    PayerPhoneInvalid,
    PayerPhoneNotVerified,
    PayerPhoneRequired,
    PayerRateLimited,
    PaymentNotFound,
    PaymentNotSwitchable,
    RemittanceExceedsCash,
    UnknownMethod,
)
from okada.services.payments.domain.methods import mask, provider_for

log = structlog.get_logger(__name__)

CLOSED_ORDER = frozenset({OrderStatus.CANCELLED, OrderStatus.DELIVERY_FAILED})
OPEN_PAYMENT = frozenset({PaymentStatus.NEW, PaymentStatus.PENDING})
OPEN_REFUND = frozenset({RefundStatus.CREATED, RefundStatus.PENDING})


@dataclass(frozen=True)
class PaymentPolicy:
    """Timings and limits of collection (from settings)."""

    window_seconds: int = 600
    check_schedule: tuple[float, ...] = (15.0, 15.0, 30.0, 60.0, 60.0, 120.0)
    late_check_seconds: float = 900.0
    late_checks: int = 3
    lease_seconds: float = 60.0
    payer_limit: int = 5
    payer_window_seconds: int = 600
    float_limit_xaf: int = 50_000
    callback_budget_seconds: float = 1.5
    check_concurrency: int = 10
    currencies: dict[str, str] = field(
        default_factory=lambda: {"mtn_momo": "XAF", "orange_money": "XAF"})
    callback_base_url: str = "http://127.0.0.1:8000"
    rates: ledger.SplitRates = field(default_factory=ledger.SplitRates)

    def callback_url(self, attempt: Attempt) -> str:
        """Where the provider reports on this attempt (the token authenticates the URL)."""
        kind = "mtn-momo" if attempt.provider is Provider.MTN_MOMO else "orange-money"
        base = self.callback_base_url.rstrip("/")
        return f"{base}/v1/payments/callbacks/{kind}/{attempt.callback_token}"


@dataclass(frozen=True, slots=True)
class PayoutItem:
    """One line of a settlement batch: pay ``amount_xaf`` to a store or a rider's wallet."""

    payee_kind: str  # "store" or "rider"
    payee_id: uuid.UUID
    phone: str
    amount_xaf: int


@dataclass
class FollowUps:
    """Provider calls to make once the transaction that decided them has committed."""

    attempts: list[uuid.UUID] = field(default_factory=list)
    refunds: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ResolvedMethod:
    """The wallet and number that will pay."""

    method: str
    provider: str | None
    payer_phone: str | None

    @property
    def payer_phone_masked(self) -> str | None:
        """The number as the customer's screen may show it."""
        return mask(self.payer_phone) if self.payer_phone else None


def payment_state(record: PaymentRecord) -> PaymentState:
    """The public state published in payments.v1 events."""
    return PaymentState(
        order_id=record.order_id,
        customer_id=record.customer_id,
        method=record.method,
        provider=record.provider,
        status=record.status,
        amount_xaf=record.amount_xaf,
        captured_xaf=record.captured_xaf,
        refunded_xaf=record.refunded_xaf,
        payer_phone_masked=mask(record.payer_phone) if record.payer_phone else None,
        failure_reason=record.failure_reason,
        updated_at=record.updated_at,
    )


def snapshot(event: OrderEvent) -> OrderSnapshot:
    """The replica of an order from any orders.v1 event (they carry the full state)."""
    state = event.state
    return OrderSnapshot(
        order_id=event.entity_id,
        version=event.version,
        customer_id=state.customer_id,
        store_id=state.store_id,
        status=state.status,
        payable_xaf=state.payable_xaf,
        method=state.payment.method,
        payer_phone=state.payment.payer_phone,
        delivery_fee_xaf=state.delivery_fee_xaf,
    )


class PaymentService:
    """The payments application."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], PaymentsUnitOfWork],
        gateways: dict[Provider, ProviderGateway],
        clock: Clock,
        policy: PaymentPolicy,
    ) -> None:
        self._uow = uow_factory
        self.gateways = gateways
        self.clock = clock
        self.policy = policy
        self._check_slots = asyncio.Semaphore(policy.check_concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()

    # -- events ------------------------------------------------------------------------

    async def apply_event(self, event: IntegrationEvent, uow: PaymentsUnitOfWork) -> FollowUps:
        """Apply one consumed event inside the consumer's transaction."""
        follow = FollowUps()
        if isinstance(event, OrderEvent):
            await self._on_order(event, uow, follow)
        elif isinstance(event, UserRegistered | UserUpdated | UserDisabled):
            phones = [PhoneRecord(p.e164, p.operator, p.verified and not event.state.disabled,
                                  p.primary) for p in event.state.phones]
            await uow.repo.save_user(event.entity_id, event.version, phones)
        elif isinstance(event, DeliveryCompleted):
            await self._on_delivered(event, uow)
        elif isinstance(event, RiderAssigned) and event.state.rider_id is not None:
            # who may switch a cash order to mobile money at the door
            await uow.repo.change_payment(event.state.order_id, self.clock.now(), bump=False,
                                          rider_id=event.state.rider_id)
        return follow

    async def run_follow_ups(self, follow: FollowUps) -> None:
        """Talk to providers after commit; failures leave due rows for the poller."""
        for attempt_id in follow.attempts:
            await self._guarded(self.check_attempt(attempt_id))
        for refund_id in follow.refunds:
            await self._guarded(self.check_refund(refund_id))

    def spawn_follow_ups(self, follow: FollowUps) -> None:
        """Run the provider calls in the background so the consumer acknowledges at once.

        Nothing is lost if the process dies first: the rows are due and the poller sends them.
        """
        if not follow.attempts and not follow.refunds:
            return
        task = asyncio.get_running_loop().create_task(self.run_follow_ups(follow))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def drain(self) -> None:
        """Wait for the background provider calls in flight (tests, shutdown)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the background provider calls (their rows stay due for the poller)."""
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the row stays due: the poller picks it up again
            log.warning("payments.follow_up_failed", error=repr(exc))

    async def _on_order(self, event: OrderEvent, uow: PaymentsUnitOfWork,
                        follow: FollowUps) -> None:
        now = self.clock.now()
        snap = snapshot(event)
        record = await uow.repo.upsert_order(snap, now)
        if isinstance(event, OrderPlaced):
            if record.order_status in OrderStatus.TERMINAL or record.status != PaymentStatus.NEW:
                return
            if snap.method == PaymentMethod.CASH:
                await uow.repo.change_payment(snap.order_id, now, status=PaymentStatus.CASH_DUE,
                                              expect=OPEN_PAYMENT)
            elif snap.method in PaymentMethod.MOBILE_MONEY:
                await self._start_collection(record, snap, uow, follow)
        elif isinstance(event, OrderCancelled | OrderDeliveryFailed):
            if record.status == PaymentStatus.CASH_DUE:
                await uow.repo.change_payment(snap.order_id, now, status=PaymentStatus.CANCELLED,
                                              expect=frozenset({PaymentStatus.CASH_DUE}))
            await self._refund(record, "order_closed", None, uow, follow)
        elif isinstance(event, OrderAmended) and event.refund_xaf > 0:
            await self._refund(record, f"amend:{event.version}", event.refund_xaf, uow, follow)

    async def _start_collection(self, record: PaymentRecord, snap: OrderSnapshot,
                                uow: PaymentsUnitOfWork, follow: FollowUps) -> None:
        now = self.clock.now()
        try:
            resolved = await self._resolve(uow, snap.customer_id, snap.method, snap.payer_phone)
        except OkadaError as exc:
            await self._fail_payment(uow, record.order_id, exc.code.upper(), now)
            return
        assert resolved.provider is not None and resolved.payer_phone is not None
        since = now - dt.timedelta(seconds=self.policy.payer_window_seconds)
        if await uow.repo.recent_requests(resolved.payer_phone, since) >= self.policy.payer_limit:
            await self._fail_payment(uow, record.order_id, "PAYER_RATE_LIMITED", now)
            return
        attempt = Attempt(
            id=uuid.uuid4(),  # MoMo wants a UUIDv4 X-Reference-Id
            order_id=record.order_id,
            provider=Provider(resolved.provider),
            status=AttemptStatus.CREATED,
            amount_xaf=snap.payable_xaf,
            payer_phone=resolved.payer_phone,
            callback_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=self.policy.window_seconds),
            next_check_at=now,
        )
        if await uow.repo.insert_attempt(attempt, seq=1):
            await uow.repo.change_payment(record.order_id, now, provider=resolved.provider,
                                          payer_phone=resolved.payer_phone,
                                          amount_xaf=snap.payable_xaf)
            follow.attempts.append(attempt.id)

    async def _fail_payment(self, uow: PaymentsUnitOfWork, order_id: uuid.UUID, reason: str,
                            now: dt.datetime) -> None:
        record = await uow.repo.change_payment(order_id, now, status=PaymentStatus.FAILED,
                                               failure_reason=reason, expect=OPEN_PAYMENT)
        if record is not None:
            uow.publish(PaymentFailed(entity_id=record.payment_id, version=record.version,
                                      state=payment_state(record)))

    # -- method selection --------------------------------------------------------------

    async def resolve_method(self, customer_id: uuid.UUID, method: str,
                             phone: str | None) -> ResolvedMethod:
        """Which wallet pays for ``customer_id`` (422 in the caller's language if none)."""
        async with self._uow() as uow:
            return await self._resolve(uow, customer_id, method, phone)

    async def _resolve(self, uow: PaymentsUnitOfWork, customer_id: uuid.UUID, method: str,
                       phone: str | None) -> ResolvedMethod:
        if method == PaymentMethod.CASH:
            return ResolvedMethod(method=method, provider=None, payer_phone=None)
        if method not in PaymentMethod.MOBILE_MONEY:
            raise UnknownMethod(method=method[:20])
        phones = await uow.repo.user_phones(customer_id)
        if not phone:
            primary = [p for p in phones or [] if p.verified and p.primary]
            if not primary:
                raise PayerPhoneRequired()
            phone = primary[0].e164
        try:
            parsed = parse_phone(phone)
        except OkadaError:
            raise PayerPhoneInvalid() from None
        provider = provider_for(parsed.operator.value, mask(parsed.e164))
        if phones is not None and not any(p.e164 == parsed.e164 and p.verified for p in phones):
            raise PayerPhoneNotVerified(phone=mask(parsed.e164))
        return ResolvedMethod(method=method, provider=provider.value, payer_phone=parsed.e164)

    # -- switching to mobile money at the door ------------------------------------------

    async def switch_to_mobile_money(self, order_id: uuid.UUID, method: str, phone: str | None,
                                     may: Callable[[PaymentRecord], bool]) -> Attempt:
        """Collect a cash order's payable by mobile money instead (rider or customer asks).

        Only a ``cash_due`` payment switches (409 otherwise; 404 if ``may`` refuses the
        caller). The method follows the payer's operator and the customer's verified numbers
        like any collection, within the payer's request limit. One switch attempt per order
        and method (``seq`` 2 for MoMo, 3 for Orange Money): asking again returns it. The
        payment stays ``cash_due`` until the provider confirms: on capture it becomes
        ``captured`` with the new method (``PaymentCaptured``: the cash due is cancelled,
        the rider collects nothing); on failure or expiry nothing changes, the order stays
        cash.
        """
        now = self.clock.now()
        follow = FollowUps()
        async with self._uow() as uow:
            record = await uow.repo.get_payment(order_id)
            if record is None or not may(record):
                raise PaymentNotFound()
            if record.status != PaymentStatus.CASH_DUE:
                raise PaymentNotSwitchable(current=record.status)
            resolved = await self._resolve(uow, record.customer_id, method, phone)
            assert resolved.provider is not None and resolved.payer_phone is not None
            provider = Provider(resolved.provider)
            seq = 2 if provider is Provider.MTN_MOMO else 3
            existing = [a for a in await uow.repo.attempts_of(order_id)
                        if a.provider is provider]
            since = now - dt.timedelta(seconds=self.policy.payer_window_seconds)
            if not existing and await uow.repo.recent_requests(
                    resolved.payer_phone, since) >= self.policy.payer_limit:
                raise PayerRateLimited()
            attempt = Attempt(
                id=uuid.uuid4(), order_id=order_id, provider=provider,
                status=AttemptStatus.CREATED, amount_xaf=record.amount_xaf,
                payer_phone=resolved.payer_phone, callback_token=secrets.token_urlsafe(32),
                created_at=now, expires_at=now + dt.timedelta(seconds=self.policy.window_seconds),
                next_check_at=now)
            if not existing and await uow.repo.insert_attempt(attempt, seq=seq):
                follow.attempts.append(attempt.id)
            await uow.commit()
        if not follow.attempts:
            async with self._uow() as uow:
                mine = [a for a in await uow.repo.attempts_of(order_id) if a.provider is provider]
            return mine[-1]
        await self.run_follow_ups(follow)
        async with self._uow() as uow:
            found = await uow.repo.get_attempt(attempt.id)
        assert found is not None
        return found

    # -- attempts ----------------------------------------------------------------------

    async def check_attempt(self, attempt_id: uuid.UUID, *, claim: bool = True) -> None:
        """Send a created attempt, or query the provider about an open one, and apply it."""
        now = self.clock.now()
        async with self._uow() as uow:
            if claim and not await uow.repo.claim_attempt(
                    attempt_id, now, now + dt.timedelta(seconds=self.policy.lease_seconds)):
                return
            attempt = await uow.repo.get_attempt(attempt_id)
            await uow.commit()
        if attempt is None:
            return
        if attempt.status is AttemptStatus.CREATED:
            await self._submit(attempt)
            return
        status = await self.gateways[attempt.provider].payment_status(attempt)
        await self.apply_status(attempt.id, status)

    async def _submit(self, attempt: Attempt) -> None:
        gateway = self.gateways[attempt.provider]
        if attempt.submitted > 0:
            # the previous send may have reached the provider: ask before sending again
            status = await gateway.payment_status(attempt)
            if status.outcome is Outcome.UNKNOWN:
                await self._reschedule(attempt.id)
                return
            if status.outcome is not Outcome.NOT_FOUND:
                await self._accepted(attempt.id)
                await self.apply_status(attempt.id, status)
                return
        else:
            active = await gateway.account_active(attempt)
            if active is False:
                await self.apply_status(
                    attempt.id, ProviderStatus(Outcome.FAILED, reason="PAYER_NOT_FOUND"))
                return
        if gateway.needs_prepare and attempt.provider_ref is None:
            attempt.provider_ref = await gateway.prepare(attempt)
            if attempt.provider_ref is None:
                await self._reschedule(attempt.id)
                return
        async with self._uow() as uow:
            await uow.repo.update_attempt(attempt.id, self.clock.now(),
                                          submitted=attempt.submitted + 1,
                                          provider_ref=attempt.provider_ref)
            await uow.commit()
        result: Submission = await gateway.request_payment(
            attempt, self.policy.callback_url(attempt))
        if result.accepted:
            await self._accepted(attempt.id)
        elif result.accepted is False:
            await self.apply_status(
                attempt.id, ProviderStatus(Outcome.FAILED, reason=result.reason or "REJECTED"))
        else:
            await self._reschedule(attempt.id)

    async def _accepted(self, attempt_id: uuid.UUID) -> None:
        now = self.clock.now()
        first = dt.timedelta(seconds=next_check_delay(0, self.policy.check_schedule))
        async with self._uow() as uow:
            moved = await uow.repo.transition_attempt(
                attempt_id, frozenset({AttemptStatus.CREATED}), AttemptStatus.PENDING, now,
                next_check_at=now + first)
            attempt = await uow.repo.get_attempt(attempt_id)
            if moved and attempt is not None:
                record = await uow.repo.change_payment(
                    attempt.order_id, now, status=PaymentStatus.PENDING,
                    expect=frozenset({PaymentStatus.NEW}))
                if record is not None:
                    uow.publish(PaymentRequested(entity_id=record.payment_id,
                                                 version=record.version,
                                                 state=payment_state(record)))
            await uow.commit()

    async def _reschedule(self, attempt_id: uuid.UUID) -> None:
        await self.apply_status(attempt_id, ProviderStatus(Outcome.UNKNOWN))

    async def apply_status(self, attempt_id: uuid.UUID, status: ProviderStatus) -> None:
        """Apply the provider's answer about an attempt, once, whatever the concurrency."""
        now = self.clock.now()
        follow = FollowUps()
        async with self._uow() as uow:
            attempt = await uow.repo.get_attempt(attempt_id)
            if attempt is None:
                return
            currency = self.policy.currencies.get(attempt.provider.value, "XAF")
            decision = decide(attempt, status, now=now, currency=currency)
            if decision is Decision.CAPTURE:
                await self._capture(uow, attempt, status, now, follow)
            elif decision is Decision.FAIL:
                if await uow.repo.transition_attempt(
                        attempt.id, OPEN_STATUSES, AttemptStatus.FAILED, now,
                        reason=status.reason, raw_status=status.raw_status, next_check_at=None):
                    await self._fail_payment(uow, attempt.order_id, status.reason or "FAILED", now)
            elif decision is Decision.EXPIRE:
                if await uow.repo.transition_attempt(
                        attempt.id, frozenset({AttemptStatus.PENDING}), AttemptStatus.EXPIRED,
                        now, reason="EXPIRED", checks=0,
                        next_check_at=now + dt.timedelta(seconds=self.policy.late_check_seconds)):
                    await self._fail_payment(uow, attempt.order_id, "EXPIRED", now)
            elif decision is Decision.MISMATCH:
                log.warning("payments.provider_mismatch", attempt_id=str(attempt.id),
                            order_id=str(attempt.order_id))
                if await uow.repo.transition_attempt(
                        attempt.id, CAPTURABLE_STATUSES, AttemptStatus.FAILED, now,
                        reason="PROVIDER_MISMATCH", next_check_at=None):
                    await self._fail_payment(uow, attempt.order_id, "PROVIDER_MISMATCH", now)
            else:
                await uow.repo.update_attempt(attempt.id, now, **self._next_check(attempt, status,
                                                                                  now))
            await uow.commit()
        await self.run_follow_ups(follow)

    def _next_check(self, attempt: Attempt, status: ProviderStatus,
                    now: dt.datetime) -> dict[str, object]:
        checks = attempt.checks + 1
        if attempt.status in OPEN_STATUSES:
            delay = next_check_delay(attempt.checks, self.policy.check_schedule)
            due = now + dt.timedelta(seconds=delay)
            if attempt.status is AttemptStatus.PENDING and due > attempt.expires_at > now:
                due = attempt.expires_at  # the final query happens when the window ends
            return {"checks": checks, "next_check_at": due, "raw_status": status.raw_status}
        if attempt.status is AttemptStatus.EXPIRED and status.outcome is not Outcome.FAILED \
                and checks < self.policy.late_checks:
            return {"checks": checks,
                    "next_check_at": now + dt.timedelta(seconds=self.policy.late_check_seconds)}
        return {"checks": checks, "next_check_at": None}

    async def _capture(self, uow: PaymentsUnitOfWork, attempt: Attempt, status: ProviderStatus,
                       now: dt.datetime, follow: FollowUps) -> None:
        if not await uow.repo.transition_attempt(
                attempt.id, CAPTURABLE_STATUSES, AttemptStatus.SUCCEEDED, now,
                provider_tx_id=status.provider_tx_id, raw_status=status.raw_status,
                reason=None, next_check_at=None):
            return
        before = await uow.repo.get_payment(attempt.order_id)
        assert before is not None  # an attempt is only created for a known order
        entry = ledger.capture(f"capture:{attempt.id}", attempt.order_id,
                               attempt.provider.value, attempt.amount_xaf,
                               store_id=before.store_id, delivery_fee=before.delivery_fee_xaf,
                               rates=self.policy.rates)
        if not await uow.repo.post(entry, now):
            return
        switched: dict[str, Any] = {}
        if before.method == PaymentMethod.CASH:  # switched to mobile money at the door
            switched = {"method": attempt.provider.value, "provider": attempt.provider.value,
                        "payer_phone": attempt.payer_phone}
        record = await uow.repo.change_payment(
            attempt.order_id, now, captured_delta=attempt.amount_xaf,
            status=PaymentStatus.CAPTURED, failure_reason=None, **switched)
        assert record is not None
        uow.publish(PaymentCaptured(entity_id=record.payment_id, version=record.version,
                                    state=payment_state(record)))
        if before.status == PaymentStatus.CASH_COLLECTED:
            # the rider took cash before the customer approved the prompt: paid twice,
            # give the mobile money back
            await self._refund(record, f"duplicate:{attempt.id}", attempt.amount_xaf, uow,
                               follow, whole_capture=True)
        elif record.order_status in CLOSED_ORDER:
            # the order died while the customer was paying: give the money back at once;
            # an EXPIRED order waits for the orders saga (re-confirm or cancel)
            await self._refund(record, "order_closed", None, uow, follow)

    # -- callbacks ---------------------------------------------------------------------

    async def handle_callback(self, provider: Provider, token: str) -> bool:
        """A provider's callback (a hint): query the provider, then apply its answer.

        Returns whether the token names an attempt of that provider; the body is never
        trusted. Answers within the callback budget: a slow provider leaves the attempt due
        for the poller at once.
        """
        if not token or len(token) > 64:
            return False
        async with self._uow() as uow:
            attempt = await uow.repo.attempt_by_token(token)
        if attempt is None or attempt.provider is not provider:
            return False
        if attempt.status not in CAPTURABLE_STATUSES:
            return True
        try:
            async with asyncio.timeout(self.policy.callback_budget_seconds):
                status = await self.gateways[provider].payment_status(attempt)
        except TimeoutError:
            async with self._uow() as uow:
                await uow.repo.update_attempt(attempt.id, self.clock.now(),
                                              next_check_at=self.clock.now())
                await uow.commit()
            return True
        if status.outcome is Outcome.NOT_FOUND:
            return True
        if attempt.status is AttemptStatus.CREATED and status.outcome is not Outcome.UNKNOWN:
            await self._accepted(attempt.id)
        await self.apply_status(attempt.id, status)
        return True

    # -- poller ------------------------------------------------------------------------

    async def sweep_once(self, batch_size: int = 200) -> int:
        """Check every due attempt, refund and payout (bounded concurrency); returns how many."""
        now = self.clock.now()
        async with self._uow() as uow:
            attempt_ids = await uow.repo.due_attempts(now, batch_size)
            refund_ids = await uow.repo.due_refunds(now, batch_size)
            payout_ids = await uow.repo.due_payouts(now, batch_size)

        async def one(work: Awaitable[None]) -> None:
            async with self._check_slots:
                await self._guarded(work)

        await asyncio.gather(*(one(self.check_attempt(i)) for i in attempt_ids),
                             *(one(self.check_refund(i)) for i in refund_ids),
                             *(one(self.check_payout(i)) for i in payout_ids))
        return len(attempt_ids) + len(refund_ids) + len(payout_ids)

    # -- refunds -----------------------------------------------------------------------

    async def _refund(self, record: PaymentRecord, cause: str, amount: int | None,
                      uow: PaymentsUnitOfWork, follow: FollowUps, *,
                      whole_capture: bool = False) -> None:
        """Decide a refund; ``whole_capture``: give back exactly one capture of ``amount``.

        The ledger reverses the split proportionally over what was captured, or, for a
        whole capture (a mobile-money payment duplicating cash already collected), exactly
        the split that capture booked.
        """
        now = self.clock.now()
        current = await uow.repo.get_payment(record.order_id)
        if current is None or current.captured_xaf <= 0:
            return
        captured = [a for a in await uow.repo.attempts_of(record.order_id)
                    if a.status is AttemptStatus.SUCCEEDED]
        if not captured:
            return
        committed = sum(r.amount_xaf for r in await uow.repo.refunds_of(record.order_id)
                        if r.status != RefundStatus.FAILED)
        remaining = current.captured_xaf - committed
        value = remaining if amount is None else min(amount, remaining)
        if value <= 0:
            return
        refund = RefundRecord(
            id=uuid.uuid4(), order_id=record.order_id, cause=cause[:64],
            attempt_id=captured[0].id, provider=captured[0].provider.value, amount_xaf=value,
            status=RefundStatus.CREATED, reason=None, checks=0, submitted=0, created_at=now)
        if await uow.repo.insert_refund(refund, now):
            assigned = current.rider_id is not None and await uow.repo.entry(
                f"rider-share:{record.order_id}") is not None
            rider_account = (ledger.rider_earnings(current.rider_id)
                             if assigned and current.rider_id else ledger.RIDER_POOL)
            await uow.repo.post(ledger.refund_decided(
                f"refund-decided:{refund.id}", record.order_id, value,
                captured=value if whole_capture else current.captured_xaf,
                refunded_before=0 if whole_capture else committed,
                store_id=current.store_id, delivery_fee=current.delivery_fee_xaf,
                rates=self.policy.rates, rider_account=rider_account), now)
            follow.refunds.append(refund.id)

    async def check_refund(self, refund_id: uuid.UUID) -> None:
        """Send a decided refund to the provider, or ask how it went, and apply it."""
        now = self.clock.now()
        async with self._uow() as uow:
            if not await uow.repo.claim_refund(
                    refund_id, now, now + dt.timedelta(seconds=self.policy.lease_seconds)):
                return
            refund = await uow.repo.get_refund(refund_id)
            attempt = None if refund is None else await uow.repo.get_attempt(refund.attempt_id)
            await uow.commit()
        if refund is None or attempt is None:
            return
        gateway = self.gateways[Provider(refund.provider)]
        if refund.status == RefundStatus.CREATED:
            if refund.submitted > 0:
                status = await gateway.refund_status(refund)
                if status.outcome is Outcome.UNKNOWN:
                    await self._refund_later(refund)
                    return
                if status.outcome is not Outcome.NOT_FOUND:
                    await self._refund_answer(refund, status)
                    return
            async with self._uow() as uow:
                await uow.repo.update_refund(refund.id, self.clock.now(),
                                             submitted=refund.submitted + 1)
                await uow.commit()
            result = await gateway.request_refund(refund, attempt)
            if result.accepted is None:
                await self._refund_later(refund)
                return
            if result.accepted is False:
                await self._refund_answer(
                    refund, ProviderStatus(Outcome.FAILED, reason=result.reason or "REJECTED"))
                return
            async with self._uow() as uow:
                await uow.repo.transition_refund(refund.id, frozenset({RefundStatus.CREATED}),
                                                 RefundStatus.PENDING, self.clock.now())
                await uow.commit()
        await self._refund_answer(refund, await gateway.refund_status(refund))

    async def _refund_later(self, refund: RefundRecord) -> None:
        now = self.clock.now()
        delay = next_check_delay(refund.checks, self.policy.check_schedule)
        async with self._uow() as uow:
            await uow.repo.update_refund(refund.id, now, checks=refund.checks + 1,
                                         next_check_at=now + dt.timedelta(seconds=delay))
            await uow.commit()

    async def _refund_answer(self, refund: RefundRecord, status: ProviderStatus) -> None:
        if status.outcome not in (Outcome.SUCCEEDED, Outcome.FAILED):
            await self._refund_later(refund)
            return
        now = self.clock.now()
        async with self._uow() as uow:
            if status.outcome is Outcome.SUCCEEDED:
                if await uow.repo.transition_refund(refund.id, OPEN_REFUND,
                                                    RefundStatus.COMPLETED, now,
                                                    next_check_at=None):
                    await uow.repo.post(ledger.refund_paid(
                        f"refund:{refund.id}", refund.order_id, refund.provider,
                        refund.amount_xaf), now)
                    record = await uow.repo.change_payment(refund.order_id, now,
                                                           refunded_delta=refund.amount_xaf)
                    assert record is not None
                    full = record.refunded_xaf >= record.captured_xaf
                    record = await uow.repo.change_payment(
                        refund.order_id, now, bump=False,
                        status=PaymentStatus.REFUNDED if full
                        else PaymentStatus.PARTIALLY_REFUNDED)
                    assert record is not None
                    uow.publish(RefundCompleted(entity_id=record.payment_id,
                                                version=record.version,
                                                state=payment_state(record),
                                                amount_xaf=refund.amount_xaf,
                                                reason=refund.cause))
            elif await uow.repo.transition_refund(refund.id, OPEN_REFUND, RefundStatus.FAILED,
                                                  now, reason=status.reason, next_check_at=None):
                decided = await uow.repo.entry(f"refund-decided:{refund.id}")
                if decided is not None:  # the split reverts exactly as it was reversed
                    await uow.repo.post(ledger.reversal(f"refund-failed:{refund.id}",
                                                        "refund_cancelled", decided), now)
                record = await uow.repo.get_payment(refund.order_id)
                assert record is not None
                record = await uow.repo.change_payment(refund.order_id, now)
                assert record is not None
                uow.publish(RefundFailed(entity_id=record.payment_id, version=record.version,
                                         state=payment_state(record),
                                         amount_xaf=refund.amount_xaf,
                                         reason=status.reason or "FAILED"))
            await uow.commit()

    # -- payouts -----------------------------------------------------------------------

    async def submit_payouts(self, batch_id: str, items: list[PayoutItem], *,
                             actor_id: uuid.UUID) -> list[PayoutRecord]:
        """Record a settlement batch and send its transfers (MoMo disbursement).

        Idempotent: a payee is paid once per batch (UNIQUE batch + payee), so resubmitting a
        batch after a timeout sends nothing twice; the lines already recorded stand. Every
        number must be an MTN number (422 otherwise, nothing recorded).
        """
        now = self.clock.now()
        numbers: list[str] = []
        for item in items:
            try:
                parsed = parse_phone(item.phone)
            except OkadaError:
                raise PayerPhoneInvalid() from None
            if provider_for(parsed.operator.value, mask(parsed.e164)) is not Provider.MTN_MOMO:
                raise OperatorNotSupported(phone=mask(parsed.e164), operator=parsed.operator.value)
            numbers.append(parsed.e164)
        created: list[uuid.UUID] = []
        async with self._uow() as uow:
            for item, e164 in zip(items, numbers, strict=True):
                payout = PayoutRecord(
                    id=uuid.uuid4(), batch_id=batch_id, payee_kind=item.payee_kind,
                    payee_id=item.payee_id, phone=e164, amount_xaf=item.amount_xaf,
                    status=RefundStatus.CREATED, reason=None, checks=0, submitted=0,
                    created_at=now)
                if await uow.repo.insert_payout(payout, now, actor_id):
                    await uow.repo.post(ledger.payout_decided(
                        f"payout-decided:{payout.id}", item.payee_kind, item.payee_id,
                        item.amount_xaf), now)
                    created.append(payout.id)
            await uow.commit()
        for payout_id in created:
            await self._guarded(self.check_payout(payout_id))
        return await self.payout_batch(batch_id)

    async def payout_batch(self, batch_id: str) -> list[PayoutRecord]:
        """The lines of a settlement batch."""
        async with self._uow() as uow:
            return await uow.repo.payouts_of(batch_id)

    async def check_payout(self, payout_id: uuid.UUID) -> None:
        """Send a recorded payout, or ask how it went, and apply the answer."""
        now = self.clock.now()
        async with self._uow() as uow:
            if not await uow.repo.claim_payout(
                    payout_id, now, now + dt.timedelta(seconds=self.policy.lease_seconds)):
                return
            payout = await uow.repo.get_payout(payout_id)
            await uow.commit()
        if payout is None:
            return
        gateway = self.gateways[Provider.MTN_MOMO]
        if payout.status == RefundStatus.CREATED:
            if payout.submitted > 0:
                status = await gateway.transfer_status(payout)
                if status.outcome is Outcome.UNKNOWN:
                    await self._payout_later(payout)
                    return
                if status.outcome is not Outcome.NOT_FOUND:
                    await self._payout_answer(payout, status)
                    return
            async with self._uow() as uow:
                await uow.repo.update_payout(payout.id, self.clock.now(),
                                             submitted=payout.submitted + 1)
                await uow.commit()
            result = await gateway.request_transfer(payout)
            if result.accepted is None:
                await self._payout_later(payout)
                return
            if result.accepted is False:
                await self._payout_answer(
                    payout, ProviderStatus(Outcome.FAILED, reason=result.reason or "REJECTED"))
                return
            async with self._uow() as uow:
                await uow.repo.transition_payout(payout.id, frozenset({RefundStatus.CREATED}),
                                                 RefundStatus.PENDING, self.clock.now())
                await uow.commit()
        await self._payout_answer(payout, await gateway.transfer_status(payout))

    async def _payout_later(self, payout: PayoutRecord) -> None:
        now = self.clock.now()
        delay = next_check_delay(payout.checks, self.policy.check_schedule)
        async with self._uow() as uow:
            await uow.repo.update_payout(payout.id, now, checks=payout.checks + 1,
                                         next_check_at=now + dt.timedelta(seconds=delay))
            await uow.commit()

    async def _payout_answer(self, payout: PayoutRecord, status: ProviderStatus) -> None:
        if status.outcome not in (Outcome.SUCCEEDED, Outcome.FAILED):
            await self._payout_later(payout)
            return
        now = self.clock.now()
        async with self._uow() as uow:
            if status.outcome is Outcome.SUCCEEDED:
                if await uow.repo.transition_payout(payout.id, OPEN_REFUND,
                                                    RefundStatus.COMPLETED, now,
                                                    next_check_at=None):
                    await uow.repo.post(ledger.payout_paid(
                        f"payout:{payout.id}", payout.payee_kind, payout.payee_id,
                        Provider.MTN_MOMO.value, payout.amount_xaf), now)
            elif await uow.repo.transition_payout(payout.id, OPEN_REFUND, RefundStatus.FAILED,
                                                  now, reason=status.reason, next_check_at=None):
                await uow.repo.post(ledger.payout_cancelled(
                    f"payout-failed:{payout.id}", payout.payee_kind, payout.payee_id,
                    payout.amount_xaf), now)
            await uow.commit()

    # -- rider cash --------------------------------------------------------------------

    def _cash_state(self, rider_id: uuid.UUID, cash: int, at: dt.datetime) -> CashLedgerState:
        return CashLedgerState(rider_id=rider_id, cash_in_hand_xaf=cash,
                               float_limit_xaf=self.policy.float_limit_xaf, updated_at=at)

    async def _on_delivered(self, event: DeliveryCompleted, uow: PaymentsUnitOfWork) -> None:
        """A delivery completed: the rider is known, their share and any cash are booked.

        A prepaid order's rider share moves from ``rider_earnings_pool`` to the rider (what
        is left of it after refunds); cash collected is split like a capture.
        """
        state = event.state
        amount = state.cash_to_collect_xaf
        if state.rider_id is None:
            return
        now = self.clock.now()
        record = await uow.repo.change_payment(state.order_id, now, bump=False,
                                               rider_id=state.rider_id)
        if record is not None and record.status != PaymentStatus.CASH_DUE:
            if amount > 0 and record.status != PaymentStatus.CASH_COLLECTED:
                # paid otherwise (switched to mobile money at the door) or closed: the rider
                # collected nothing for this order
                log.warning("payments.cash_not_due", order_id=str(state.order_id),
                            status=record.status)
            if record.captured_xaf > 0 and record.method != PaymentMethod.CASH:
                share = -await uow.repo.order_account_balance(state.order_id, ledger.RIDER_POOL)
                if share > 0:
                    await uow.repo.post(ledger.rider_assigned(
                        f"rider-share:{state.order_id}", state.order_id, state.rider_id,
                        share), now)
            return
        if amount <= 0:
            return
        reference = f"cash:{state.order_id}"
        if not await uow.repo.record_cash(reference, state.rider_id, state.order_id,
                                          "collected", amount, now):
            return
        cash = await uow.repo.change_cash(state.rider_id, amount, now)
        assert cash is not None
        if record is None:  # an order we never heard of: hold the cash unallocated
            entry = ledger.JournalEntry(reference, "cash_collected", state.order_id,
                                        ((ledger.rider_cash(state.rider_id), amount),
                                         (ledger.UNALLOCATED_CASH, -amount)))
        else:
            entry = ledger.cash_collected(reference, state.order_id, state.rider_id, amount,
                                          store_id=record.store_id,
                                          delivery_fee=record.delivery_fee_xaf,
                                          rates=self.policy.rates)
        await uow.repo.post(entry, now)
        await uow.repo.change_payment(state.order_id, now, captured_delta=amount,
                                      status=PaymentStatus.CASH_COLLECTED,
                                      expect=frozenset({PaymentStatus.CASH_DUE}))
        uow.publish(CashCollected(entity_id=state.rider_id, version=cash.version,
                                  state=self._cash_state(state.rider_id, cash.cash_in_hand_xaf,
                                                         now),
                                  order_id=state.order_id, amount_xaf=amount))

    async def remit_cash(self, rider_id: uuid.UUID, amount: int, *, actor_id: uuid.UUID,
                         note: str | None, counted: int | None = None,
                         reason: str | None = None,
                         booking: str = "rider_receivable") -> CashLedgerState:
        """Operations received ``amount`` of a rider's cash (409 if more than they hold).

        ``amount`` is the cash expected (it leaves the rider's cash in hand); ``counted`` is
        what operations actually counted (default: the same). A difference is a discrepancy:
        it needs a ``reason`` (422 otherwise), is stored for operations and is booked in the
        ledger: a shortfall against the rider (``rider_receivable``, default) or as a
        ``write_off``; an excess as an overage.
        """
        counted = amount if counted is None else counted
        if counted != amount and not (reason and reason.strip()):
            raise DiscrepancyReasonRequired(expected=amount, counted=counted)
        now = self.clock.now()
        async with self._uow() as uow:
            reference = f"remit:{uuid.uuid4()}"
            cash = await uow.repo.change_cash(rider_id, -amount, now)
            if cash is None:
                held = await uow.repo.rider_cash(rider_id)
                raise RemittanceExceedsCash(
                    amount=amount, cash_in_hand=held.cash_in_hand_xaf if held else 0)
            await uow.repo.record_cash(reference, rider_id, None, "remitted", amount, now,
                                       note=note, actor_id=actor_id)
            if counted == amount:
                await uow.repo.post(ledger.cash_remitted(reference, rider_id, amount), now)
            else:
                booking = "overage" if counted > amount else booking
                assert reason is not None
                await uow.repo.record_discrepancy(CashDiscrepancy(
                    id=uuid.uuid4(), reference=reference, rider_id=rider_id,
                    expected_xaf=amount, counted_xaf=counted,
                    discrepancy_xaf=counted - amount, booking=booking,
                    reason=reason.strip()[:200], actor_id=actor_id, created_at=now))
                await uow.repo.post(ledger.cash_remitted_with_discrepancy(
                    reference, rider_id, amount, counted, booking), now)
            state = self._cash_state(rider_id, cash.cash_in_hand_xaf, now)
            uow.publish(CashRemitted(entity_id=rider_id, version=cash.version, state=state,
                                     amount_xaf=amount))
            await uow.commit()
        return state

    async def cash_discrepancies(self, rider_id: uuid.UUID | None = None,
                                 limit: int = 100) -> list[CashDiscrepancy]:
        """Remittance discrepancies, newest first (operations follows them up)."""
        async with self._uow() as uow:
            return await uow.repo.discrepancies(rider_id, limit)

    async def rider_cash(self, rider_id: uuid.UUID) -> CashLedgerState:
        """A rider's cash in hand and float limit (zero for a rider with no cash yet)."""
        async with self._uow() as uow:
            cash = await uow.repo.rider_cash(rider_id)
        if cash is None:
            return self._cash_state(rider_id, 0, self.clock.now())
        return self._cash_state(rider_id, cash.cash_in_hand_xaf, cash.updated_at)

    # -- queries -----------------------------------------------------------------------

    async def order_payment(
        self, order_id: uuid.UUID
    ) -> tuple[PaymentRecord, list[Attempt], list[RefundRecord]] | None:
        """An order's payment with its attempts and refunds."""
        async with self._uow() as uow:
            record = await uow.repo.get_payment(order_id)
            if record is None:
                return None
            return record, await uow.repo.attempts_of(order_id), await uow.repo.refunds_of(
                order_id)

    async def balances(self) -> dict[str, int]:
        """Balance of every ledger account."""
        async with self._uow() as uow:
            return await uow.repo.balances()


__all__ = ["OperatorNotSupported", "PaymentPolicy", "PaymentService", "ResolvedMethod"]
