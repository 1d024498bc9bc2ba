-- The CRM schema, the one source for both stacks: applied by the Axum data services at start
-- (sqlx migrations), by `psql -f` for the Spin database, and by the Kubernetes Postgres init.
-- Idempotent, so a database initialised by psql can later be migrated by sqlx.

CREATE TABLE IF NOT EXISTS customers (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    email       TEXT        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    phone       TEXT        CHECK (char_length(phone) BETWEEN 1 AND 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- No foreign key to customers: the two tables belong to different services, and the customer
-- is checked over HTTP at write time. Deleting a customer leaves its orders in place.
CREATE TABLE IF NOT EXISTS orders (
    id               BIGSERIAL PRIMARY KEY,
    customer_id      BIGINT      NOT NULL CHECK (customer_id > 0),
    product          TEXT        NOT NULL CHECK (char_length(product) BETWEEN 1 AND 200),
    quantity         BIGINT      NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price_cents BIGINT      NOT NULL DEFAULT 0 CHECK (unit_price_cents BETWEEN 0 AND 100000000),
    total_cents      BIGINT      GENERATED ALWAYS AS (quantity * unit_price_cents) STORED,
    status           TEXT        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);
