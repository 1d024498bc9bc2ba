//! Orders: the model, the status machine, the input bodies and their rules.

use serde::{Deserialize, Serialize};

use crate::rules::Failures;
use crate::timestamp::format_micros;
use crate::{ApiError, ErrorCode};

pub const PRODUCT_MAX: usize = 200;
pub const QUANTITY_RANGE: std::ops::RangeInclusive<i64> = 1..=10_000;
pub const UNIT_PRICE_RANGE: std::ops::RangeInclusive<i64> = 0..=100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The transition table: forward along pending → paid → shipped, cancel before shipping,
    /// and any status to itself.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        self == next
            || matches!(
                (self, next),
                (Pending, Paid) | (Paid, Shipped) | (Pending, Cancelled) | (Paid, Cancelled)
            )
    }

    /// The statuses an order may be in to move to `next`, as the comma-separated list the
    /// update statement takes (`status = ANY(string_to_array($6, ','))`), so the check and the
    /// write are one atomic statement.
    pub fn predecessors_param(next: OrderStatus) -> String {
        OrderStatus::ALL
            .into_iter()
            .filter(|from| from.can_become(next))
            .map(OrderStatus::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A `status` column holding none of the four (the table's CHECK forbids it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct UnknownStatus(pub String);

impl TryFrom<String> for OrderStatus {
    type Error = UnknownStatus;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        OrderStatus::parse(&s).ok_or(UnknownStatus(s))
    }
}

/// The 409 for a refused change.
pub fn invalid_transition(from: &str, to: OrderStatus) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidStatusTransition,
        format!("an order cannot change from {from} to {}", to.as_str()),
    )
}

/// An order as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub product: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub total_cents: i64,
    pub status: OrderStatus,
    pub created_at: String,
    pub updated_at: String,
}

/// A row of [`crate::sql::ORDER_COLUMNS`], read by column name (see
/// [`crate::customer::CustomerRow`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub product: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub total_cents: i64,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "String"))]
    pub status: OrderStatus,
    pub created_us: i64,
    pub updated_us: i64,
}

impl From<OrderRow> for Order {
    fn from(row: OrderRow) -> Self {
        Order {
            id: row.id,
            customer_id: row.customer_id,
            product: row.product,
            quantity: row.quantity,
            unit_price_cents: row.unit_price_cents,
            total_cents: row.total_cents,
            status: row.status,
            created_at: format_micros(row.created_us),
            updated_at: format_micros(row.updated_us),
        }
    }
}

/// The body of `POST /orders` as sent (see [`crate::customer::CustomerInput`] for why every
/// field is optional here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderInput {
    pub customer_id: Option<i64>,
    pub product: Option<String>,
    pub quantity: Option<i64>,
    pub unit_price_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNewOrder {
    pub customer_id: i64,
    pub product: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

impl NewOrderInput {
    pub fn validate(&self) -> Result<ValidNewOrder, ApiError> {
        let mut failures = Failures::default();
        let customer_id = failures.integer("customer_id", self.customer_id, 1..=i64::MAX);
        let product = failures.text("product", self.product.as_deref(), PRODUCT_MAX);
        let quantity = failures.integer("quantity", self.quantity, QUANTITY_RANGE);
        let unit_price_cents = failures.integer(
            "unit_price_cents",
            Some(self.unit_price_cents.unwrap_or(0)),
            UNIT_PRICE_RANGE,
        );
        failures.into_result(|| ValidNewOrder {
            customer_id: customer_id.expect("valid"),
            product: product.expect("valid"),
            quantity: quantity.expect("valid"),
            unit_price_cents: unit_price_cents.expect("valid"),
        })
    }
}

/// The body of `PUT /orders/{id}` as sent. `customer_id` is not a field of it: an order never
/// changes customer, so sending one is an unknown field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderUpdateInput {
    pub product: Option<String>,
    pub quantity: Option<i64>,
    pub unit_price_cents: Option<i64>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrderUpdate {
    pub product: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub status: OrderStatus,
}

impl OrderUpdateInput {
    pub fn validate(&self) -> Result<ValidOrderUpdate, ApiError> {
        let mut failures = Failures::default();
        let product = failures.text("product", self.product.as_deref(), PRODUCT_MAX);
        let quantity = failures.integer("quantity", self.quantity, QUANTITY_RANGE);
        let unit_price_cents =
            failures.integer("unit_price_cents", self.unit_price_cents, UNIT_PRICE_RANGE);
        let status = match self.status.as_deref() {
            None => {
                failures.add("status", "is required");
                None
            }
            Some(s) => {
                let parsed = OrderStatus::parse(s);
                if parsed.is_none() {
                    failures.add("status", "must be one of pending, paid, shipped, cancelled");
                }
                parsed
            }
        };
        failures.into_result(|| ValidOrderUpdate {
            product: product.expect("valid"),
            quantity: quantity.expect("valid"),
            unit_price_cents: unit_price_cents.expect("valid"),
            status: status.expect("valid"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use OrderStatus::*;

    #[test]
    fn the_transition_table_is_the_contracts() {
        let allowed = [
            (Pending, Paid),
            (Paid, Shipped),
            (Pending, Cancelled),
            (Paid, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = from == to || allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn predecessors_match_the_table() {
        assert_eq!(OrderStatus::predecessors_param(Pending), "pending");
        assert_eq!(OrderStatus::predecessors_param(Paid), "pending,paid");
        assert_eq!(OrderStatus::predecessors_param(Shipped), "paid,shipped");
        assert_eq!(
            OrderStatus::predecessors_param(Cancelled),
            "pending,paid,cancelled"
        );
    }

    #[test]
    fn new_order_defaults_the_price_and_lists_every_failure() {
        let ok = NewOrderInput {
            customer_id: Some(3),
            product: Some("  Widget ".into()),
            quantity: Some(2),
            unit_price_cents: None,
        }
        .validate()
        .unwrap();
        assert_eq!(ok.product, "Widget");
        assert_eq!(ok.unit_price_cents, 0);

        let err = NewOrderInput {
            unit_price_cents: Some(-1),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            ["customer_id", "product", "quantity", "unit_price_cents"]
        );
    }

    #[test]
    fn bounds_are_inclusive() {
        let order = |q, p| NewOrderInput {
            customer_id: Some(1),
            product: Some("p".into()),
            quantity: Some(q),
            unit_price_cents: Some(p),
        };
        assert!(order(1, 0).validate().is_ok());
        assert!(order(10_000, 100_000_000).validate().is_ok());
        assert!(order(0, 0).validate().is_err());
        assert!(order(10_001, 0).validate().is_err());
        assert!(order(1, 100_000_001).validate().is_err());
    }

    #[test]
    fn update_requires_every_field_and_a_known_status() {
        let err = OrderUpdateInput {
            status: Some("lost".into()),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            ["product", "quantity", "unit_price_cents", "status"]
        );
    }

    #[test]
    fn update_refuses_customer_id_as_an_unknown_field() {
        let err = crate::http::decode_json_body::<OrderUpdateInput>(
            Some("application/json"),
            br#"{"product":"p","quantity":1,"unit_price_cents":1,"status":"paid","customer_id":2}"#,
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidBody);
    }

    fn status() -> impl Strategy<Value = OrderStatus> {
        prop::sample::select(OrderStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn transitions_never_leave_a_final_state(from in status(), to in status()) {
            // shipped and cancelled are final: only the self-transition is allowed.
            if matches!(from, Shipped | Cancelled) {
                prop_assert_eq!(from.can_become(to), from == to);
            }
        }

        #[test]
        fn predecessors_param_agrees_with_can_become(from in status(), to in status()) {
            let list = OrderStatus::predecessors_param(to);
            prop_assert_eq!(list.split(',').any(|s| s == from.as_str()), from.can_become(to));
        }

        #[test]
        fn no_walk_ever_returns_to_pending(walk in proptest::collection::vec(status(), 1..12)) {
            let mut current = Pending;
            let mut left_pending = false;
            for next in walk {
                if current.can_become(next) {
                    left_pending |= next != Pending;
                    current = next;
                }
                prop_assert!(!(left_pending && current == Pending));
            }
        }

        #[test]
        fn new_order_validation_accepts_exactly_the_ranges(
            customer_id in proptest::option::of(any::<i64>()),
            quantity in proptest::option::of(-5i64..10_010),
            price in proptest::option::of(-5i64..100_000_010),
            product in proptest::option::of(".{0,210}"),
        ) {
            let input = NewOrderInput { customer_id, product: product.clone(), quantity, unit_price_cents: price };
            let expect_ok = customer_id.is_some_and(|c| c >= 1)
                && quantity.is_some_and(|q| QUANTITY_RANGE.contains(&q))
                && UNIT_PRICE_RANGE.contains(&price.unwrap_or(0))
                && product.as_deref().is_some_and(|p| {
                    let t = p.trim();
                    (1..=PRODUCT_MAX).contains(&t.chars().count()) && !t.chars().any(char::is_control)
                });
            prop_assert_eq!(input.validate().is_ok(), expect_ok);
        }
    }
}
