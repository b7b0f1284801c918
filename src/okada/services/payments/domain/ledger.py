"""Double-entry journal in whole XAF.

Business rules: every entry balances (debits, positive, equal credits, negative); each entry
has a unique ``reference`` (the provider reference of the money movement), so the same
capture, refund or cash movement can never be booked twice.

Accounts:

- ``provider_clearing:<provider>``: money the provider holds for us (asset).
- ``provider_fees:<provider>``: what the provider charged us on collections (expense).
- ``rider_cash:<rider id>``: cash a rider collected at doors and still holds (asset).
- ``cash_office``: cash remitted by riders to operations (asset).
- ``merchant_payable:<store id>``: what we owe a store (goods minus commission).
- ``rider_earnings:<rider id>``: what we owe a rider (their share of the delivery fee);
  ``rider_earnings_pool`` holds that share for mobile-money orders until delivery names
  the rider.
- ``platform_commission`` / ``platform_delivery_revenue``: the platform's income.
- ``refunds_payable``: refunds decided and not yet paid out.
- ``payouts_in_transit``: settlement transfers decided and not yet confirmed.

The split at capture (mobile money) and at cash collection (see :func:`split`): the goods
part (payable minus delivery fee) goes to the merchant minus the commission
(``commission_bps`` of the goods part); ``rider_share_bps`` of the delivery fee goes to the
rider, the rest of the fee to the platform; a provider fee (``fee_bps`` of the amount) is an
expense against provider clearing. Rounding: every share is floored, so any remainder falls
to the platform (commission, delivery revenue); the provider fee is floored too.

Refunds reverse the split **proportionally** (see :func:`refund_split`): refunding ``r`` of
``C`` captured takes ``floor(part * refunded_after / C) - floor(part * refunded_before / C)``
from the merchant, rider and delivery-revenue lines (cumulative, so refunds of the whole
capture reverse every part exactly), and the rest of ``r`` from the commission (the
platform absorbs rounding). The provider fee is not reversed (providers keep it). A payable
may go below zero when an order is refunded after its payee was paid: the next settlement
nets it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

REFUNDS_PAYABLE = "refunds_payable"
CASH_OFFICE = "cash_office"
COMMISSION = "platform_commission"
DELIVERY_REVENUE = "platform_delivery_revenue"
RIDER_POOL = "rider_earnings_pool"
IN_TRANSIT = "payouts_in_transit"
RIDER_RECEIVABLE_PREFIX = "rider_receivable:"
CASH_WRITE_OFFS = "cash_write_offs"
CASH_OVERAGES = "cash_overages"
UNALLOCATED_CASH = "unallocated_cash"  # cash for an order payments never heard of


def provider_clearing(provider: str) -> str:
    """The clearing account of one mobile-money provider."""
    return f"provider_clearing:{provider}"


def provider_fees(provider: str) -> str:
    """The fee expense account of one mobile-money provider."""
    return f"provider_fees:{provider}"


def rider_cash(rider_id: uuid.UUID) -> str:
    """The cash-in-hand account of one rider."""
    return f"rider_cash:{rider_id}"


def rider_receivable(rider_id: uuid.UUID) -> str:
    """What a rider owes us after a short remittance booked against them."""
    return f"{RIDER_RECEIVABLE_PREFIX}{rider_id}"


def merchant_payable(store_id: uuid.UUID) -> str:
    """What we owe a store."""
    return f"merchant_payable:{store_id}"


def rider_earnings(rider_id: uuid.UUID) -> str:
    """What we owe a rider."""
    return f"rider_earnings:{rider_id}"


@dataclass(frozen=True, slots=True)
class SplitRates:
    """Commission and shares in basis points (1000 = 10 %)."""

    commission_bps: int = 1000
    rider_share_bps: int = 8000
    fee_bps: tuple[tuple[str, int], ...] = (("mtn_momo", 100), ("orange_money", 150))

    def fee_for(self, provider: str) -> int:
        """The provider's fee rate in basis points (0 if not configured)."""
        return dict(self.fee_bps).get(provider, 0)


@dataclass(frozen=True, slots=True)
class Split:
    """How one collected amount divides (every part ≥ 0, the four credits sum to amount)."""

    merchant: int
    commission: int
    rider: int
    delivery_revenue: int

    @property
    def total(self) -> int:
        """The collected amount."""
        return self.merchant + self.commission + self.rider + self.delivery_revenue


def split(amount: int, delivery_fee: int, rates: SplitRates) -> Split:
    """Divide ``amount`` (the order's payable) between merchant, platform and rider.

    The delivery fee counts only up to the amount (a partly fulfilled order still pays its
    delivery first); shares are floored so remainders go to the platform.
    """
    fee = max(0, min(delivery_fee, amount))
    goods = amount - fee
    commission = goods - goods * (10_000 - rates.commission_bps) // 10_000
    rider = fee * rates.rider_share_bps // 10_000
    return Split(merchant=goods - commission, commission=commission, rider=rider,
                 delivery_revenue=fee - rider)


def refund_split(parts: Split, before: int, amount: int) -> Split:
    """The part of each share a refund of ``amount`` reverses, ``before`` already refunded."""
    total = parts.total
    after = min(total, before + amount)

    def take(part: int) -> int:
        return part * after // total - part * before // total if total else 0

    merchant, rider, delivery = take(parts.merchant), take(parts.rider), take(
        parts.delivery_revenue)
    return Split(merchant=merchant, commission=amount - merchant - rider - delivery,
                 rider=rider, delivery_revenue=delivery)


def _credits(parts: Split, store_id: uuid.UUID, rider_account: str) -> list[tuple[str, int]]:
    return [(merchant_payable(store_id), -parts.merchant), (COMMISSION, -parts.commission),
            (rider_account, -parts.rider), (DELIVERY_REVENUE, -parts.delivery_revenue)]


def _entry(reference: str, kind: str, order_id: uuid.UUID | None,
           lines: list[tuple[str, int]]) -> JournalEntry:
    merged: dict[str, int] = {}
    for account, amount in lines:
        merged[account] = merged.get(account, 0) + amount
    return JournalEntry(reference, kind, order_id,
                        tuple((a, v) for a, v in merged.items() if v != 0))


class UnbalancedEntry(ValueError):
    """A journal entry whose lines do not sum to zero (a programming error)."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One balanced movement: ``lines`` are (account, signed amount) pairs."""

    reference: str
    kind: str
    order_id: uuid.UUID | None
    lines: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if len(self.lines) < 2 or sum(a for _, a in self.lines) != 0:
            raise UnbalancedEntry(self.reference)
        if any(a == 0 for _, a in self.lines):
            raise UnbalancedEntry(self.reference)


def capture(reference: str, order_id: uuid.UUID, provider: str, amount: int, *,
            store_id: uuid.UUID, delivery_fee: int, rates: SplitRates) -> JournalEntry:
    """The provider collected ``amount`` for an order: split it, book the provider fee."""
    fee = amount * rates.fee_for(provider) // 10_000
    lines = [(provider_clearing(provider), amount - fee), (provider_fees(provider), fee)]
    lines += _credits(split(amount, delivery_fee, rates), store_id, RIDER_POOL)
    return _entry(reference, "capture", order_id, lines)


def refund_decided(reference: str, order_id: uuid.UUID, amount: int, *, captured: int,
                   refunded_before: int, store_id: uuid.UUID, delivery_fee: int,
                   rates: SplitRates, rider_account: str = RIDER_POOL) -> JournalEntry:
    """A refund was decided: the split is reversed proportionally, the debt appears."""
    parts = refund_split(split(captured, delivery_fee, rates), refunded_before, amount)
    lines = [(a, -v) for a, v in _credits(parts, store_id, rider_account)]
    return _entry(reference, "refund_decided", order_id, [*lines, (REFUNDS_PAYABLE, -amount)])


def reversal(reference: str, kind: str, original: JournalEntry) -> JournalEntry:
    """The exact opposite of ``original`` (a decided refund that failed for good)."""
    return JournalEntry(reference, kind, original.order_id,
                        tuple((a, -v) for a, v in original.lines))


def refund_paid(reference: str, order_id: uuid.UUID, provider: str, amount: int) -> JournalEntry:
    """The provider paid the refund out of our clearing balance."""
    return JournalEntry(reference, "refund_paid", order_id,
                        ((REFUNDS_PAYABLE, amount), (provider_clearing(provider), -amount)))


def cash_collected(reference: str, order_id: uuid.UUID, rider_id: uuid.UUID, amount: int, *,
                   store_id: uuid.UUID, delivery_fee: int, rates: SplitRates) -> JournalEntry:
    """A rider took cash at the door: split it like a capture (no provider fee)."""
    lines = [(rider_cash(rider_id), amount)]
    lines += _credits(split(amount, delivery_fee, rates), store_id, rider_earnings(rider_id))
    return _entry(reference, "cash_collected", order_id, lines)


def rider_assigned(reference: str, order_id: uuid.UUID, rider_id: uuid.UUID,
                   amount: int) -> JournalEntry:
    """Delivery named the rider of a prepaid order: their share leaves the pool."""
    return JournalEntry(reference, "rider_assigned", order_id,
                        ((RIDER_POOL, amount), (rider_earnings(rider_id), -amount)))


def cash_remitted(reference: str, rider_id: uuid.UUID, amount: int) -> JournalEntry:
    """A rider handed cash to operations."""
    return JournalEntry(reference, "cash_remitted", None,
                        ((CASH_OFFICE, amount), (rider_cash(rider_id), -amount)))


def cash_remitted_with_discrepancy(reference: str, rider_id: uuid.UUID, expected: int,
                                   counted: int, booking: str) -> JournalEntry:
    """A rider handed over ``expected`` of their cash and operations counted ``counted``.

    The rider's cash in hand drops by ``expected``; the office gains what was counted. A
    shortfall is owed by the rider (``rider_receivable``) or written off as an expense
    (``write_off``); an excess is an overage (income held until explained).
    """
    lines = [(CASH_OFFICE, counted), (rider_cash(rider_id), -expected)]
    gap = expected - counted
    if gap > 0:
        lines.append((rider_receivable(rider_id) if booking == "rider_receivable"
                      else CASH_WRITE_OFFS, gap))
    elif gap < 0:
        lines.append((CASH_OVERAGES, gap))
    return _entry(reference, "cash_remitted", None, lines)


def payee_account(kind: str, payee_id: uuid.UUID) -> str:
    """The payable account of a store (merchant settlement) or a rider (earnings)."""
    return merchant_payable(payee_id) if kind == "store" else rider_earnings(payee_id)


def payout_decided(reference: str, kind: str, payee_id: uuid.UUID, amount: int) -> JournalEntry:
    """A settlement batch pays ``amount`` of a store's or rider's payable (in transit)."""
    return JournalEntry(reference, "payout_decided", None,
                        ((payee_account(kind, payee_id), amount), (IN_TRANSIT, -amount)))


def payout_paid(reference: str, kind: str, payee_id: uuid.UUID, provider: str,
                amount: int) -> JournalEntry:
    """The provider transferred the payout from our clearing balance."""
    return JournalEntry(reference, "payout_paid", None,
                        ((IN_TRANSIT, amount), (provider_clearing(provider), -amount)))


def payout_cancelled(reference: str, kind: str, payee_id: uuid.UUID,
                     amount: int) -> JournalEntry:
    """A payout failed for good: the payee is owed the amount again (next batch)."""
    return JournalEntry(reference, "payout_cancelled", None,
                        ((IN_TRANSIT, amount), (payee_account(kind, payee_id), -amount)))
