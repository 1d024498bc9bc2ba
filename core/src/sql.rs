//! Every statement either stack runs, one constant each, so both execute identical SQL; and for
//! each a function that returns it as a [`Statement`] with its parameters in bind order, so that
//! order is written once, here, and each stack only maps [`Param`]s to its driver's values.
//!
//! Parameters and columns are only `BIGINT`, `TEXT` and `NULL`, which every Postgres client
//! (sqlx natively, Spin's `pg4` in Wasm) maps the same way. Timestamps leave the database as
//! epoch microseconds and are formatted by [`crate::timestamp::format_micros`].

use std::borrow::Cow;

use crate::customer::ValidCustomer;
use crate::order::{OrderStatus, ValidNewOrder, ValidOrderUpdate};
use crate::params::Paging;

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

pub const INSERT_CUSTOMER: &str = concat!(
    "INSERT INTO customers (name, email, phone) VALUES ($1, $2, $3) RETURNING ",
    customer_columns!()
);
pub const SELECT_CUSTOMER: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers WHERE id = $1"
);
pub const LIST_CUSTOMERS: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers ORDER BY id LIMIT $1 OFFSET $2"
);
pub const UPDATE_CUSTOMER: &str = concat!(
    "UPDATE customers SET name = $2, email = $3, phone = $4, updated_at = now() \
     WHERE id = $1 RETURNING ",
    customer_columns!()
);
/// Affects 0 or 1 row.
pub const DELETE_CUSTOMER: &str = "DELETE FROM customers WHERE id = $1";

pub const INSERT_ORDER: &str = concat!(
    "INSERT INTO orders (customer_id, product, quantity, unit_price_cents) \
     VALUES ($1, $2, $3, $4) RETURNING ",
    order_columns!()
);
pub const SELECT_ORDER: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");
pub const LIST_ORDERS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY id LIMIT $1 OFFSET $2"
);
pub const LIST_ORDERS_BY_CUSTOMER: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE customer_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
);
/// The transition's check and the write are one statement: no row back means "no such order"
/// or "refused transition", which [`SELECT_ORDER_STATUS`] then tells apart.
pub const UPDATE_ORDER: &str = concat!(
    "UPDATE orders SET product = $2, quantity = $3, unit_price_cents = $4, status = $5, \
     updated_at = now() WHERE id = $1 AND status = ANY(string_to_array($6, ',')) RETURNING ",
    order_columns!()
);
/// The order's status only.
pub const SELECT_ORDER_STATUS: &str = "SELECT status FROM orders WHERE id = $1";
/// Affects 0 or 1 row.
pub const DELETE_ORDER: &str = "DELETE FROM orders WHERE id = $1";

/// Readiness and `/customers/ping`.
pub const PING: &str = "SELECT 1";

/// One parameter, as both stacks bind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param<'a> {
    /// `BIGINT`.
    Int(i64),
    /// `TEXT`.
    Text(Cow<'a, str>),
    /// `TEXT` or `NULL`.
    NullableText(Option<&'a str>),
}

/// A statement and its parameters, `params[0]` bound to `$1` and so on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'static str,
    pub params: Vec<Param<'a>>,
}

fn text(value: &str) -> Param<'_> {
    Param::Text(Cow::Borrowed(value))
}

pub fn insert_customer(customer: &ValidCustomer) -> Statement<'_> {
    Statement {
        sql: INSERT_CUSTOMER,
        params: vec![
            text(&customer.name),
            text(&customer.email),
            Param::NullableText(customer.phone.as_deref()),
        ],
    }
}

pub fn select_customer(id: i64) -> Statement<'static> {
    Statement {
        sql: SELECT_CUSTOMER,
        params: vec![Param::Int(id)],
    }
}

pub fn list_customers(paging: Paging) -> Statement<'static> {
    Statement {
        sql: LIST_CUSTOMERS,
        params: vec![Param::Int(paging.limit), Param::Int(paging.offset)],
    }
}

pub fn update_customer(id: i64, customer: &ValidCustomer) -> Statement<'_> {
    Statement {
        sql: UPDATE_CUSTOMER,
        params: vec![
            Param::Int(id),
            text(&customer.name),
            text(&customer.email),
            Param::NullableText(customer.phone.as_deref()),
        ],
    }
}

pub fn delete_customer(id: i64) -> Statement<'static> {
    Statement {
        sql: DELETE_CUSTOMER,
        params: vec![Param::Int(id)],
    }
}

pub fn insert_order(order: &ValidNewOrder) -> Statement<'_> {
    Statement {
        sql: INSERT_ORDER,
        params: vec![
            Param::Int(order.customer_id),
            text(&order.product),
            Param::Int(order.quantity),
            Param::Int(order.unit_price_cents),
        ],
    }
}

pub fn select_order(id: i64) -> Statement<'static> {
    Statement {
        sql: SELECT_ORDER,
        params: vec![Param::Int(id)],
    }
}

/// Every order, or a customer's only.
pub fn list_orders(customer_id: Option<i64>, paging: Paging) -> Statement<'static> {
    let page = [Param::Int(paging.limit), Param::Int(paging.offset)];
    match customer_id {
        Some(customer_id) => Statement {
            sql: LIST_ORDERS_BY_CUSTOMER,
            params: [Param::Int(customer_id)].into_iter().chain(page).collect(),
        },
        None => Statement {
            sql: LIST_ORDERS,
            params: page.into(),
        },
    }
}

/// The update, guarded by the statuses allowed to move to the new one
/// ([`OrderStatus::predecessors_param`]).
pub fn update_order(id: i64, order: &ValidOrderUpdate) -> Statement<'_> {
    Statement {
        sql: UPDATE_ORDER,
        params: vec![
            Param::Int(id),
            text(&order.product),
            Param::Int(order.quantity),
            Param::Int(order.unit_price_cents),
            text(order.status.as_str()),
            Param::Text(Cow::Owned(OrderStatus::predecessors_param(order.status))),
        ],
    }
}

pub fn select_order_status(id: i64) -> Statement<'static> {
    Statement {
        sql: SELECT_ORDER_STATUS,
        params: vec![Param::Int(id)],
    }
}

pub fn delete_order(id: i64) -> Statement<'static> {
    Statement {
        sql: DELETE_ORDER,
        params: vec![Param::Int(id)],
    }
}

pub fn ping() -> Statement<'static> {
    Statement {
        sql: PING,
        params: Vec::new(),
    }
}

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

    /// Each statement binds exactly the parameters its SQL numbers, `$1` to `$n`.
    #[test]
    fn statements_bind_every_placeholder() {
        let customer = ValidCustomer {
            name: "a".into(),
            email: "a@b.c".into(),
            phone: None,
        };
        let order = ValidNewOrder {
            customer_id: 1,
            product: "p".into(),
            quantity: 1,
            unit_price_cents: 1,
        };
        let update = ValidOrderUpdate {
            product: "p".into(),
            quantity: 1,
            unit_price_cents: 1,
            status: OrderStatus::Paid,
        };
        let paging = Paging {
            limit: 1,
            offset: 0,
        };
        for statement in [
            insert_customer(&customer),
            select_customer(1),
            list_customers(paging),
            update_customer(1, &customer),
            delete_customer(1),
            insert_order(&order),
            select_order(1),
            list_orders(None, paging),
            list_orders(Some(1), paging),
            update_order(1, &update),
            select_order_status(1),
            delete_order(1),
            ping(),
        ] {
            let placeholders = (1..=statement.params.len() + 1)
                .take_while(|n| statement.sql.contains(&format!("${n}")))
                .count();
            assert_eq!(placeholders, statement.params.len(), "{}", statement.sql);
        }
    }

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
