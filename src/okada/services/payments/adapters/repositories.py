"""SQLAlchemy Core repository and the payments unit of work.

Every state change is one guarded statement valid on PostgreSQL and SQLite: transitions are
compare-and-swap updates (``WHERE status IN (...)``), inserts that must happen once use
``ON CONFLICT DO NOTHING`` on a unique key, counters move with ``x = x + :delta``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.services.payments.adapters.orm import (
    attempts,
    cash_discrepancies,
    cash_movements,
    journal_entries,
    journal_lines,
    payments,
    payouts,
    refunds,
    rider_cash,
    users,
)
from okada.services.payments.application.model import (
    CashDiscrepancy,
    OrderSnapshot,
    PaymentRecord,
    PaymentStatus,
    PayoutRecord,
    PhoneRecord,
    RefundRecord,
    RiderCash,
)
from okada.services.payments.domain.attempts import (
    Attempt,
    AttemptStatus,
    Provider,
)
from okada.services.payments.domain.ledger import JournalEntry

CHECKED_STATUSES = ("created", "pending", "expired")


def _payment(row: Any) -> PaymentRecord:
    return PaymentRecord(
        order_id=row.order_id, payment_id=row.payment_id, customer_id=row.customer_id,
        store_id=row.store_id, method=row.method, provider=row.provider, status=row.status,
        amount_xaf=int(row.amount_xaf), captured_xaf=int(row.captured_xaf),
        refunded_xaf=int(row.refunded_xaf), payer_phone=row.payer_phone,
        failure_reason=row.failure_reason, version=row.version, order_status=row.order_status,
        order_version=row.order_version, updated_at=row.updated_at,
        delivery_fee_xaf=int(row.delivery_fee_xaf), rider_id=row.rider_id,
    )


def _attempt(row: Any) -> Attempt:
    return Attempt(
        id=row.id, order_id=row.order_id, provider=Provider(row.provider),
        status=AttemptStatus(row.status), amount_xaf=int(row.amount_xaf),
        payer_phone=row.payer_phone, callback_token=row.callback_token,
        created_at=row.created_at, expires_at=row.expires_at, provider_ref=row.provider_ref,
        provider_tx_id=row.provider_tx_id, reason=row.reason, checks=row.checks,
        submitted=row.submitted, next_check_at=row.next_check_at,
    )


def _payout(row: Any) -> PayoutRecord:
    return PayoutRecord(
        id=row.id, batch_id=row.batch_id, payee_kind=row.payee_kind, payee_id=row.payee_id,
        phone=row.phone, amount_xaf=int(row.amount_xaf), status=row.status, reason=row.reason,
        checks=row.checks, submitted=row.submitted, created_at=row.created_at,
    )


def _refund(row: Any) -> RefundRecord:
    return RefundRecord(
        id=row.id, order_id=row.order_id, cause=row.cause, attempt_id=row.attempt_id,
        provider=row.provider, amount_xaf=int(row.amount_xaf), status=row.status,
        reason=row.reason, checks=row.checks, submitted=row.submitted,
        created_at=row.created_at,
    )


class SqlPaymentsRepository:
    """All payments tables within one session."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    def _insert(self, table: Any) -> Any:
        dialect = self._s.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)

    # -- payments ----------------------------------------------------------------------

    async def upsert_order(self, order: OrderSnapshot, now: dt.datetime) -> PaymentRecord:
        await self._s.execute(
            self._insert(payments).values(
                order_id=order.order_id, payment_id=uuid.uuid4(),
                customer_id=order.customer_id, store_id=order.store_id, method=order.method,
                provider=None, status=PaymentStatus.NEW.value, amount_xaf=order.payable_xaf,
                captured_xaf=0, refunded_xaf=0, payer_phone=order.payer_phone,
                failure_reason=None, version=0, order_status=order.status,
                order_version=order.version, created_at=now, updated_at=now,
                delivery_fee_xaf=order.delivery_fee_xaf,
            ).on_conflict_do_nothing(index_elements=["order_id"])
        )
        # versions not newer than what we hold are ignored (events may arrive out of order)
        await self._s.execute(
            update(payments)
            .where(payments.c.order_id == order.order_id,
                   payments.c.order_version < order.version)
            .values(order_status=order.status, order_version=order.version)
        )
        record = await self.get_payment(order.order_id)
        assert record is not None
        return record

    async def get_payment(self, order_id: uuid.UUID) -> PaymentRecord | None:
        row = (await self._s.execute(
            select(payments).where(payments.c.order_id == order_id))).first()
        return None if row is None else _payment(row)

    async def change_payment(self, order_id: uuid.UUID, now: dt.datetime, *,
                             captured_delta: int = 0, refunded_delta: int = 0,
                             expect: frozenset[str] | None = None, bump: bool = True,
                             **values: Any) -> PaymentRecord | None:
        statement = update(payments).where(payments.c.order_id == order_id)
        if expect is not None:
            statement = statement.where(payments.c.status.in_([str(s) for s in expect]))
        changes: dict[str, Any] = {
            k: (str(v) if isinstance(v, PaymentStatus) else v) for k, v in values.items()}
        if captured_delta:
            changes["captured_xaf"] = payments.c.captured_xaf + captured_delta
        if refunded_delta:
            changes["refunded_xaf"] = payments.c.refunded_xaf + refunded_delta
        if bump:
            changes["version"] = payments.c.version + 1
        changes["updated_at"] = now
        row = (await self._s.execute(statement.values(**changes).returning(*payments.c))).first()
        return None if row is None else _payment(row)

    # -- attempts ----------------------------------------------------------------------

    async def insert_attempt(self, attempt: Attempt, seq: int) -> bool:
        result = await self._s.execute(
            self._insert(attempts).values(
                id=attempt.id, order_id=attempt.order_id, seq=seq,
                provider=attempt.provider.value, status=attempt.status.value,
                amount_xaf=attempt.amount_xaf, payer_phone=attempt.payer_phone,
                callback_token=attempt.callback_token, provider_ref=attempt.provider_ref,
                provider_tx_id=None, reason=None, raw_status=None, checks=0, submitted=0,
                next_check_at=attempt.next_check_at, created_at=attempt.created_at,
                expires_at=attempt.expires_at, updated_at=attempt.created_at,
            ).on_conflict_do_nothing(index_elements=["order_id", "seq"])
        )
        return rows_affected(result) == 1

    async def get_attempt(self, attempt_id: uuid.UUID) -> Attempt | None:
        row = (await self._s.execute(select(attempts).where(attempts.c.id == attempt_id))).first()
        return None if row is None else _attempt(row)

    async def attempt_by_token(self, token: str) -> Attempt | None:
        row = (await self._s.execute(
            select(attempts).where(attempts.c.callback_token == token))).first()
        return None if row is None else _attempt(row)

    async def attempts_of(self, order_id: uuid.UUID) -> list[Attempt]:
        rows = await self._s.execute(
            select(attempts).where(attempts.c.order_id == order_id).order_by(attempts.c.seq))
        return [_attempt(r) for r in rows]

    async def claim_attempt(self, attempt_id: uuid.UUID, now: dt.datetime,
                            lease_until: dt.datetime) -> bool:
        result = await self._s.execute(
            update(attempts)
            .where(attempts.c.id == attempt_id, attempts.c.status.in_(CHECKED_STATUSES),
                   attempts.c.next_check_at <= now)
            .values(next_check_at=lease_until)
        )
        return rows_affected(result) == 1

    async def transition_attempt(self, attempt_id: uuid.UUID, allowed: frozenset[AttemptStatus],
                                 to: AttemptStatus, now: dt.datetime, **values: Any) -> bool:
        result = await self._s.execute(
            update(attempts)
            .where(attempts.c.id == attempt_id,
                   attempts.c.status.in_([s.value for s in allowed]))
            .values(status=to.value, updated_at=now, **values)
        )
        return rows_affected(result) == 1

    async def update_attempt(self, attempt_id: uuid.UUID, now: dt.datetime,
                             **values: Any) -> None:
        await self._s.execute(
            update(attempts).where(attempts.c.id == attempt_id).values(updated_at=now, **values))

    async def due_attempts(self, now: dt.datetime, limit: int) -> list[uuid.UUID]:
        rows = await self._s.execute(
            select(attempts.c.id)
            .where(attempts.c.next_check_at <= now, attempts.c.status.in_(CHECKED_STATUSES))
            .order_by(attempts.c.next_check_at).limit(limit))
        return [r.id for r in rows]

    async def recent_requests(self, payer_phone: str, since: dt.datetime) -> int:
        count = await self._s.scalar(
            select(func.count()).select_from(attempts)
            .where(attempts.c.payer_phone == payer_phone, attempts.c.created_at >= since))
        return int(count or 0)

    # -- refunds -----------------------------------------------------------------------

    async def insert_refund(self, refund: RefundRecord, now: dt.datetime) -> bool:
        result = await self._s.execute(
            self._insert(refunds).values(
                id=refund.id, order_id=refund.order_id, cause=refund.cause,
                attempt_id=refund.attempt_id, provider=refund.provider,
                amount_xaf=refund.amount_xaf, status=refund.status, reason=None, checks=0,
                submitted=0, next_check_at=now, created_at=now, updated_at=now,
            ).on_conflict_do_nothing(index_elements=["order_id", "cause"])
        )
        return rows_affected(result) == 1

    async def get_refund(self, refund_id: uuid.UUID) -> RefundRecord | None:
        row = (await self._s.execute(select(refunds).where(refunds.c.id == refund_id))).first()
        return None if row is None else _refund(row)

    async def refunds_of(self, order_id: uuid.UUID) -> list[RefundRecord]:
        rows = await self._s.execute(
            select(refunds).where(refunds.c.order_id == order_id)
            .order_by(refunds.c.created_at, refunds.c.id))
        return [_refund(r) for r in rows]

    async def claim_refund(self, refund_id: uuid.UUID, now: dt.datetime,
                           lease_until: dt.datetime) -> bool:
        result = await self._s.execute(
            update(refunds)
            .where(refunds.c.id == refund_id, refunds.c.status.in_(("created", "pending")),
                   refunds.c.next_check_at <= now)
            .values(next_check_at=lease_until))
        return rows_affected(result) == 1

    async def transition_refund(self, refund_id: uuid.UUID, allowed: frozenset[str], to: str,
                                now: dt.datetime, **values: Any) -> bool:
        result = await self._s.execute(
            update(refunds)
            .where(refunds.c.id == refund_id, refunds.c.status.in_([str(s) for s in allowed]))
            .values(status=str(to), updated_at=now, **values))
        return rows_affected(result) == 1

    async def update_refund(self, refund_id: uuid.UUID, now: dt.datetime,
                            **values: Any) -> None:
        await self._s.execute(
            update(refunds).where(refunds.c.id == refund_id).values(updated_at=now, **values))

    async def due_refunds(self, now: dt.datetime, limit: int) -> list[uuid.UUID]:
        rows = await self._s.execute(
            select(refunds.c.id)
            .where(refunds.c.next_check_at <= now, refunds.c.status.in_(("created", "pending")))
            .order_by(refunds.c.next_check_at).limit(limit))
        return [r.id for r in rows]

    # -- payouts -----------------------------------------------------------------------

    async def insert_payout(self, payout: PayoutRecord, now: dt.datetime,
                            actor_id: uuid.UUID | None) -> bool:
        result = await self._s.execute(
            self._insert(payouts).values(
                id=payout.id, batch_id=payout.batch_id, payee_kind=payout.payee_kind,
                payee_id=payout.payee_id, phone=payout.phone, amount_xaf=payout.amount_xaf,
                status=payout.status, reason=None, checks=0, submitted=0, next_check_at=now,
                actor_id=actor_id, created_at=now, updated_at=now,
            ).on_conflict_do_nothing(index_elements=["batch_id", "payee_kind", "payee_id"]))
        return rows_affected(result) == 1

    async def get_payout(self, payout_id: uuid.UUID) -> PayoutRecord | None:
        row = (await self._s.execute(select(payouts).where(payouts.c.id == payout_id))).first()
        return None if row is None else _payout(row)

    async def payouts_of(self, batch_id: str) -> list[PayoutRecord]:
        rows = await self._s.execute(
            select(payouts).where(payouts.c.batch_id == batch_id)
            .order_by(payouts.c.payee_kind, payouts.c.payee_id))
        return [_payout(r) for r in rows]

    async def claim_payout(self, payout_id: uuid.UUID, now: dt.datetime,
                           lease_until: dt.datetime) -> bool:
        result = await self._s.execute(
            update(payouts)
            .where(payouts.c.id == payout_id, payouts.c.status.in_(("created", "pending")),
                   payouts.c.next_check_at <= now)
            .values(next_check_at=lease_until))
        return rows_affected(result) == 1

    async def transition_payout(self, payout_id: uuid.UUID, allowed: frozenset[str], to: str,
                                now: dt.datetime, **values: Any) -> bool:
        result = await self._s.execute(
            update(payouts)
            .where(payouts.c.id == payout_id, payouts.c.status.in_([str(s) for s in allowed]))
            .values(status=str(to), updated_at=now, **values))
        return rows_affected(result) == 1

    async def update_payout(self, payout_id: uuid.UUID, now: dt.datetime,
                            **values: Any) -> None:
        await self._s.execute(
            update(payouts).where(payouts.c.id == payout_id).values(updated_at=now, **values))

    async def due_payouts(self, now: dt.datetime, limit: int) -> list[uuid.UUID]:
        rows = await self._s.execute(
            select(payouts.c.id)
            .where(payouts.c.next_check_at <= now, payouts.c.status.in_(("created", "pending")))
            .order_by(payouts.c.next_check_at).limit(limit))
        return [r.id for r in rows]

    # -- ledger ------------------------------------------------------------------------

    async def post(self, entry: JournalEntry, now: dt.datetime) -> bool:
        result = await self._s.execute(
            self._insert(journal_entries).values(
                reference=entry.reference, kind=entry.kind, order_id=entry.order_id,
                created_at=now,
            ).on_conflict_do_nothing(index_elements=["reference"]).returning(journal_entries.c.id)
        )
        entry_id = result.scalar()
        if entry_id is None:
            return False
        await self._s.execute(insert(journal_lines), [
            {"entry_id": entry_id, "line_no": n, "account": account, "amount_xaf": amount}
            for n, (account, amount) in enumerate(entry.lines, start=1)
        ])
        return True

    async def entry(self, reference: str) -> JournalEntry | None:
        head = (await self._s.execute(select(journal_entries).where(
            journal_entries.c.reference == reference))).first()
        if head is None:
            return None
        rows = await self._s.execute(
            select(journal_lines.c.account, journal_lines.c.amount_xaf)
            .where(journal_lines.c.entry_id == head.id).order_by(journal_lines.c.line_no))
        return JournalEntry(head.reference, head.kind, head.order_id,
                            tuple((r[0], int(r[1])) for r in rows))

    async def order_account_balance(self, order_id: uuid.UUID, account: str) -> int:
        total = (await self._s.execute(
            select(func.coalesce(func.sum(journal_lines.c.amount_xaf), 0))
            .select_from(journal_lines.join(
                journal_entries, journal_entries.c.id == journal_lines.c.entry_id))
            .where(journal_entries.c.order_id == order_id,
                   journal_lines.c.account == account))).scalar()
        return int(total or 0)

    async def balances(self) -> dict[str, int]:
        rows = await self._s.execute(
            select(journal_lines.c.account, func.sum(journal_lines.c.amount_xaf))
            .group_by(journal_lines.c.account))
        return {r[0]: int(r[1]) for r in rows}

    # -- users replica -----------------------------------------------------------------

    async def save_user(self, user_id: uuid.UUID, version: int,
                        phones: list[PhoneRecord]) -> None:
        data = [{"e164": p.e164, "operator": p.operator, "verified": p.verified,
                 "primary": p.primary} for p in phones]
        await self._s.execute(
            self._insert(users).values(user_id=user_id, version=0, phones=[])
            .on_conflict_do_nothing(index_elements=["user_id"]))
        await self._s.execute(
            update(users).where(users.c.user_id == user_id, users.c.version < version)
            .values(version=version, phones=data))

    async def user_phones(self, user_id: uuid.UUID) -> list[PhoneRecord] | None:
        row = (await self._s.execute(
            select(users.c.phones).where(users.c.user_id == user_id))).first()
        if row is None:
            return None
        return [PhoneRecord(str(p["e164"]), p.get("operator"), bool(p.get("verified")),
                            bool(p.get("primary"))) for p in row.phones]

    # -- rider cash --------------------------------------------------------------------

    async def record_cash(self, reference: str, rider_id: uuid.UUID, order_id: uuid.UUID | None,
                          kind: str, amount: int, now: dt.datetime, note: str | None = None,
                          actor_id: uuid.UUID | None = None) -> bool:
        result = await self._s.execute(
            self._insert(cash_movements).values(
                id=uuid.uuid4(), reference=reference, rider_id=rider_id, order_id=order_id,
                kind=kind, amount_xaf=amount, note=note, actor_id=actor_id, created_at=now,
            ).on_conflict_do_nothing(index_elements=["reference"]))
        return rows_affected(result) == 1

    async def change_cash(self, rider_id: uuid.UUID, delta: int,
                          now: dt.datetime) -> RiderCash | None:
        await self._s.execute(
            self._insert(rider_cash).values(rider_id=rider_id, cash_in_hand_xaf=0, version=0,
                                            updated_at=now)
            .on_conflict_do_nothing(index_elements=["rider_id"]))
        statement = update(rider_cash).where(rider_cash.c.rider_id == rider_id)
        if delta < 0:  # never below zero: the guard and the write are one statement
            statement = statement.where(rider_cash.c.cash_in_hand_xaf >= -delta)
        row = (await self._s.execute(
            statement.values(cash_in_hand_xaf=rider_cash.c.cash_in_hand_xaf + delta,
                    version=rider_cash.c.version + 1, updated_at=now)
            .returning(*rider_cash.c))).first()
        if row is None:
            return None
        return RiderCash(row.rider_id, int(row.cash_in_hand_xaf), row.version, row.updated_at)

    async def rider_cash(self, rider_id: uuid.UUID) -> RiderCash | None:
        row = (await self._s.execute(
            select(rider_cash).where(rider_cash.c.rider_id == rider_id))).first()
        if row is None:
            return None
        return RiderCash(row.rider_id, int(row.cash_in_hand_xaf), row.version, row.updated_at)


    async def record_discrepancy(self, discrepancy: CashDiscrepancy) -> bool:
        d = discrepancy
        result = await self._s.execute(
            self._insert(cash_discrepancies).values(
                id=d.id, reference=d.reference, rider_id=d.rider_id,
                expected_xaf=d.expected_xaf, counted_xaf=d.counted_xaf,
                discrepancy_xaf=d.discrepancy_xaf, booking=d.booking, reason=d.reason,
                actor_id=d.actor_id, created_at=d.created_at,
            ).on_conflict_do_nothing(index_elements=["reference"]))
        return rows_affected(result) == 1

    async def discrepancies(self, rider_id: uuid.UUID | None,
                            limit: int) -> list[CashDiscrepancy]:
        statement = select(cash_discrepancies)
        if rider_id is not None:
            statement = statement.where(cash_discrepancies.c.rider_id == rider_id)
        rows = await self._s.execute(statement.order_by(
            cash_discrepancies.c.created_at.desc(), cash_discrepancies.c.id).limit(limit))
        return [CashDiscrepancy(
            id=r.id, reference=r.reference, rider_id=r.rider_id,
            expected_xaf=int(r.expected_xaf), counted_xaf=int(r.counted_xaf),
            discrepancy_xaf=int(r.discrepancy_xaf), booking=r.booking, reason=r.reason,
            actor_id=r.actor_id, created_at=r.created_at) for r in rows]


class PaymentsUoW(SqlUnitOfWork):
    """A unit of work exposing the payments repository."""

    @property
    def repo(self) -> SqlPaymentsRepository:
        """The repository bound to this transaction's session."""
        return SqlPaymentsRepository(self.session)
