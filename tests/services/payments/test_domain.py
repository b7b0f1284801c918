"""Pure rules: provider status spellings, the attempt state machine, balanced entries."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from okada.services.payments.domain import ledger
from okada.services.payments.domain.attempts import (
    Attempt,
    AttemptStatus,
    Decision,
    Outcome,
    Provider,
    ProviderStatus,
    decide,
    next_check_delay,
    read_momo_status,
    read_orange_status,
)
from okada.services.payments.domain.errors import OperatorNotSupported
from okada.services.payments.domain.methods import mask, provider_for

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def attempt(status: AttemptStatus = AttemptStatus.PENDING, **changes: object) -> Attempt:
    values: dict[str, object] = {
        "id": uuid.uuid4(), "order_id": uuid.uuid4(), "provider": Provider.MTN_MOMO,
        "status": status, "amount_xaf": 2500, "payer_phone": "+237671234567",
        "callback_token": "t", "created_at": NOW, "expires_at": NOW + dt.timedelta(minutes=10),
    }
    values.update(changes)
    return Attempt(**values)  # type: ignore[arg-type]


def test_orange_success_is_spelled_with_a_double_l() -> None:
    envelope = {"data": {"status": "SUCCESSFULL", "amount": 1500, "subscriberMsisdn": "691234567",
                         "txnid": "MP1"}}
    assert read_orange_status(envelope).outcome is Outcome.SUCCEEDED
    assert read_orange_status({"data": {"status": "SUCCESSFUL"}}).outcome is Outcome.SUCCEEDED
    assert read_orange_status({"data": {"status": "CANCELLED"}}).reason == "CANCELLED"
    assert read_orange_status({"data": {"status": "SUCCESS"}}).outcome is Outcome.UNKNOWN
    assert read_orange_status({"data": None}).outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(("body", "outcome"), [
    ({"status": "SUCCESSFUL", "amount": "2500", "currency": "XAF"}, Outcome.SUCCEEDED),
    ({"status": "SUCCESSFULL"}, Outcome.UNKNOWN),  # MoMo spells it with one L
    ({"status": "FAILED", "reason": "NOT_ENOUGH_FUNDS"}, Outcome.FAILED),
    ({"status": "PENDING"}, Outcome.PENDING),
    ({"status": None}, Outcome.UNKNOWN),
    (["SUCCESSFUL"], Outcome.UNKNOWN),
    ("garbage", Outcome.UNKNOWN),
])
def test_momo_status_reading(body: object, outcome: Outcome) -> None:
    assert read_momo_status(body).outcome is outcome


def test_success_counts_only_when_amount_currency_and_payer_match() -> None:
    good = ProviderStatus(Outcome.SUCCEEDED, amount=2500, currency="XAF", payer="237671234567")
    assert decide(attempt(), good, now=NOW, currency="XAF") is Decision.CAPTURE
    for wrong in (ProviderStatus(Outcome.SUCCEEDED, amount=100, currency="XAF"),
                  ProviderStatus(Outcome.SUCCEEDED, amount=2500, currency="EUR"),
                  ProviderStatus(Outcome.SUCCEEDED, amount=2500, currency="XAF",
                                 payer="237699999999")):
        assert decide(attempt(), wrong, now=NOW, currency="XAF") is Decision.MISMATCH
    # a late success after expiry is still captured; a success after success is not
    assert decide(attempt(AttemptStatus.EXPIRED), good, now=NOW,
                  currency="XAF") is Decision.CAPTURE
    assert decide(attempt(AttemptStatus.SUCCEEDED), good, now=NOW,
                  currency="XAF") is Decision.WAIT


def test_unknown_is_never_a_failure_and_pending_expires_at_the_window() -> None:
    late = NOW + dt.timedelta(minutes=11)
    assert decide(attempt(), ProviderStatus(Outcome.UNKNOWN), now=late,
                  currency="XAF") is Decision.WAIT
    assert decide(attempt(), ProviderStatus(Outcome.PENDING), now=NOW,
                  currency="XAF") is Decision.WAIT
    assert decide(attempt(), ProviderStatus(Outcome.PENDING), now=late,
                  currency="XAF") is Decision.EXPIRE
    assert decide(attempt(AttemptStatus.SUCCEEDED), ProviderStatus(Outcome.FAILED), now=NOW,
                  currency="XAF") is Decision.WAIT
    assert [next_check_delay(n, (15.0, 30.0)) for n in range(4)] == [15.0, 30.0, 30.0, 30.0]


def test_entries_must_balance() -> None:
    order = uuid.uuid4()
    store = uuid.uuid4()
    entry = ledger.capture("capture:1", order, "mtn_momo", 2500, store_id=store,
                           delivery_fee=500, rates=ledger.SplitRates())
    assert sum(a for _, a in entry.lines) == 0
    assert dict(entry.lines) == {
        "provider_clearing:mtn_momo": 2475, "provider_fees:mtn_momo": 25,
        f"merchant_payable:{store}": -1800, "platform_commission": -200,
        "rider_earnings_pool": -400, "platform_delivery_revenue": -100}
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.JournalEntry("x", "capture", order, (("a", 10), ("b", -9)))
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.JournalEntry("x", "capture", order, (("a", 0), ("b", 0)))


def test_provider_follows_the_operator() -> None:
    assert provider_for("mtn", "+2376****0001") is Provider.MTN_MOMO
    assert provider_for("orange", "+2376****0001") is Provider.ORANGE_MONEY
    with pytest.raises(OperatorNotSupported):
        provider_for("nexttel", "+2376****0001")
    assert mask("+237671234567") == "+2376****4567"
    assert attempt(provider=Provider.ORANGE_MONEY).payer_digits() == "671234567"


def test_split_rounds_remainders_to_the_platform() -> None:
    rates = ledger.SplitRates(commission_bps=1250, rider_share_bps=3333)
    parts = ledger.split(1999, 301, rates)  # goods 1698
    # commission 212.25 → 213 (merchant floored to 1485); rider 100.32 → 100
    assert parts == ledger.Split(merchant=1485, commission=213, rider=100,
                                 delivery_revenue=201)
    assert parts.total == 1999
    # a payable smaller than the fee: all of it is delivery
    assert ledger.split(300, 500, rates) == ledger.Split(0, 0, 99, 201)


def test_refunds_reverse_the_split_proportionally_and_exactly_in_total() -> None:
    rates = ledger.SplitRates()
    parts = ledger.split(3001, 700, rates)
    first = ledger.refund_split(parts, 0, 1000)
    second = ledger.refund_split(parts, 1000, 2001)
    assert first.total == 1000 and second.total == 2001
    for name in ("merchant", "commission", "rider", "delivery_revenue"):
        assert getattr(first, name) + getattr(second, name) == getattr(parts, name)
    # proportional: a third of the capture takes about a third of the merchant's part
    assert abs(first.merchant * 3001 - parts.merchant * 1000) < 3001
    store = uuid.uuid4()
    decided = ledger.refund_decided("r", uuid.uuid4(), 1000, captured=3001,
                                    refunded_before=0, store_id=store, delivery_fee=700,
                                    rates=rates)
    assert dict(decided.lines)["refunds_payable"] == -1000
    undone = ledger.reversal("u", "refund_cancelled", decided)
    assert sorted(undone.lines) == sorted((a, -v) for a, v in decided.lines)
