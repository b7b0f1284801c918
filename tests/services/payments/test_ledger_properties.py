"""Ledger invariants under random sequences of payments, refunds, cash and payouts (Hypothesis).

The application service runs against its real SQLite repository (a fresh file per example);
the providers are a scripted fake whose answers each step chooses. After every sequence:
every entry balances, every balance is the sum of its lines, the accounts that must never go
negative do not, the rider cash table agrees with the ledger, and captured - refunded equals
the paid value of the orders not cancelled plus the refunds that failed for good (money
operations must return by hand).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from okada.contracts.base import IntegrationEvent
from okada.contracts.delivery.v1 import DeliveryCompleted, DeliveryState
from okada.contracts.orders.v1 import (
    DeliveryAddressState,
    OrderAmended,
    OrderCancelled,
    OrderPaymentState,
    OrderPlaced,
    OrderState,
)
from okada.kernel.clock import FrozenClock
from okada.services.payments.adapters.orm import journal_lines, metadata, platform_tables
from okada.services.payments.adapters.repositories import PaymentsUoW
from okada.services.payments.application.model import PayoutRecord, RefundRecord
from okada.services.payments.application.payments import (
    FollowUps,
    PaymentPolicy,
    PaymentService,
    PayoutItem,
)
from okada.services.payments.application.ports import ProviderGateway, Submission
from okada.services.payments.domain import ledger
from okada.services.payments.domain.attempts import (
    Attempt,
    AttemptStatus,
    Outcome,
    Provider,
    ProviderStatus,
)


class FakeProvider:
    """Answers refunds and transfers as the current step scripted (``fail_*``)."""

    needs_prepare = False

    def __init__(self) -> None:
        self.fail_refunds = False
        self.fail_transfers = False
        self.refund_outcomes: dict[uuid.UUID, Outcome] = {}
        self.transfer_outcomes: dict[uuid.UUID, Outcome] = {}
        self.paid_out = 0

    async def account_active(self, attempt: Attempt) -> bool | None:
        return True

    async def prepare(self, attempt: Attempt) -> str | None:
        return None

    async def request_payment(self, attempt: Attempt, callback_url: str) -> Submission:
        return Submission(accepted=True)

    async def payment_status(self, attempt: Attempt) -> ProviderStatus:
        return ProviderStatus(Outcome.PENDING)

    async def request_refund(self, refund: RefundRecord, attempt: Attempt) -> Submission:
        self.refund_outcomes[refund.id] = (Outcome.FAILED if self.fail_refunds
                                           else Outcome.SUCCEEDED)
        return Submission(accepted=True)

    async def refund_status(self, refund: RefundRecord) -> ProviderStatus:
        return ProviderStatus(self.refund_outcomes.get(refund.id, Outcome.NOT_FOUND),
                              reason="REFUSED")

    async def request_transfer(self, payout: PayoutRecord) -> Submission:
        self.transfer_outcomes[payout.id] = (Outcome.FAILED if self.fail_transfers
                                             else Outcome.SUCCEEDED)
        self.paid_out += 0 if self.fail_transfers else payout.amount_xaf
        return Submission(accepted=True)

    async def transfer_status(self, payout: PayoutRecord) -> ProviderStatus:
        return ProviderStatus(self.transfer_outcomes.get(payout.id, Outcome.NOT_FOUND),
                              reason="PAYEE_NOT_FOUND")


@dataclass
class ModelOrder:
    """What the test expects of one order."""

    event: OrderPlaced
    method: str
    attempt_id: uuid.UUID | None = None
    captured: int = 0
    committed_refunds: int = 0  # decided and not failed
    failed_refunds: int = 0  # decided, then refused for good (operations pays by hand)
    cancelled: bool = False
    delivered: bool = False
    attempt_open: bool = True
    payer: str | None = None


@dataclass
class Model:
    orders: list[ModelOrder] = field(default_factory=list)
    riders: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4(), uuid.uuid4()])
    stores: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4(), uuid.uuid4()])


OPS = ("place", "place", "capture", "decline", "amend", "cancel", "deliver", "remit",
       "payout", "switch")
op_strategy = st.tuples(st.sampled_from(OPS), st.integers(0, 1_000_000), st.booleans())


class Scenario:
    def __init__(self, service: PaymentService, provider: FakeProvider,
                 clock: FrozenClock) -> None:
        self.service = service
        self.provider = provider
        self.clock = clock
        self.model = Model()
        self.phones = 0

    async def apply(self, event: IntegrationEvent) -> FollowUps:
        async with self.service._uow() as uow:
            follow = await self.service.apply_event(event, uow)
            await uow.commit()
        return follow

    def _next(self, order: ModelOrder, cls: type[Any], status: str, **extra: Any) -> Any:
        state = order.event.state.model_copy(update={"status": status})
        event = cls(entity_id=order.event.entity_id, version=order.event.version + 1,
                    state=state, **extra)
        order.event = event
        return event

    async def step(self, op: str, n: int, flag: bool) -> None:
        model = self.model
        self.clock.advance(seconds=1)
        if op == "place" or not model.orders:
            await self.place(n, flag)
            return
        order = model.orders[n % len(model.orders)]
        if op in ("capture", "decline"):
            if order.attempt_id is None or not order.attempt_open:
                return
            await self.settle_attempt(order, op == "capture", flag)
        elif op == "amend":
            if order.cancelled or order.captured == 0 or order.method == "cash":
                return
            self.provider.fail_refunds = flag
            refund = 5 * (1 + n % 400)
            event = self._next(order, OrderAmended, "CONFIRMED", refund_xaf=refund)
            self.expect_refund(order, refund, flag)
            await self.service.run_follow_ups(await self.apply(event))
        elif op == "cancel":
            if order.cancelled or order.delivered:
                return
            self.provider.fail_refunds = flag
            order.cancelled = True
            self.expect_refund(order, None, flag)
            await self.service.run_follow_ups(
                await self.apply(self._next(order, OrderCancelled, "CANCELLED")))
        elif op == "deliver":
            if order.cancelled or order.delivered:
                return
            if order.method != "cash" and order.captured == 0:
                return
            order.delivered = True
            state = order.event.state
            rider = model.riders[n % 2]
            cash = state.payable_xaf if order.method == "cash" else 0
            if cash and order.captured == 0:  # else switched and paid: nothing collected
                order.captured = cash
            await self.apply(DeliveryCompleted(
                entity_id=uuid.uuid4(), version=1, state=DeliveryState(
                    order_id=order.event.entity_id, store_id=state.store_id,
                    customer_id=state.customer_id, rider_id=rider, status="DELIVERED",
                    store_lat=4.05, store_lng=9.7, drop_lat=None, drop_lng=None,
                    cash_to_collect_xaf=cash, updated_at=self.clock.now())))
        elif op == "remit":
            rider = model.riders[n % 2]
            held = (await self.service.rider_cash(rider)).cash_in_hand_xaf
            if held:
                await self.service.remit_cash(rider, 1 + n % held, actor_id=uuid.uuid4(),
                                              note=None)
        elif op == "payout":
            await self.payout(n, flag)
        elif op == "switch":  # a cash order paid by mobile money at the door
            if (order.method != "cash" or order.attempt_id is not None or order.cancelled
                    or order.delivered):
                return
            self.phones += 1
            order.payer = f"+23767{self.phones:07d}"
            attempt = await self.service.switch_to_mobile_money(
                order.event.entity_id, "mtn_momo", order.payer, lambda record: True)
            order.attempt_id = attempt.id

    async def place(self, n: int, flag: bool) -> None:
        method = ("cash", "mtn_momo", "orange_money")[n % 3]
        self.phones += 1
        prefix = "+23769" if method == "orange_money" else "+23767"
        phone = f"{prefix}{self.phones:07d}"
        amount = 500 + 5 * (n % 4000)
        fee = min(amount, 300 + 100 * (n % 7)) if flag else 0
        now = self.clock.now()
        state = OrderState(
            customer_id=uuid.uuid4(), store_id=self.model.stores[n % 2],
            status="PENDING_PAYMENT" if method != "cash" else "CONFIRMED", lines=[],
            subtotal_xaf=amount - fee, delivery_fee_xaf=fee, total_xaf=amount,
            payable_xaf=amount,
            payment=OrderPaymentState(method=method,
                                      payer_phone=None if method == "cash" else phone),
            address=DeliveryAddressState(city="Douala", quartier="Akwa"),
            placed_at=now, updated_at=now)
        event = OrderPlaced(entity_id=uuid.uuid4(), version=1, state=state)
        order = ModelOrder(event=event, method=method)
        self.model.orders.append(order)
        follow = await self.apply(event)
        if method != "cash":
            (order.attempt_id,) = follow.attempts

    async def settle_attempt(self, order: ModelOrder, success: bool, flag: bool) -> None:
        assert order.attempt_id is not None
        order.attempt_open = False
        if not success:
            await self.service.apply_status(order.attempt_id,
                                            ProviderStatus(Outcome.FAILED, reason="DECLINED"))
            return
        digits = order.payer or order.event.state.payment.payer_phone or ""
        payer = digits.lstrip("+")
        if order.method == "orange_money":
            payer = payer[3:]
        amount = order.event.state.payable_xaf
        self.provider.fail_refunds = flag
        if order.method == "cash":  # switched at the door
            order.method = "mtn_momo"
            if order.delivered:  # the rider had taken cash already: paid twice
                order.captured += amount
                self.expect_refund(order, amount, flag)
                await self.capture(order, amount, payer)
                return
        order.captured = amount
        if order.cancelled:  # a late success: refunded in full at once
            self.expect_refund(order, None, flag)
        await self.capture(order, amount, payer)

    async def capture(self, order: ModelOrder, amount: int, payer: str) -> None:
        assert order.attempt_id is not None
        await self.service.apply_status(order.attempt_id, ProviderStatus(
            Outcome.SUCCEEDED, amount=amount, currency="XAF", payer=payer,
            provider_tx_id="tx"))

    def expect_refund(self, order: ModelOrder, amount: int | None, fails: bool) -> None:
        remaining = order.captured - order.committed_refunds
        value = remaining if amount is None else min(amount, remaining)
        if value <= 0 or order.method == "cash":
            return
        if fails:
            order.failed_refunds += value
        else:
            order.committed_refunds += value

    async def payout(self, n: int, flag: bool) -> None:
        balances = await self.service.balances()
        owed = [(kind, payee, -balances.get(ledger.payee_account(kind, payee), 0))
                for kind, ids in (("store", self.model.stores), ("rider", self.model.riders))
                for payee in ids]
        owed = [o for o in owed if o[2] > 0]
        if not owed:
            return
        kind, payee, amount = owed[n % len(owed)]
        self.provider.fail_transfers = flag
        await self.service.submit_payouts(
            f"batch-{n}-{self.clock.now().timestamp()}",
            [PayoutItem(payee_kind=kind, payee_id=payee, phone="+237677000111",
                        amount_xaf=1 + n % amount)], actor_id=uuid.uuid4())


async def run(ops: list[tuple[str, int, bool]]) -> None:
    # one in-memory database per example (StaticPool: every session shares the connection)
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        clock = FrozenClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
        provider = FakeProvider()
        gateways: dict[Provider, ProviderGateway] = {
            Provider.MTN_MOMO: provider, Provider.ORANGE_MONEY: provider}
        service = PaymentService(
            uow_factory=lambda: PaymentsUoW(service="payments", sessions=sessions,
                                            tables=platform_tables, clock=clock),
            gateways=gateways, clock=clock,
            policy=PaymentPolicy(currencies={"mtn_momo": "XAF", "orange_money": "XAF"}))
        scenario = Scenario(service, provider, clock)
        for op in ops:
            await scenario.step(*op)
        await check(service, scenario.model, engine, provider.paid_out)
    finally:
        await engine.dispose()


async def check(service: PaymentService, model: Model, engine: Any, paid_out: int) -> None:
    async with engine.connect() as conn:
        lines = (await conn.execute(sa.select(
            journal_lines.c.entry_id, journal_lines.c.account,
            journal_lines.c.amount_xaf))).all()
    per_entry: dict[int, int] = defaultdict(int)
    per_account: dict[str, int] = defaultdict(int)
    for entry_id, account, amount in lines:
        assert amount != 0
        per_entry[entry_id] += amount
        per_account[account] += amount
    assert all(total == 0 for total in per_entry.values())  # every entry balances
    balances = await service.balances()
    assert balances == dict(per_account)  # every balance is the sum of its lines

    for account, value in balances.items():
        if account.startswith(("rider_cash:", "provider_fees:")) or account == "cash_office":
            assert value >= 0, (account, value)  # assets and expenses
        if account in (ledger.REFUNDS_PAYABLE, ledger.RIDER_POOL, ledger.IN_TRANSIT):
            assert value <= 0, (account, value)  # liabilities
    # the fake settles every refund and transfer at once: nothing stays in between
    assert balances.get(ledger.REFUNDS_PAYABLE, 0) == 0
    assert balances.get(ledger.IN_TRANSIT, 0) == 0
    for rider in model.riders:
        held = (await service.rider_cash(rider)).cash_in_hand_xaf
        assert balances.get(ledger.rider_cash(rider), 0) == held

    captured = refunded = 0
    for order in model.orders:
        found = await service.order_payment(order.event.entity_id)
        assert found is not None
        record, attempts, _ = found
        captured += record.captured_xaf
        refunded += record.refunded_xaf
        assert record.captured_xaf == order.captured
        if order.attempt_id is not None and order.captured and order.method != "cash":
            (mine,) = [a for a in attempts if a.id == order.attempt_id]
            assert mine.status is AttemptStatus.SUCCEEDED
    # the paid value of the orders not cancelled (net of their refunds, the failed ones
    # counted as decided), plus refunds that failed for good: money operations still owes
    live_paid = sum(o.captured - o.committed_refunds - o.failed_refunds
                    for o in model.orders if not o.cancelled)
    # a later refund of the same order (the cancellation) may have given it back after all
    failed = sum(min(o.failed_refunds, o.captured - o.committed_refunds) for o in model.orders)
    assert captured - refunded == live_paid + failed
    # and the ledger agrees: what customers paid, net of refunds, is held as cash, in
    # clearing (after provider fees) or was paid out to stores and riders
    held = sum(v for a, v in balances.items()
               if a.startswith(("provider_clearing:", "provider_fees:", "rider_cash:"))
               or a == "cash_office")
    owed_and_earned = -sum(v for a, v in balances.items()
                           if a.startswith(("merchant_payable:", "rider_earnings", "platform_")))
    assert held + paid_out == captured - refunded
    assert owed_and_earned + paid_out == captured - refunded


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=1, max_size=25))
def test_ledger_invariants_hold_for_any_sequence(ops: list[tuple[str, int, bool]]) -> None:
    asyncio.run(run(ops))
