"""``okada demo``: three customer journeys told step by step against a running platform.

Everything goes through the public API at one base URL (the gateway), exactly as the apps
and the simulated providers would: OTP codes are read from the SMS simulator
(``/_sim/sms/messages?to=``) and the customer answers the wallet prompt on the MTN MoMo and
Orange Money simulators' control endpoints. The journeys:

a. **MTN MoMo in Bonamoussadi** (Douala): a customer signs in by OTP, opens the home screen,
   orders three items from the nearest dark store, approves the MoMo prompt; the store
   accepts, prepares and packs; a rider goes online near the store, gets the offer, accepts,
   reports at store, picked up, arriving, and delivers with the customer's PIN (read from
   the tracking screen); the customer's notifications are listed.
b. **Cash in Bastos** (Yaoundé): the order is confirmed at once, delivered the same way; the
   rider's cash ledger shows the cash, then operations (password + TOTP) record its
   remittance and the ledger is back where it was.
c. **Orange Money declined**: the customer declines the prompt; the order is cancelled and
   the stock reserved for it is back on the shelf (seen by the store's staff).

Waiting for an asynchronous effect (an event crossing services) is polling with a deadline,
never a fixed sleep. Each journey is a function taking a :class:`DemoContext` (an
``httpx.AsyncClient`` bound to the platform), so the end-to-end tests run the very same code
against the embedded app or the distributed topology.

The demo accounts (staff, riders, operations) are created by the identity demo seed; see
``okada.services.identity.application.demo``. Customers get fresh numbers on every run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

T = TypeVar("T")

# The demo accounts of the identity demo seed (documented there and in the README).
BONAMOUSSADI_STAFF = "+237650100101"
AKWA_STAFF = "+237650100102"
BASTOS_STAFF = "+237650100103"
DOUALA_RIDER = "+237650100201"
YAOUNDE_RIDER = "+237650100202"
OPERATIONS = "+237650100301"
OPERATIONS_PASSWORD = "Okada-demo-ops-2026"  # noqa: S105 - documented demo value
OPERATIONS_TOTP_SECRET = "OKADADEMOOPERATIONSTOTPSECRET234"  # noqa: S105 - demo value

BONAMOUSSADI_STORE = "eb20fd84-5310-5cc9-9809-6fd2ddef38b0"
AKWA_STORE = "9df0d27b-bce4-585c-8ca5-f94b8590276a"
BASTOS_STORE = "0705cd53-a179-59b9-a709-dc7837a8410d"
STAFF_BY_STORE = {BONAMOUSSADI_STORE: BONAMOUSSADI_STAFF, AKWA_STORE: AKWA_STAFF,
                  BASTOS_STORE: BASTOS_STAFF}

# Points: a customer's door and a rider waiting near each store.
BONAMOUSSADI_DOOR = (4.0975, 9.7465)
BONAMOUSSADI_RIDER_SPOT = (4.0945, 9.7435)
BASTOS_DOOR = (3.8935, 11.5095)
BASTOS_RIDER_SPOT = (3.8895, 11.5125)
AKWA_DOOR = (4.0505, 9.7010)

MAX_COOLDOWN_WAIT_SECONDS = 65
"""Longest SMS-sending block the demo waits out; longer ones fail the step at once."""

TERMINAL = frozenset({"DELIVERED", "CANCELLED", "EXPIRED", "DELIVERY_FAILED"})

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "after_hours": "Il est {time} à Douala : {stores} fermé(s) à cette heure. Pour la "
                       "démonstration, les opérations les ouvrent 24 h/24.",
        "journey_a": "== Parcours A : Bonamoussadi, paiement MTN MoMo ==",
        "journey_b": "== Parcours B : Bastos, paiement en espèces à la livraison ==",
        "journey_c": "== Parcours C : Orange Money refusé ==",
        "otp": "{who} ({phone}) demande un code par SMS, le lit ({code}) et se connecte.",
        "password": "Les opérations ({phone}) se connectent : mot de passe + code TOTP.",
        "home": "Écran d'accueil : magasin le plus proche « {store} » à {distance} m, "
                "{featured} produits mis en avant.",
        "basket": "Panier : {lines}.",
        "placed": "Commande {order} passée : {total} FCFA, statut {status}.",
        "momo_prompt": "Le client reçoit la demande MoMo de {amount} FCFA et l'approuve.",
        "orange_prompt": "Le client reçoit la demande Orange Money de {amount} FCFA et la "
                         "refuse.",
        "status": "Commande {order} : {status}.",
        "payment": "Paiement : {status} ({captured} FCFA encaissés, {refunded} remboursés).",
        "store": "Le magasin ({phone}) : {action}.",
        "rider_online": "Le livreur ({phone}) se met en ligne près du magasin.",
        "offer": "Le livreur reçoit l'offre ({fee} FCFA de frais, {cash} FCFA à encaisser) et "
                 "l'accepte.",
        "rider_status": "Le livreur signale : {status}.",
        "pin": "Le client lit son code de remise sur le suivi : {pin}.",
        "notifications": "Notifications du client : {kinds}.",
        "push": "Notifications push reçues sur son téléphone : {count}.",
        "cash": "Caisse du livreur : {cash} FCFA en main (plafond {limit} FCFA).",
        "remit": "Les opérations enregistrent le versement de {amount} FCFA.",
        "stock": "Stock de « {name} » : {available} disponible(s) ({when}).",
        "stock_before": "avant la commande",
        "stock_reserved": "réservé pour la commande",
        "stock_after": "après l'annulation",
        "ok": "Parcours réussi.",
        "failed": "ÉCHEC : {error}",
        "summary": "== Résumé ==",
        "summary_order": "Commande {order} ({journey}) : {status}, paiement {method} {payment}.",
        "summary_cash": "Caisse des livreurs : {riders}.",
        "summary_ledger": "Grand livre : {balances}.",
        "summary_messages": "Messages envoyés par canal : {channels}.",
        "summary_result": "{ok} parcours réussi(s) sur {total}.",
    },
    "en": {
        "after_hours": "It is {time} in Douala: {stores} closed at this hour. For the demo, "
                       "operations open them around the clock.",
        "journey_a": "== Journey A: Bonamoussadi, MTN MoMo payment ==",
        "journey_b": "== Journey B: Bastos, cash on delivery ==",
        "journey_c": "== Journey C: Orange Money declined ==",
        "otp": "{who} ({phone}) asks for an SMS code, reads it ({code}) and signs in.",
        "password": "Operations ({phone}) sign in: password + TOTP code.",
        "home": "Home screen: nearest store \"{store}\" {distance} m away, {featured} featured "
                "products.",
        "basket": "Basket: {lines}.",
        "placed": "Order {order} placed: {total} XAF, status {status}.",
        "momo_prompt": "The customer gets the MoMo prompt for {amount} XAF and approves it.",
        "orange_prompt": "The customer gets the Orange Money prompt for {amount} XAF and "
                         "declines it.",
        "status": "Order {order}: {status}.",
        "payment": "Payment: {status} ({captured} XAF captured, {refunded} refunded).",
        "store": "The store ({phone}): {action}.",
        "rider_online": "The rider ({phone}) goes online near the store.",
        "offer": "The rider gets the offer ({fee} XAF fee, {cash} XAF to collect) and accepts "
                 "it.",
        "rider_status": "The rider reports: {status}.",
        "pin": "The customer reads the handover PIN on the tracking screen: {pin}.",
        "notifications": "Customer's notifications: {kinds}.",
        "push": "Push notifications received on the phone: {count}.",
        "cash": "Rider's cash: {cash} XAF in hand (limit {limit} XAF).",
        "remit": "Operations record the remittance of {amount} XAF.",
        "stock": "Stock of \"{name}\": {available} available ({when}).",
        "stock_before": "before the order",
        "stock_reserved": "reserved for the order",
        "stock_after": "after the cancellation",
        "ok": "Journey succeeded.",
        "failed": "FAILED: {error}",
        "summary": "== Summary ==",
        "summary_order": "Order {order} ({journey}): {status}, {method} payment {payment}.",
        "summary_cash": "Riders' cash: {riders}.",
        "summary_ledger": "Ledger: {balances}.",
        "summary_messages": "Messages sent by channel: {channels}.",
        "summary_result": "{ok} of {total} journeys succeeded.",
    },
}

STORE_ACTIONS = {
    "fr": {"accept": "accepte la commande", "preparing": "prépare la commande",
           "ready": "la commande est prête"},
    "en": {"accept": "accepts the order", "preparing": "prepares the order",
           "ready": "the order is ready"},
}


class StepFailed(Exception):
    """A step of a journey did not behave as the platform promises."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after


@dataclass
class DemoContext:
    """The platform under demonstration, the narrator and what the journeys found."""

    client: httpx.AsyncClient
    lang: str = "fr"
    out: Callable[[str], None] = print
    deadline_seconds: float = 30.0
    """How long an asynchronous effect (an event crossing services) may take."""
    warmup_seconds: float = 150.0
    """How long checkout may wait for a freshly started platform to know its catalog (the
    demo seed's events reach orders' read models within a minute or two)."""
    poll_seconds: float = 0.1
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    riders: dict[str, str] = field(default_factory=dict)
    """Rider phone → rider id, for the cash summary."""
    rng: random.Random = field(default_factory=random.Random)
    hooks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    """Called at named points of the journeys (``"A:placed"``…): fault tests kill and
    restart a process there."""

    async def checkpoint(self, name: str) -> None:
        """Run the hook registered for this point of a journey, if any."""
        hook = self.hooks.get(name)
        if hook is not None:
            await hook()

    def say(self, key: str, **values: Any) -> None:
        """Narrate one step in the chosen language."""
        table = MESSAGES.get(self.lang, MESSAGES["en"])
        self.out(table[key].format(**values))

    async def call(self, method: str, path: str, *, token: str | None = None,
                   expect: tuple[int, ...] = (200,), headers: dict[str, str] | None = None,
                   **kwargs: Any) -> Any:
        """One API call; a status outside ``expect`` fails the step with the problem body."""
        sent = {"accept-language": self.lang, **(headers or {})}
        if token is not None:
            sent["authorization"] = f"Bearer {self.tokens[token]}"
        try:
            response = await self.client.request(method, path, headers=sent, **kwargs)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{method} {path}: {exc!r}") from exc
        if response.status_code not in expect:
            try:
                body = response.json()
            except ValueError:
                body = None
            retry_after = response.headers.get("retry-after", "")
            raise StepFailed(f"{method} {path} → {response.status_code} {response.text[:300]}",
                             status=response.status_code, body=body,
                             retry_after=float(retry_after) if retry_after.isdigit() else None)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def wait_for(self, what: str, probe: Callable[[], Awaitable[T | None]], *,
                       interval: float | None = None, seconds: float | None = None) -> T:
        """Poll ``probe`` until it returns a value (not None) or the deadline passes."""
        deadline = time.monotonic() + (seconds or self.deadline_seconds)
        last_error: Exception | None = None
        while True:
            try:
                found = await probe()
                if found is not None:
                    return found
            except StepFailed as exc:  # e.g. 404 until the event has arrived
                last_error = exc
            if time.monotonic() >= deadline:
                detail = f" (last: {last_error})" if last_error else ""
                raise StepFailed(f"timed out waiting for {what}{detail}")
            # The polling interval, not business waiting.
            await asyncio.sleep(interval or self.poll_seconds)

    # -- accounts -------------------------------------------------------------------------

    async def sign_in_otp(self, phone: str, who: str) -> str:
        """Sign in by SMS code once per run (OTP sends are rate limited); returns the phone."""
        if phone in self.tokens:
            return phone
        seen = {m.get("id") for m in await self._sms(phone)}

        async def request() -> bool | None:
            try:
                await self.call("POST", "/v1/auth/otp/request", json={"phone": phone},
                                expect=(202,))
            except StepFailed as exc:
                # A short SMS cooldown (a quick rerun) is waited out; a long block is reported.
                if exc.status == 429 and (exc.retry_after or 0) <= MAX_COOLDOWN_WAIT_SECONDS:
                    raise
                raise _Unexpected(str(exc)) from None
            return True

        try:
            await self.wait_for(f"an SMS code for {phone}", request, interval=5.0,
                                seconds=self.warmup_seconds)
        except _Unexpected as exc:
            raise StepFailed(str(exc)) from None
        code = await self.wait_for(f"the SMS code of {phone}", lambda: self._otp(phone, seen))
        tokens = await self.call("POST", "/v1/auth/otp/verify", json={
            "phone": phone, "code": code, "device_id": f"demo-{uuid.uuid4().hex[:12]}"})
        self.tokens[phone] = tokens["access_token"]
        me = await self.call("GET", "/v1/users/me", token=phone)
        self.user_ids[phone] = me["id"]
        self.say("otp", who=who, phone=mask(phone), code=code)
        return phone

    async def _sms(self, phone: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", "/_sim/sms/messages", params={"to": phone}))

    async def _otp(self, phone: str, seen: set[Any]) -> str | None:
        for message in await self._sms(phone):  # newest first
            if message.get("id") in seen:
                return None
            match = re.search(r"\b(\d{6})\b", message["text"])
            if match:
                return match.group(1)
        return None

    async def sign_in_operations(self) -> str:
        """Password + TOTP login of the demo operations account."""
        if OPERATIONS in self.tokens:
            return OPERATIONS
        import pyotp

        totp = pyotp.TOTP(OPERATIONS_TOTP_SECRET)
        # A code is accepted once: if this step's code was used already (a rerun within
        # 30 s), the next step's code is still inside the accepted window.
        for at in (time.time(), time.time() + 30):
            try:
                tokens = await self.call("POST", "/v1/auth/password/login", json={
                    "phone": OPERATIONS, "password": OPERATIONS_PASSWORD,
                    "totp": totp.at(at), "device_id": "demo-operations"})
            except StepFailed:
                if at > time.time():
                    raise
                continue
            self.tokens[OPERATIONS] = tokens["access_token"]
            self.say("password", phone=mask(OPERATIONS))
            return OPERATIONS
        raise StepFailed("operations login")

    def customer_phone(self, operator: str) -> str:
        """A fresh customer number: MTN (67x) or Orange (69x), never a simulator magic one."""
        prefix = "+2376779" if operator == "mtn" else "+2376997"
        return prefix + f"{self.rng.randrange(10**5):05d}"


def mask(e164: str) -> str:
    """``+237677123456`` → ``+2376****3456``."""
    return f"{e164[:5]}****{e164[-4:]}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# -- steps shared by the journeys ---------------------------------------------------------


async def _customer_home(ctx: DemoContext, customer: str, point: tuple[float, float]
                         ) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        home = await ctx.call("GET", "/v1/app/home", token=customer,
                              params={"lat": point[0], "lng": point[1]})
        # A part missing (a slow service) is retried, as the app does.
        return dict(home) if home.get("store") and not home.get("partial") else None

    home = await ctx.wait_for(f"a home screen with the store serving {point}", probe)
    store = home["store"]
    ctx.say("home", store=store["name"], distance=store.get("distance_m"),
            featured=len(home.get("featured", [])))
    return dict(store)


async def _pick_products(ctx: DemoContext, customer: str, store_id: str, count: int,
                         spares: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``count`` products shown in stock; the other candidates go to ``spares``."""
    page = await ctx.call("GET", f"/v1/catalog/stores/{store_id}/products", token=customer,
                          params={"limit": 60})
    chosen = [p for p in page["data"] if p.get("in_stock") and not p.get("sold_by_weight")]
    if len(chosen) < count:
        raise StepFailed(f"only {len(chosen)} products in stock at {store_id}")
    ctx.rng.shuffle(chosen)
    picked = chosen[:count]
    if spares is not None:
        spares.extend(chosen[count:])
    if picked:
        _say_basket(ctx, picked)
    return picked


def _say_basket(ctx: DemoContext, products: list[dict[str, Any]]) -> None:
    ctx.say("basket", lines=", ".join(f"{p['name']} ({p['unit']}) {p['price_xaf']}"
                                      for p in products))


async def _place(ctx: DemoContext, customer: str, store: dict[str, Any],
                 products: list[dict[str, Any]], door: tuple[float, float], method: str,
                 quantities: list[int] | None = None,
                 spares: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Checkout. With ``spares``, a product out of stock (the catalog's availability flag
    lags inventory a little) is swapped for a spare in ``products``, as a shopper would."""
    quantities = quantities or [1] * len(products)
    payment: dict[str, Any] = {"method": method}
    if method != "cash":
        payment["phone"] = customer
    address = {"city": store["city"], "quartier": store["quartier"],
               "landmark": "Portail bleu, après la boutique", "lat": door[0], "lng": door[1],
               "contact_phone": customer}

    async def attempt() -> dict[str, Any] | None:
        body = {"store_id": store["id"], "address": address, "payment": payment,
                "lines": [{"product_id": p["id"], "quantity": q}
                          for p, q in zip(products, quantities, strict=True)]}
        try:
            return dict(await ctx.call("POST", "/v1/orders", token=customer, expect=(201,),
                                       headers={"idempotency-key": str(uuid.uuid4())},
                                       json=body))
        except StepFailed as exc:
            missing = {str(m.get("product_id")) for m in (exc.body or {}).get("missing", [])
                       } if exc.status == 409 and isinstance(exc.body, dict) else set()
            if missing and spares:
                for index, product in enumerate(products):
                    if product["id"] in missing and spares:
                        products[index] = spares.pop(0)
                _say_basket(ctx, products)
                return None
            # Right after a fresh start orders may not have received the seeded catalog
            # yet (its read models come from catalog events), nor delivery the hours that
            # open_stores_after_hours set: that is worth waiting for.
            # 429: the gateway's money-route limit, polite retries stay under it.
            if any(x in str(exc) for x in ("unknown_store", "products_unavailable",
                                           "store_closed", "→ 429")):
                raise
            raise _Unexpected(str(exc)) from None

    try:
        order = await ctx.wait_for("checkout", attempt, interval=1.0,
                                   seconds=ctx.warmup_seconds)
    except _Unexpected as exc:
        raise StepFailed(str(exc)) from None
    ctx.say("placed", order=order["id"][-8:], total=order.get("total_xaf"),
            status=order["status"])
    return dict(order)


async def wait_order(ctx: DemoContext, customer: str, order_id: str,
                     statuses: frozenset[str] | set[str]) -> dict[str, Any]:
    """Poll the customer's order until its status is one of ``statuses``."""

    async def probe() -> dict[str, Any] | None:
        order = await ctx.call("GET", f"/v1/orders/{order_id}", token=customer)
        if order["status"] in statuses:
            return dict(order)
        if order["status"] in TERMINAL:
            raise _Unexpected(f"order {order_id} ended {order['status']}, wanted {statuses}")
        return None

    try:
        order = await ctx.wait_for(f"order {order_id} in {sorted(statuses)}", probe)
    except _Unexpected as exc:
        raise StepFailed(str(exc)) from None
    ctx.say("status", order=order_id[-8:], status=order["status"])
    return order


class _Unexpected(Exception):
    """A final state that is not the one awaited (no point waiting further)."""


async def _payment(ctx: DemoContext, customer: str, order_id: str,
                   statuses: frozenset[str]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        payment = await ctx.call("GET", f"/v1/payments/orders/{order_id}", token=customer)
        return dict(payment) if payment["status"] in statuses else None

    payment = await ctx.wait_for(f"payment of {order_id} in {sorted(statuses)}", probe)
    ctx.say("payment", status=payment["status"], captured=payment["captured_xaf"],
            refunded=payment["refunded_xaf"])
    return payment


async def _store_moves(ctx: DemoContext, staff: str, order_id: str, moves: list[str]) -> None:
    for move in moves:
        await ctx.call("POST", f"/v1/merchant/orders/{order_id}/{move}", token=staff, json={})
        ctx.say("store", phone=mask(staff), action=STORE_ACTIONS[ctx.lang][move])


async def _rider_online(ctx: DemoContext, rider: str, spot: tuple[float, float]) -> None:
    await ctx.call("POST", "/v1/rider/shift", token=rider,
                   json={"status": "online", "lat": spot[0], "lng": spot[1]})
    await ctx.call("POST", "/v1/rider/locations", token=rider,
                   json={"pings": [{"lat": spot[0], "lng": spot[1], "at": _now(),
                                    "accuracy_m": 8}]})
    ctx.riders[rider] = ctx.user_ids[rider]
    ctx.say("rider_online", phone=mask(rider))


async def _deliver(ctx: DemoContext, rider: str, customer: str, order_id: str,
                   door: tuple[float, float], journey: str = "") -> dict[str, Any]:
    """The rider takes the offer and delivers with the PIN the customer reads on tracking.

    Checkpoint ``"<journey>:assigned"``: the rider holds the delivery, not yet at the store.
    """

    async def offer() -> dict[str, Any] | None:
        page = await ctx.call("GET", "/v1/rider/offers", token=rider)
        return next((o for o in page["data"] if o["order_id"] == order_id), None)

    found = await ctx.wait_for(f"an offer of order {order_id}", offer)
    delivery = await ctx.call("POST", f"/v1/rider/offers/{found['id']}/accept", token=rider)
    ctx.say("offer", fee=found["fee_xaf"], cash=found["cash_to_collect_xaf"])
    await ctx.checkpoint(f"{journey}:assigned")
    path = f"/v1/rider/deliveries/{delivery['id']}/status"
    for status in ("AT_STORE", "PICKED_UP", "ARRIVING"):
        await ctx.call("POST", path, token=rider, json={"status": status, "at": _now()})
        ctx.say("rider_status", status=status)
    tracking = await ctx.call("GET", f"/v1/delivery/orders/{order_id}/tracking", token=customer)
    pin = tracking.get("pin")
    if not pin:
        raise StepFailed(f"no PIN on the tracking of {order_id}: {tracking}")
    ctx.say("pin", pin=pin)
    done = await ctx.call("POST", path, token=rider, json={
        "status": "DELIVERED", "at": _now(), "pin": pin, "lat": door[0], "lng": door[1]})
    ctx.say("rider_status", status=done["status"])
    await ctx.call("POST", "/v1/rider/shift", token=rider, json={"status": "offline"})
    return dict(done)


async def _inbox(ctx: DemoContext, customer: str, order_id: str, wanted: set[str]
                 ) -> list[str]:
    async def probe() -> list[str] | None:
        page = await ctx.call("GET", "/v1/notifications", token=customer,
                              params={"limit": 50})
        kinds = [i["kind"] for i in page["data"] if i.get("order_id") == order_id]
        return kinds if wanted <= set(kinds) else None

    kinds = await ctx.wait_for(f"notifications {sorted(wanted)} of {order_id}", probe)
    ctx.say("notifications", kinds=", ".join(reversed(kinds)))
    return kinds


async def _stock(ctx: DemoContext, reader: str, store_id: str, product_ids: list[str]
                 ) -> dict[str, int]:
    page = await ctx.call("GET", f"/v1/inventory/stores/{store_id}/stock", token=reader,
                          params={"product_ids": ",".join(product_ids)})
    return {item["product_id"]: int(item["available"]) for item in page["data"]}


def _record(ctx: DemoContext, journey: str, order: dict[str, Any], **extra: Any
            ) -> dict[str, Any]:
    row = {"journey": journey, "order_id": order["id"], "status": order["status"],
           "method": order["payment"]["method"], "total_xaf": order["total_xaf"], **extra}
    ctx.orders.append(row)
    return row


# -- the three journeys ---------------------------------------------------------------------


async def journey_momo(ctx: DemoContext) -> dict[str, Any]:
    """A. Bonamoussadi customer, MTN MoMo approved, delivered with the PIN."""
    ctx.say("journey_a")
    customer = await ctx.sign_in_otp(ctx.customer_phone("mtn"), "Client")
    device = f"demo-push-{uuid.uuid4().hex}"
    await ctx.call("POST", "/v1/notifications/devices", token=customer,
                   json={"token": device, "platform": "android", "locale": ctx.lang})
    store = await _customer_home(ctx, customer, BONAMOUSSADI_DOOR)
    if store["id"] != BONAMOUSSADI_STORE:
        raise StepFailed(f"Bonamoussadi is served by {store['name']}, not Okada Bonamoussadi")
    spares: list[dict[str, Any]] = []
    products = await _pick_products(ctx, customer, store["id"], 3, spares)
    order = await _place(ctx, customer, store, products, BONAMOUSSADI_DOOR, "mtn_momo",
                         spares=spares)
    row = _record(ctx, "A", order, customer=customer)
    await ctx.checkpoint("A:placed")
    payer = customer.lstrip("+")

    async def prompt() -> dict[str, Any] | None:
        found = await ctx.call("GET", "/_sim/mtn-momo/_control/requests",
                               params={"payer": payer})
        return next((r for r in found if r.get("externalId") == order["id"]
                     and r.get("status") == "PENDING"), None)

    request = await ctx.wait_for("the MoMo prompt", prompt)
    await ctx.call("POST", f"/_sim/mtn-momo/_control/requests/{request['reference']}/approve",
                   json={})
    ctx.say("momo_prompt", amount=request.get("amount"))
    await ctx.checkpoint("A:approved")
    order = await wait_order(ctx, customer, order["id"], {"CONFIRMED"})
    payment = await _payment(ctx, customer, order["id"], frozenset({"captured"}))
    staff = await ctx.sign_in_otp(BONAMOUSSADI_STAFF, "Magasin Bonamoussadi")
    await _store_moves(ctx, staff, order["id"], ["accept", "preparing"])
    rider = await ctx.sign_in_otp(DOUALA_RIDER, "Livreur Douala")
    await _rider_online(ctx, rider, BONAMOUSSADI_RIDER_SPOT)
    await _store_moves(ctx, staff, order["id"], ["ready"])
    await ctx.checkpoint("A:ready")
    delivery = await _deliver(ctx, rider, customer, order["id"], BONAMOUSSADI_DOOR, "A")
    order = await wait_order(ctx, customer, order["id"], {"DELIVERED"})
    kinds = await _inbox(ctx, customer, order["id"], {"order_confirmed", "order_delivered"})
    pushes = await ctx.call("GET", "/_sim/push/messages", params={"token": device})
    ctx.say("push", count=len(pushes))
    row.update(status=order["status"], payment=payment["status"],
               captured_xaf=payment["captured_xaf"], delivery=delivery, kinds=kinds,
               pushes=len(pushes), rider_id=ctx.user_ids[rider])
    ctx.say("ok")
    return row


async def journey_cash(ctx: DemoContext) -> dict[str, Any]:
    """B. Bastos customer pays cash; the rider's cash ledger shows it, then its remittance."""
    ctx.say("journey_b")
    customer = await ctx.sign_in_otp(ctx.customer_phone("mtn"), "Client")
    store = await _customer_home(ctx, customer, BASTOS_DOOR)
    if store["id"] != BASTOS_STORE:
        raise StepFailed(f"Bastos is served by {store['name']}, not Okada Bastos")
    spares: list[dict[str, Any]] = []
    products = await _pick_products(ctx, customer, store["id"], 2, spares)
    order = await _place(ctx, customer, store, products, BASTOS_DOOR, "cash", spares=spares)
    row = _record(ctx, "B", order, customer=customer)
    if order["status"] != "CONFIRMED":
        raise StepFailed(f"a cash order starts CONFIRMED, not {order['status']}")
    rider = await ctx.sign_in_otp(YAOUNDE_RIDER, "Livreur Yaoundé")
    cash_before = await ctx.call("GET", "/v1/payments/riders/me/cash", token=rider)
    ctx.say("cash", cash=cash_before["cash_in_hand_xaf"], limit=cash_before["float_limit_xaf"])
    staff = await ctx.sign_in_otp(BASTOS_STAFF, "Magasin Bastos")
    await _store_moves(ctx, staff, order["id"], ["accept", "preparing"])
    await _rider_online(ctx, rider, BASTOS_RIDER_SPOT)
    await _store_moves(ctx, staff, order["id"], ["ready"])
    await ctx.checkpoint("B:ready")
    delivery = await _deliver(ctx, rider, customer, order["id"], BASTOS_DOOR, "B")
    if delivery["cash_to_collect_xaf"] != order["payable_xaf"]:
        raise StepFailed(f"cash to collect {delivery['cash_to_collect_xaf']} ≠ amount due "
                         f"{order['payable_xaf']}")
    await ctx.checkpoint("B:delivered")
    order = await wait_order(ctx, customer, order["id"], {"DELIVERED"})
    expected = cash_before["cash_in_hand_xaf"] + order["payable_xaf"]

    async def collected() -> dict[str, Any] | None:
        cash = await ctx.call("GET", "/v1/payments/riders/me/cash", token=rider)
        return dict(cash) if cash["cash_in_hand_xaf"] >= expected else None

    cash = await ctx.wait_for("the cash in the rider's ledger", collected)
    ctx.say("cash", cash=cash["cash_in_hand_xaf"], limit=cash["float_limit_xaf"])
    if cash["cash_in_hand_xaf"] != expected:
        raise StepFailed(f"rider holds {cash['cash_in_hand_xaf']} XAF, expected {expected}")
    payment = await _payment(ctx, customer, order["id"], frozenset({"cash_collected"}))
    ops = await ctx.sign_in_operations()
    rider_id = ctx.user_ids[rider]
    remitted = await ctx.call(
        "POST", f"/v1/admin/payments/riders/{rider_id}/remittances", token=ops, expect=(201,),
        headers={"idempotency-key": str(uuid.uuid4())},
        json={"amount_xaf": cash["cash_in_hand_xaf"], "note": "demo remittance"})
    ctx.say("remit", amount=cash["cash_in_hand_xaf"])
    after = await ctx.call("GET", "/v1/payments/riders/me/cash", token=rider)
    ctx.say("cash", cash=after["cash_in_hand_xaf"], limit=after["float_limit_xaf"])
    if after["cash_in_hand_xaf"] != 0 or remitted["cash_in_hand_xaf"] != 0:
        raise StepFailed(f"after remittance the rider still holds {after['cash_in_hand_xaf']}")
    row.update(status=order["status"], payment=payment["status"],
               captured_xaf=payment["captured_xaf"], cash_collected=cash["cash_in_hand_xaf"],
               cash_after_remittance=after["cash_in_hand_xaf"], rider_id=rider_id,
               cash_before=cash_before["cash_in_hand_xaf"])
    ctx.say("ok")
    return row


async def journey_orange_declined(ctx: DemoContext) -> dict[str, Any]:
    """C. Orange Money declined: the order is cancelled and the stock is back."""
    ctx.say("journey_c")
    customer = await ctx.sign_in_otp(ctx.customer_phone("orange"), "Client")
    store = await _customer_home(ctx, customer, AKWA_DOOR)
    staff_phone = STAFF_BY_STORE.get(store["id"])
    reader = (await ctx.sign_in_otp(staff_phone, f"Magasin {store['quartier']}")
              if staff_phone else await ctx.sign_in_operations())
    candidates: list[dict[str, Any]] = []
    await _pick_products(ctx, customer, store["id"], 0, candidates)
    # The staff's stock screen is the truth: take two products with enough on the shelf.
    levels = await _stock(ctx, reader, store["id"], [p["id"] for p in candidates])
    products = [p for p in candidates if levels.get(p["id"], 0) >= 3][:2]
    if len(products) < 2:
        raise StepFailed(f"not enough stock at {store['name']}: {levels}")
    _say_basket(ctx, products)
    ids = [p["id"] for p in products]
    names = {p["id"]: p["name"] for p in products}
    before = {pid: levels[pid] for pid in ids}
    for pid in ids:
        ctx.say("stock", name=names[pid], available=before.get(pid),
                when=MESSAGES[ctx.lang]["stock_before"])
    order = await _place(ctx, customer, store, products, AKWA_DOOR, "orange_money",
                         quantities=[2, 1])
    row = _record(ctx, "C", order, customer=customer)
    reserved = await _stock(ctx, reader, store["id"], ids)
    for pid, qty in zip(ids, (2, 1), strict=True):
        ctx.say("stock", name=names[pid], available=reserved.get(pid),
                when=MESSAGES[ctx.lang]["stock_reserved"])
        if reserved.get(pid) != before[pid] - qty:
            raise StepFailed(f"{pid}: {reserved.get(pid)} available, expected {before[pid] - qty}")
    payer = customer[-9:]

    async def prompt() -> dict[str, Any] | None:
        found = await ctx.call("GET", "/_sim/orange-money/_control/payments",
                               params={"payer": payer})
        return next((p for p in found if p.get("status") == "PENDING"), None)

    pending = await ctx.wait_for("the Orange Money prompt", prompt)
    await ctx.call("POST", f"/_sim/orange-money/_control/payments/{pending['payToken']}/decline",
                   json={"reason": "FAILED"})
    ctx.say("orange_prompt", amount=pending.get("amount"))
    await ctx.checkpoint("C:declined")
    order = await wait_order(ctx, customer, order["id"], {"CANCELLED"})
    payment = await _payment(ctx, customer, order["id"], frozenset({"failed", "cancelled"}))

    async def restored() -> dict[str, int] | None:
        levels = await _stock(ctx, reader, store["id"], ids)
        return levels if all(levels.get(pid) == before[pid] for pid in ids) else None

    after = await ctx.wait_for("the stock back on the shelf", restored)
    for pid in ids:
        ctx.say("stock", name=names[pid], available=after[pid],
                when=MESSAGES[ctx.lang]["stock_after"])
    kinds = await _inbox(ctx, customer, order["id"], {"payment_failed"})
    row.update(status=order["status"], payment=payment["status"],
               captured_xaf=payment["captured_xaf"], stock_before=before,
               stock_reserved=reserved, stock_after=after, kinds=kinds,
               cancel_reason=order.get("cancel_reason"))
    ctx.say("ok")
    return row


JOURNEYS: tuple[Callable[[DemoContext], Awaitable[dict[str, Any]]], ...] = (
    journey_momo, journey_cash, journey_orange_declined)


# -- summary --------------------------------------------------------------------------------


async def summary(ctx: DemoContext) -> dict[str, Any]:
    """Orders and payments, riders' cash, ledger balances and messages sent by channel."""
    ctx.say("summary")
    result: dict[str, Any] = {"orders": [], "riders": {}, "balances": {}, "channels": {}}
    for row in ctx.orders:
        customer = row["customer"]
        order = await ctx.call("GET", f"/v1/orders/{row['order_id']}", token=customer)
        payment = await ctx.call("GET", f"/v1/payments/orders/{row['order_id']}",
                                 token=customer)
        result["orders"].append({"order_id": order["id"], "journey": row["journey"],
                                 "status": order["status"], "payment": payment["status"],
                                 "captured_xaf": payment["captured_xaf"],
                                 "refunded_xaf": payment["refunded_xaf"]})
        ctx.say("summary_order", order=order["id"][-8:], journey=row["journey"],
                status=order["status"], method=order["payment"]["method"],
                payment=payment["status"])
    ops = await ctx.sign_in_operations()
    for phone, rider_id in ctx.riders.items():
        cash = await ctx.call("GET", f"/v1/admin/payments/riders/{rider_id}/cash", token=ops)
        result["riders"][mask(phone)] = cash["cash_in_hand_xaf"]
    ctx.say("summary_cash", riders=", ".join(f"{k} {v}" for k, v in result["riders"].items())
            or "-")
    balances = await ctx.call("GET", "/v1/admin/payments/ledger/balances", token=ops)
    result["balances"] = balances["balances"]
    ctx.say("summary_ledger", balances=", ".join(
        f"{k} {v}" for k, v in sorted(balances["balances"].items())) or "-")
    channels: Counter[str] = Counter()
    for row in ctx.orders:
        found = await ctx.call("GET", "/v1/admin/notifications", token=ops,
                               params={"order_id": row["order_id"], "limit": 100})
        channels.update(m["channel"] for m in found["data"])
    sms = await ctx.call("GET", "/_sim/sms/messages", params={"limit": 500})
    push = await ctx.call("GET", "/_sim/push/messages", params={"limit": 500})
    channels["sms (simulator, total)"] = len(sms)
    channels["push (simulator, total)"] = len(push)
    result["channels"] = dict(channels)
    ctx.say("summary_messages", channels=", ".join(f"{k} {v}" for k, v in channels.items()))
    return result


AROUND_THE_CLOCK = [{"weekday": day, "opens": "00:00", "closes": "24:00"} for day in range(7)]


async def open_stores_after_hours(ctx: DemoContext) -> list[str]:
    """Open, around the clock, every store that its opening hours close right now.

    The demo (and the tests and benchmarks built on it) must work at any hour, while the demo
    stores keep real hours (07:00-22:00 in Douala). Outside them, operations change the hours
    through the public merchant API, as they would for a night event; the change reaches
    orders, delivery and the gateway's cache by the catalog's events. A store whose staff set
    it ``closed`` stays closed. Returns the ids of the stores opened.
    """

    async def listed() -> list[dict[str, Any]] | None:
        # `okada up` loads the demo data once every process is ready: wait for the stores.
        return list((await ctx.call("GET", "/v1/catalog/stores"))["data"]) or None

    stores = await ctx.wait_for("the demo stores", listed, interval=0.5,
                                seconds=ctx.warmup_seconds)
    closed = [s for s in stores if not s.get("open_now") and s.get("status") != "closed"]
    if not closed:
        return []
    ops = await ctx.sign_in_operations()
    for store in closed:
        await ctx.call("PATCH", f"/v1/merchant/stores/{store['id']}", token=ops,
                       json={"opening_hours": AROUND_THE_CLOCK})
    local = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Africa/Douala"))
    ctx.say("after_hours", time=local.strftime("%H:%M"),
            stores=", ".join(s["name"] for s in closed))
    return [s["id"] for s in closed]


async def run_demo(ctx: DemoContext) -> int:
    """Run the three journeys and the summary; 0 when every step behaved."""
    succeeded = 0
    try:
        await open_stores_after_hours(ctx)
    except StepFailed as exc:
        ctx.say("failed", error=str(exc))
        return 1
    for journey in JOURNEYS:
        try:
            await journey(ctx)
            succeeded += 1
        except StepFailed as exc:
            ctx.say("failed", error=str(exc))
    try:
        await summary(ctx)
    except StepFailed as exc:
        ctx.say("failed", error=str(exc))
        succeeded = min(succeeded, len(JOURNEYS) - 1)
    ctx.say("summary_result", ok=succeeded, total=len(JOURNEYS))
    return 0 if succeeded == len(JOURNEYS) else 1


def main(base_url: str, lang: str, *, deadline_seconds: float = 30.0) -> int:
    """Entry point of ``okada demo``."""

    def out(line: str) -> None:
        print(line, flush=True)

    async def run() -> int:
        timeout = httpx.Timeout(15.0, connect=5.0)
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
            try:
                await client.get("/healthz")
            except httpx.HTTPError as exc:
                print(f"{base_url}: {exc!r} (is `okada serve` running?)", file=sys.stderr)
                return 2
            return await run_demo(DemoContext(client=client, lang=lang, out=out,
                                              deadline_seconds=deadline_seconds))

    return asyncio.run(run())
