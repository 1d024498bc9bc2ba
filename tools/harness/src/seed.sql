-- The benchmark's rows, the same for every stack: :customers customers and :orders orders with
-- fixed timestamps (crm_harness::pg::seed substitutes the two counts).
TRUNCATE customers, orders RESTART IDENTITY;
INSERT INTO customers (name, email, phone, created_at, updated_at)
SELECT 'Seed Customer ' || g, 'seed.customer' || g || '@example.com',
       CASE WHEN g % 3 = 0 THEN NULL ELSE '+1 555 ' || lpad(g::text, 7, '0') END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, :customers) AS g;
INSERT INTO orders (customer_id, product, quantity, unit_price_cents, status, created_at, updated_at)
SELECT 1 + (g * 7919) % :customers, 'Seed product ' || (g % 97), 1 + g % 9, 100 * (1 + g % 250),
       (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + g % 4],
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, :orders) AS g;
ANALYZE customers;
ANALYZE orders;
