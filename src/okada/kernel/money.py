"""Money in Central African CFA francs (XAF), which has no minor unit."""

from __future__ import annotations

from dataclasses import dataclass

CURRENCY = "XAF"


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of XAF as a whole number of francs.

    Business rules: amounts are integers (XAF has no centimes in use); they may be negative
    only as ledger movements, never as prices.
    """

    amount: int

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("XAF amounts are whole numbers of francs")

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + other.amount)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - other.amount)

    def times(self, quantity: int) -> Money:
        """Return the amount for ``quantity`` units."""
        return Money(self.amount * quantity)
