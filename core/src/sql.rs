//! Every statement either stack runs, one constant each, so both execute identical SQL.
//!
//! Parameters and columns are only `BIGINT`, `TEXT` and `NULL`, which every Postgres client
//! (sqlx natively, Spin's `pg4` in Wasm) maps the same way. Timestamps leave the database as
//! epoch microseconds and are formatted by [`crate::timestamp::format_micros`].

macro_rules! customer_columns {
    () => {
        "id, name, email, phone, \
         (EXTRACT(EPOCH FROM created_at) * 1000000)::BIGINT AS created_us, \
         (EXTRACT(EPOCH FROM updated_at) * 1000000)::BIGINT AS updated_us"
    };
}

macro_rules! order_columns {
    () => {
        "id, customer_id, product, quantity, unit_price_cents, total_cents, status, \
         (EXTRACT(EPOCH FROM created_at) * 1000000)::BIGINT AS created_us, \
         (EXTRACT(EPOCH FROM updated_at) * 1000000)::BIGINT AS updated_us"
    };
}

/// The columns of every customer row, named as [`crate::customer::CustomerRow`]'s fields: rows
/// are read by name, so the order here is free.
pub const CUSTOMER_COLUMNS: &str = customer_columns!();
/// The columns of every order row, named as [`crate::order::OrderRow`]'s fields.
pub const ORDER_COLUMNS: &str = order_columns!();

/// `$1` name, `$2` email, `$3` phone (nullable).
pub const INSERT_CUSTOMER: &str = concat!(
    "INSERT INTO customers (name, email, phone) VALUES ($1, $2, $3) RETURNING ",
    customer_columns!()
);
/// `$1` id.
pub const SELECT_CUSTOMER: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers WHERE id = $1"
);
/// `$1` limit, `$2` offset.
pub const LIST_CUSTOMERS: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers ORDER BY id LIMIT $1 OFFSET $2"
);
/// `$1` id, `$2` name, `$3` email, `$4` phone (nullable).
pub const UPDATE_CUSTOMER: &str = concat!(
    "UPDATE customers SET name = $2, email = $3, phone = $4, updated_at = now() \
     WHERE id = $1 RETURNING ",
    customer_columns!()
);
/// `$1` id; affects 0 or 1 row.
pub const DELETE_CUSTOMER: &str = "DELETE FROM customers WHERE id = $1";

/// `$1` customer_id, `$2` product, `$3` quantity, `$4` unit_price_cents.
pub const INSERT_ORDER: &str = concat!(
    "INSERT INTO orders (customer_id, product, quantity, unit_price_cents) \
     VALUES ($1, $2, $3, $4) RETURNING ",
    order_columns!()
);
/// `$1` id.
pub const SELECT_ORDER: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");
/// `$1` limit, `$2` offset.
pub const LIST_ORDERS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY id LIMIT $1 OFFSET $2"
);
/// `$1` customer_id, `$2` limit, `$3` offset.
pub const LIST_ORDERS_BY_CUSTOMER: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE customer_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
);
/// `$1` id, `$2` product, `$3` quantity, `$4` unit_price_cents, `$5` status, `$6` the statuses
/// allowed to move to `$5` ([`crate::order::OrderStatus::predecessors_param`]). The check and
/// the write are one statement: no row back means "no such order" or "refused transition",
/// which [`SELECT_ORDER_STATUS`] then tells apart.
pub const UPDATE_ORDER: &str = concat!(
    "UPDATE orders SET product = $2, quantity = $3, unit_price_cents = $4, status = $5, \
     updated_at = now() WHERE id = $1 AND status = ANY(string_to_array($6, ',')) RETURNING ",
    order_columns!()
);
/// `$1` id → status.
pub const SELECT_ORDER_STATUS: &str = "SELECT status FROM orders WHERE id = $1";
/// `$1` id; affects 0 or 1 row.
pub const DELETE_ORDER: &str = "DELETE FROM orders WHERE id = $1";

/// Readiness and `/customers/ping`.
pub const PING: &str = "SELECT 1";

/// Whether a Postgres SQLSTATE means "the database is unavailable" (503, retry later) rather
/// than a bug (500): connection exceptions, shutdowns, too many connections, read-only.
pub fn sqlstate_is_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "53400" | "25006" | "40001" | "40P01"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_use_the_shared_column_lists() {
        for sql in [
            INSERT_CUSTOMER,
            SELECT_CUSTOMER,
            LIST_CUSTOMERS,
            UPDATE_CUSTOMER,
        ] {
            assert!(sql.contains(CUSTOMER_COLUMNS), "{sql}");
        }
        for sql in [
            INSERT_ORDER,
            SELECT_ORDER,
            LIST_ORDERS,
            LIST_ORDERS_BY_CUSTOMER,
            UPDATE_ORDER,
        ] {
            assert!(sql.contains(ORDER_COLUMNS), "{sql}");
        }
    }

    /// The names rows are read by: each field of the row types is one output column.
    #[test]
    fn column_lists_name_the_row_fields() {
        let names = |columns: &str| -> Vec<String> {
            columns
                .split(", ")
                .map(|c| c.rsplit(' ').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            names(CUSTOMER_COLUMNS),
            ["id", "name", "email", "phone", "created_us", "updated_us"]
        );
        assert_eq!(
            names(ORDER_COLUMNS),
            [
                "id",
                "customer_id",
                "product",
                "quantity",
                "unit_price_cents",
                "total_cents",
                "status",
                "created_us",
                "updated_us"
            ]
        );
    }

    #[test]
    fn unavailable_sqlstates() {
        assert!(sqlstate_is_unavailable("08006"));
        assert!(sqlstate_is_unavailable("57P01"));
        assert!(sqlstate_is_unavailable("53300"));
        assert!(!sqlstate_is_unavailable("23505"));
        assert!(!sqlstate_is_unavailable("42P01"));
    }
}
