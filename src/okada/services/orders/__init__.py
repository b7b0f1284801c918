"""Orders: checkout, the event-sourced order lifecycle, its saga and local read models.

The saga is orchestrated by orders for stock and choreographed with payments for money.
Stock has one owner whose every operation is idempotent on the reservation id, so orders
drives it step by step from due-time rows (release, confirm, extend, return, re-hold) and
always knows which compensation is still owed. Money lives with payments and the providers,
whose verdicts arrive minutes later as hints: payments reacts to ``orders.v1`` events and
orders reacts to ``PaymentCaptured`` / ``PaymentFailed``, so neither waits on the other, a
provider timeout stays an unknown outcome inside payments, and orders' own expiry backstop
ends every unpaid order even when payments is down. See ``application/saga.py``.
"""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.orders.bootstrap import build

service = ServiceSpec(name="orders", build=build, migrations=Path(__file__).parent / "migrations")
