-- W5: the SQL of one cash-on-delivery checkout (POST /v1/orders, 3 lines, inline address),
-- replayed by pgbench with the same statements, in the same transactions, in the same order.
--
-- Source: captured on 2026-11-26 from a distributed run (`log_statement = 'all'` set on the
-- run's own databases with ALTER DATABASE, PostgreSQL log read back) after warm-up checkouts.
-- One checkout executes, in this order:
--   orders DB    1 autocommit INSERT  (idempotency middleware claims the key)
--   orders DB    5 autocommit SELECTs (CheckoutService.place, read-only unit of work)
--   delivery     no SQL seen during the quote call (HTTP from orders)
--   inventory DB 1 transaction: 8 statements (reservation, 3 lines, 3 guarded stock
--                updates, outbox row)
--   orders DB    1 transaction: 6 statements (2 events, projection tracking, read model,
--                2 outbox rows)
--   orders DB    1 autocommit UPDATE  (idempotency middleware stores the response)
-- = 21 statements in 9 transactions. Not replayed: the outbox relays' claim/mark
-- transactions (that is W6) and the services' background polls (saga, expiry, backlog).
--
-- Differences, all mechanical:
--   * one database holds both services' tables: schema `o` = a copy of the run's orders
--     database, schema `i` = a copy of its inventory database (pg_dump, same indexes and
--     data), so one pgbench transaction is one whole checkout; table names are
--     schema-qualified;
--   * the first SELECT ... \gset stands in for what Python generates (order id, message
--     ids, Idempotency-Key, timestamps) and for the client picking 3 distinct products of
--     the same 30 the HTTP load uses: one extra cheap statement per checkout; the products
--     come sorted because inventory locks the stock rows in product order (no deadlock);
--   * parameters that are constants for a cash checkout (status 'held', version 1,
--     attempts 0, event types, ...) are written as literals;
--   * JSON payloads (event data, read-model state, envelopes, stored response) are passed
--     as parameters, as asyncpg does; their values are copied by bench/w5_orders.py from a
--     checkout of the same run (-D), so their size is the real one.
-- Run with `pgbench -n -M prepared` (asyncpg uses the extended protocol with prepared
-- statements) and -D store=... customer=... fingerprint=... plus the payload variables.

\set q1 random(1, 2)
\set q2 random(1, 2)
\set q3 random(1, 2)
SELECT gen_random_uuid() AS order_id, gen_random_uuid() AS idem_key,
       gen_random_uuid() AS msg_reserved, gen_random_uuid() AS msg_placed,
       gen_random_uuid() AS msg_confirmed, now() AS ts, now() + interval '30 minutes' AS expires,
       p[1] AS p1, p[2] AS p2, p[3] AS p3
  FROM (SELECT array_agg(product_id ORDER BY product_id) AS p
          FROM (SELECT product_id FROM public.bench_products ORDER BY random() LIMIT 3) s) x
\gset

-- orders: okada.infra.http.idempotency (claim the key; autocommit)
INSERT INTO o.idempotency_keys (scope, key, fingerprint, created_at, locked_at) VALUES (:customer::VARCHAR, :idem_key::VARCHAR, :fingerprint::VARCHAR, :ts::TIMESTAMP WITH TIME ZONE, :ts::TIMESTAMP WITH TIME ZONE);

-- orders: CheckoutService.place, uow.orders.load (event stream after the snapshot)
SELECT order_events.stream_id, order_events.version, order_events.type, order_events.data, order_events.actor_id, order_events.actor_role, order_events.reason, order_events.recorded_at
FROM o.order_events
WHERE order_events.stream_id = :order_id::UUID AND order_events.version > coalesce((SELECT order_snapshots.version
FROM o.order_snapshots
WHERE order_snapshots.stream_id = :order_id::UUID), 0::INTEGER) ORDER BY order_events.version;

-- orders: uow.orders.load (snapshot)
SELECT order_snapshots.state
FROM o.order_snapshots
WHERE order_snapshots.stream_id = :order_id::UUID;

-- orders: uow.local.store
SELECT local_stores.data
FROM o.local_stores
WHERE local_stores.store_id = :store::UUID;

-- orders: uow.local.offers (one query for the basket)
SELECT local_offers.product_id, local_offers.price_xaf, local_offers.listed, local_products.product_id AS known, local_products.deleted, local_products.name, local_products.unit
FROM o.local_offers LEFT OUTER JOIN o.local_products ON local_products.product_id = local_offers.product_id
WHERE local_offers.store_id = :store::UUID AND local_offers.product_id IN (:p1::UUID, :p2::UUID, :p3::UUID);

-- orders: uow.local.user_language
SELECT local_users.language
FROM o.local_users
WHERE local_users.user_id = :customer::UUID;

-- inventory: POST /v1/inventory/reservations (one transaction)
BEGIN;
INSERT INTO i.reservations (order_id, store_id, status, created_at, expires_at, updated_at, version, release_reason) VALUES (:order_id::UUID, :store::UUID, 'held'::VARCHAR, :ts::TIMESTAMP WITH TIME ZONE, :expires::TIMESTAMP WITH TIME ZONE, :ts::TIMESTAMP WITH TIME ZONE, 1::INTEGER, NULL::VARCHAR);
INSERT INTO i.reservation_lines (order_id, product_id, quantity) VALUES (:order_id::UUID, :p1::UUID, :q1::INTEGER);
INSERT INTO i.reservation_lines (order_id, product_id, quantity) VALUES (:order_id::UUID, :p2::UUID, :q2::INTEGER);
INSERT INTO i.reservation_lines (order_id, product_id, quantity) VALUES (:order_id::UUID, :p3::UUID, :q3::INTEGER);
UPDATE i.stock_items SET reserved=(stock_items.reserved + :q1::INTEGER), version=(stock_items.version + 1::INTEGER), updated_at=:ts::TIMESTAMP WITH TIME ZONE WHERE stock_items.store_id = :store::UUID AND stock_items.product_id = :p1::UUID AND stock_items.on_hand - stock_items.reserved >= :q1::INTEGER AND stock_items.listed IS true AND stock_items.removed IS false RETURNING stock_items.store_id, stock_items.product_id, stock_items.on_hand, stock_items.reserved, stock_items.low_stock_threshold, stock_items.listed, stock_items.removed, stock_items.offer_version, stock_items.version, stock_items.updated_at;
UPDATE i.stock_items SET reserved=(stock_items.reserved + :q2::INTEGER), version=(stock_items.version + 1::INTEGER), updated_at=:ts::TIMESTAMP WITH TIME ZONE WHERE stock_items.store_id = :store::UUID AND stock_items.product_id = :p2::UUID AND stock_items.on_hand - stock_items.reserved >= :q2::INTEGER AND stock_items.listed IS true AND stock_items.removed IS false RETURNING stock_items.store_id, stock_items.product_id, stock_items.on_hand, stock_items.reserved, stock_items.low_stock_threshold, stock_items.listed, stock_items.removed, stock_items.offer_version, stock_items.version, stock_items.updated_at;
UPDATE i.stock_items SET reserved=(stock_items.reserved + :q3::INTEGER), version=(stock_items.version + 1::INTEGER), updated_at=:ts::TIMESTAMP WITH TIME ZONE WHERE stock_items.store_id = :store::UUID AND stock_items.product_id = :p3::UUID AND stock_items.on_hand - stock_items.reserved >= :q3::INTEGER AND stock_items.listed IS true AND stock_items.removed IS false RETURNING stock_items.store_id, stock_items.product_id, stock_items.on_hand, stock_items.reserved, stock_items.low_stock_threshold, stock_items.listed, stock_items.removed, stock_items.offer_version, stock_items.version, stock_items.updated_at;
INSERT INTO i.outbox (message_id, schema, aggregate_id, envelope, created_at, attempts, next_attempt_at) VALUES (:msg_reserved::UUID, 'inventory.v1.StockReserved'::VARCHAR, :order_id::VARCHAR, :env_reserved::JSONB, :ts::TIMESTAMP WITH TIME ZONE, 0::INTEGER, :ts::TIMESTAMP WITH TIME ZONE) RETURNING outbox.seq;
COMMIT;

-- orders: CheckoutService.place write unit of work (events, projection, outbox; one transaction)
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO o.order_events (stream_id, version, type, data, actor_id, actor_role, reason, recorded_at) VALUES (:order_id::UUID, 1::INTEGER, 'OrderPlaced'::VARCHAR, :event_placed::JSONB, :customer::UUID, 'customer'::VARCHAR, NULL::VARCHAR, :ts::TIMESTAMP WITH TIME ZONE);
INSERT INTO o.order_events (stream_id, version, type, data, actor_id, actor_role, reason, recorded_at) VALUES (:order_id::UUID, 2::INTEGER, 'OrderConfirmed'::VARCHAR, '{}'::JSONB, :customer::UUID, 'customer'::VARCHAR, 'cash_on_delivery'::VARCHAR, :ts::TIMESTAMP WITH TIME ZONE);
INSERT INTO o.projection_tracking (projection, stream_id, version) VALUES ('orders_view'::VARCHAR, :order_id::UUID, 2::INTEGER) ON CONFLICT (projection, stream_id) DO NOTHING;
INSERT INTO o.orders_view (order_id, customer_id, store_id, rider_id, status, payment_method, payer_phone, contact_phone, total_xaf, placed_at, updated_at, version, state) VALUES (:order_id::UUID, :customer::UUID, :store::UUID, NULL::UUID, 'CONFIRMED'::VARCHAR, 'cash'::VARCHAR, NULL::VARCHAR, :contact::VARCHAR, 3050::INTEGER, :ts::TIMESTAMP WITH TIME ZONE, :ts::TIMESTAMP WITH TIME ZONE, 2::INTEGER, :view_state::JSONB);
INSERT INTO o.outbox (message_id, schema, aggregate_id, envelope, created_at, attempts, next_attempt_at) VALUES (:msg_placed::UUID, 'orders.v1.OrderPlaced'::VARCHAR, :order_id::VARCHAR, :env_placed::JSONB, :ts::TIMESTAMP WITH TIME ZONE, 0::INTEGER, :ts::TIMESTAMP WITH TIME ZONE);
INSERT INTO o.outbox (message_id, schema, aggregate_id, envelope, created_at, attempts, next_attempt_at) VALUES (:msg_confirmed::UUID, 'orders.v1.OrderConfirmed'::VARCHAR, :order_id::VARCHAR, :env_confirmed::JSONB, :ts::TIMESTAMP WITH TIME ZONE, 0::INTEGER, :ts::TIMESTAMP WITH TIME ZONE);
COMMIT;

-- orders: okada.infra.http.idempotency (store the 201 for replays; autocommit)
UPDATE o.idempotency_keys SET locked_at=NULL::TIMESTAMP WITH TIME ZONE, response_status=201::INTEGER, response_headers=:resp_headers::JSONB, response_body=:resp_body::VARCHAR WHERE idempotency_keys.scope = :customer::VARCHAR AND idempotency_keys.key = :idem_key::VARCHAR AND idempotency_keys.locked_at = :ts::TIMESTAMP WITH TIME ZONE AND idempotency_keys.response_status IS NULL;
