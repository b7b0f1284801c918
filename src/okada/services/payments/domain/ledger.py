"""Double-entry journal in whole XAF.

Business rules: every entry balances (debits, positive, equal credits, negative); each entry
has a unique ``reference`` (the provider reference of the money movement), so the same
capture, refund or cash movement can never be booked twice.

Accounts:

- ``provider_clearing:<provider>``: money the provider holds for us (asset).
- ``okada_revenue``: what customers paid for orders, net of refunds (the platform's
  commission and the merchant payable are split from it at settlement).
- ``refunds_payable``: refunds decided and not yet paid out.
- ``rider_cash:<rider id>``: cash a rider collected at doors and still holds (asset).
- ``cash_office``: cash remitted by riders to operations (asset).
- ``merchant_payable:<store id>`` / ``rider_earnings:<rider id>``: what a settlement batch
  owes a store or a rider until the MoMo transfer is confirmed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

REVENUE = "okada_revenue"
REFUNDS_PAYABLE = "refunds_payable"
CASH_OFFICE = "cash_office"


def provider_clearing(provider: str) -> str:
    """The clearing account of one mobile-money provider."""
    return f"provider_clearing:{provider}"


def rider_cash(rider_id: uuid.UUID) -> str:
    """The cash-in-hand account of one rider."""
    return f"rider_cash:{rider_id}"


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


def capture(reference: str, order_id: uuid.UUID, provider: str, amount: int) -> JournalEntry:
    """The provider collected ``amount`` for an order."""
    return JournalEntry(reference, "capture", order_id,
                        ((provider_clearing(provider), amount), (REVENUE, -amount)))


def refund_decided(reference: str, order_id: uuid.UUID, amount: int) -> JournalEntry:
    """A refund was decided: revenue drops, the debt to the customer appears."""
    return JournalEntry(reference, "refund_decided", order_id,
                        ((REVENUE, amount), (REFUNDS_PAYABLE, -amount)))


def refund_paid(reference: str, order_id: uuid.UUID, provider: str, amount: int) -> JournalEntry:
    """The provider paid the refund out of our clearing balance."""
    return JournalEntry(reference, "refund_paid", order_id,
                        ((REFUNDS_PAYABLE, amount), (provider_clearing(provider), -amount)))


def refund_cancelled(reference: str, order_id: uuid.UUID, amount: int) -> JournalEntry:
    """A decided refund failed for good: the money is still ours (operations follows up)."""
    return JournalEntry(reference, "refund_cancelled", order_id,
                        ((REFUNDS_PAYABLE, amount), (REVENUE, -amount)))


def cash_collected(reference: str, order_id: uuid.UUID, rider_id: uuid.UUID,
                   amount: int) -> JournalEntry:
    """A rider took cash at the door."""
    return JournalEntry(reference, "cash_collected", order_id,
                        ((rider_cash(rider_id), amount), (REVENUE, -amount)))


def cash_remitted(reference: str, rider_id: uuid.UUID, amount: int) -> JournalEntry:
    """A rider handed cash to operations."""
    return JournalEntry(reference, "cash_remitted", None,
                        ((CASH_OFFICE, amount), (rider_cash(rider_id), -amount)))


def payee_account(kind: str, payee_id: uuid.UUID) -> str:
    """The payable account of a store (merchant settlement) or a rider (earnings)."""
    return f"merchant_payable:{payee_id}" if kind == "store" else f"rider_earnings:{payee_id}"


def payout_decided(reference: str, kind: str, payee_id: uuid.UUID, amount: int) -> JournalEntry:
    """A settlement batch owes ``amount`` to a store or a rider."""
    return JournalEntry(reference, "payout_decided", None,
                        ((REVENUE, amount), (payee_account(kind, payee_id), -amount)))


def payout_paid(reference: str, kind: str, payee_id: uuid.UUID, provider: str,
                amount: int) -> JournalEntry:
    """The provider transferred the payout from our clearing balance."""
    return JournalEntry(reference, "payout_paid", None,
                        ((payee_account(kind, payee_id), amount),
                         (provider_clearing(provider), -amount)))


def payout_cancelled(reference: str, kind: str, payee_id: uuid.UUID,
                     amount: int) -> JournalEntry:
    """A payout failed for good: the debt is cancelled until the next batch."""
    return JournalEntry(reference, "payout_cancelled", None,
                        ((payee_account(kind, payee_id), amount), (REVENUE, -amount)))
