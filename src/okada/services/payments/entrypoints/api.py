"""Payments HTTP API: provider callbacks, payment views, method selection, rider cash."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Request

from okada.contracts.payments.v1 import CashLedgerState
from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.problems import problem_responses
from okada.kernel.authz import Principal, Role, require_role
from okada.kernel.errors import OkadaError
from okada.services.payments.application.model import PaymentRecord, PayoutRecord
from okada.services.payments.application.payments import PaymentService, PayoutItem
from okada.services.payments.domain.attempts import Attempt, Provider
from okada.services.payments.domain.errors import PaymentNotFound
from okada.services.payments.domain.methods import mask
from okada.services.payments.entrypoints.schemas import (
    AttemptRead,
    BalancesRead,
    CallbackAck,
    CashRead,
    DiscrepanciesRead,
    DiscrepancyRead,
    MethodRead,
    MethodResolve,
    OrderPaymentRead,
    PayoutBatchCreate,
    PayoutBatchRead,
    PayoutRead,
    RefundRead,
    RemittanceCreate,
    SwitchCreate,
    SwitchRead,
)

MAX_CALLBACK_BYTES = 65_536


def may_see(principal: Principal, record: PaymentRecord) -> bool:
    """The order's customer, staff of its store, operations and other services."""
    if principal.is_staff or principal.has(Role.SERVICE):
        return True
    if principal.user_id == record.customer_id:
        return True
    return principal.has(Role.MERCHANT_STAFF) and record.store_id in principal.store_ids


async def read_callback_body(request: Request) -> None:
    """Validate a callback body: empty or a JSON object (its content is never trusted)."""
    raw = await request.body()
    if len(raw) > MAX_CALLBACK_BYTES:
        raise OkadaError("invalid_request")
    if not raw.strip():
        return
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OkadaError("invalid_request") from None
    if not isinstance(body, dict):
        raise OkadaError("invalid_request")


def attempt_read(a: Attempt) -> AttemptRead:
    """Public view of an attempt (number masked)."""
    return AttemptRead(id=a.id, provider=a.provider.value, status=a.status.value,
                       amount_xaf=a.amount_xaf, payer_phone_masked=mask(a.payer_phone),
                       reason=a.reason, created_at=a.created_at, expires_at=a.expires_at)


def batch_read(batch_id: str, items: list[PayoutRecord]) -> PayoutBatchRead:
    """Public view of a settlement batch (numbers masked)."""
    return PayoutBatchRead(batch_id=batch_id, items=[
        PayoutRead(id=p.id, payee_kind=p.payee_kind, payee_id=p.payee_id,
                   phone_masked=mask(p.phone), amount_xaf=p.amount_xaf, status=p.status,
                   reason=p.reason) for p in items])


def cash_read(state: CashLedgerState) -> CashRead:
    """Public view of a rider's cash ledger state."""
    return CashRead(rider_id=state.rider_id, cash_in_hand_xaf=state.cash_in_hand_xaf,
                    float_limit_xaf=state.float_limit_xaf,
                    over_limit=state.cash_in_hand_xaf >= state.float_limit_xaf,
                    updated_at=state.updated_at)


def make_router(service: PaymentService) -> APIRouter:
    """Build the payments routes around the application service."""
    router = APIRouter(tags=["payments"])

    async def callback(provider: Provider, token: str, request: Request) -> CallbackAck:
        await read_callback_body(request)
        await service.handle_callback(provider, token)
        return CallbackAck()

    @router.put("/v1/payments/callbacks/mtn-momo/{token}", response_model=CallbackAck,
                responses=problem_responses(400, 413))
    async def momo_callback_put(token: str, request: Request) -> CallbackAck:
        """MTN MoMo callback (a hint): the provider's status API decides, never the body.

        Always 200 for a well-formed body, whether or not the token names an attempt.
        """
        return await callback(Provider.MTN_MOMO, token, request)

    @router.post("/v1/payments/callbacks/mtn-momo/{token}", response_model=CallbackAck,
                 responses=problem_responses(400, 413))
    async def momo_callback_post(token: str, request: Request) -> CallbackAck:
        """MTN MoMo callback sent with POST (the API uses either method)."""
        return await callback(Provider.MTN_MOMO, token, request)

    @router.post("/v1/payments/callbacks/orange-money/{token}", response_model=CallbackAck,
                 responses=problem_responses(400, 413))
    async def orange_callback(token: str, request: Request) -> CallbackAck:
        """Orange Money notification (a hint): re-queried with ``paymentstatus``."""
        return await callback(Provider.ORANGE_MONEY, token, request)

    @router.get("/v1/payments/orders/{order_id}", response_model=OrderPaymentRead,
                responses=problem_responses(401, 404, 422))
    async def order_payment(order_id: uuid.UUID, principal: CurrentPrincipal) -> OrderPaymentRead:
        """The payment of an order: the customer, staff of its store and operations; 404 else."""
        found = await service.order_payment(order_id)
        if found is None or not may_see(principal, found[0]):
            raise PaymentNotFound()
        record, attempts, refunds = found
        return OrderPaymentRead(
            order_id=record.order_id, payment_id=record.payment_id, method=record.method,
            provider=record.provider, status=record.status, amount_xaf=record.amount_xaf,
            captured_xaf=record.captured_xaf, refunded_xaf=record.refunded_xaf,
            payer_phone_masked=mask(record.payer_phone) if record.payer_phone else None,
            failure_reason=record.failure_reason, updated_at=record.updated_at,
            attempts=[AttemptRead(id=a.id, provider=a.provider.value, status=a.status.value,
                                  amount_xaf=a.amount_xaf, payer_phone_masked=mask(a.payer_phone),
                                  reason=a.reason, created_at=a.created_at,
                                  expires_at=a.expires_at) for a in attempts],
            refunds=[RefundRead(id=r.id, cause=r.cause, amount_xaf=r.amount_xaf,
                                status=r.status, reason=r.reason, created_at=r.created_at)
                     for r in refunds],
        )

    @router.post("/v1/payments/orders/{order_id}/switch", status_code=202,
                 response_model=SwitchRead,
                 responses=problem_responses(400, 401, 404, 409, 422, 429))
    async def switch(order_id: uuid.UUID, body: SwitchCreate,
                     principal: CurrentPrincipal) -> SwitchRead:
        """Pay a cash order by mobile money at the door (its customer or its rider).

        Needs an ``Idempotency-Key``. The prompt goes to the payer's phone; the payment stays
        ``cash_due`` until the provider confirms (then ``PaymentCaptured``: no cash to
        collect). 409 once the cash is collected or the order is not cash; 404 for others.
        """

        def may(record: PaymentRecord) -> bool:
            return (principal.user_id in (record.customer_id, record.rider_id)
                    or principal.is_staff)

        attempt = await service.switch_to_mobile_money(order_id, body.method, body.phone, may)
        return SwitchRead(order_id=order_id, attempt=attempt_read(attempt))

    @router.post("/v1/payments/methods/resolve", response_model=MethodRead,
                 responses=problem_responses(400, 401, 403, 422))
    async def resolve_method(body: MethodResolve, principal: CurrentPrincipal) -> MethodRead:
        """Which wallet pays: the number's operator picks the provider (422 suggests cash).

        Customers ask for themselves; other services (checkout) name the ``customer_id``.
        The number must be one of the customer's verified numbers (the primary one if none
        is given).
        """
        if principal.has(Role.SERVICE) and body.customer_id is not None:
            customer_id = body.customer_id
        else:
            require_role(principal, Role.CUSTOMER)
            customer_id = principal.user_id
        resolved = await service.resolve_method(customer_id, body.method, body.phone)
        return MethodRead(method=resolved.method, provider=resolved.provider,
                          payer_phone_masked=resolved.payer_phone_masked)

    @router.get("/v1/payments/riders/me/cash", response_model=CashRead,
                responses=problem_responses(401, 403))
    async def my_cash(principal: CurrentPrincipal) -> CashRead:
        """A rider's cash in hand (collected at doors, not yet remitted) and float limit."""
        caller = require_role(principal, Role.RIDER)
        return cash_read(await service.rider_cash(caller.user_id))

    @router.get("/v1/admin/payments/riders/{rider_id}/cash", response_model=CashRead,
                responses=problem_responses(401, 403, 422))
    async def rider_cash(rider_id: uuid.UUID, principal: CurrentPrincipal) -> CashRead:
        """A rider's cash ledger (operations, and services such as dispatch)."""
        require_role(principal, Role.OPERATIONS, Role.SERVICE)
        return cash_read(await service.rider_cash(rider_id))

    @router.post("/v1/admin/payments/riders/{rider_id}/remittances", status_code=201,
                 response_model=CashRead, responses=problem_responses(400, 401, 403, 409, 422))
    async def remit(rider_id: uuid.UUID, body: RemittanceCreate,
                    principal: CurrentPrincipal) -> CashRead:
        """Operations received cash from a rider (409 if more than the rider holds).

        Send an ``Idempotency-Key``: a retried remittance is then recorded once.
        """
        caller = require_role(principal, Role.OPERATIONS)
        state = await service.remit_cash(rider_id, body.amount_xaf, actor_id=caller.user_id,
                                         note=body.note, counted=body.counted_xaf,
                                         reason=body.discrepancy_reason, booking=body.booking)
        return cash_read(state)

    @router.get("/v1/admin/payments/cash-discrepancies", response_model=DiscrepanciesRead,
                responses=problem_responses(401, 403, 422))
    async def discrepancies(principal: CurrentPrincipal,
                            rider_id: uuid.UUID | None = None) -> DiscrepanciesRead:
        """Remittances whose counted cash differed from the cash expected (operations)."""
        require_role(principal, Role.OPERATIONS)
        found = await service.cash_discrepancies(rider_id)
        return DiscrepanciesRead(items=[DiscrepancyRead(
            id=d.id, rider_id=d.rider_id, expected_xaf=d.expected_xaf,
            counted_xaf=d.counted_xaf, discrepancy_xaf=d.discrepancy_xaf, booking=d.booking,
            reason=d.reason, actor_id=d.actor_id, created_at=d.created_at) for d in found])

    @router.post("/v1/admin/payments/payout-batches", status_code=201,
                 response_model=PayoutBatchRead,
                 responses=problem_responses(400, 401, 403, 409, 422))
    async def create_payouts(body: PayoutBatchCreate,
                             principal: CurrentPrincipal) -> PayoutBatchRead:
        """Pay stores (merchant settlement) or riders (earnings) by MoMo disbursement.

        Each payee is paid once per ``batch_id``: resubmitting a batch sends nothing twice.
        Needs an ``Idempotency-Key``; operations only. MTN numbers only (422 otherwise).
        """
        caller = require_role(principal, Role.OPERATIONS)
        items = [PayoutItem(payee_kind=i.payee_kind, payee_id=i.payee_id, phone=i.phone,
                            amount_xaf=i.amount_xaf) for i in body.items]
        records = await service.submit_payouts(body.batch_id, items, actor_id=caller.user_id)
        return batch_read(body.batch_id, records)

    @router.get("/v1/admin/payments/payout-batches/{batch_id}", response_model=PayoutBatchRead,
                responses=problem_responses(401, 403, 404))
    async def get_payouts(batch_id: str, principal: CurrentPrincipal) -> PayoutBatchRead:
        """A settlement batch and the status of each transfer (operations)."""
        require_role(principal, Role.OPERATIONS)
        records = await service.payout_batch(batch_id[:64])
        if not records:
            raise PaymentNotFound()
        return batch_read(batch_id, records)

    @router.get("/v1/admin/payments/ledger/balances", response_model=BalancesRead,
                responses=problem_responses(401, 403))
    async def balances(principal: CurrentPrincipal) -> BalancesRead:
        """Balance of every ledger account (operations)."""
        require_role(principal, Role.OPERATIONS)
        return BalancesRead(balances=await service.balances())

    return router
