//! Typed views of the contract's documents: a [`Customer`], an [`Order`], a page, each
//! checking its shape (exact keys, types, timestamps, `total_cents`) while it parses, so a
//! test that reads a field has checked the whole document.

use serde_json::Value;

/// Asserts `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds) with plausible field values.
#[track_caller]
pub fn assert_timestamp(value: &str) {
    let b = value.as_bytes();
    let shape_ok = b.len() == 27
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(
        shape_ok,
        "timestamp {value:?} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
    );
    let num = |range: std::ops::Range<usize>| value[range].parse::<u32>().unwrap();
    let (month, day, hour, minute, second) =
        (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    assert!(
        (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60,
        "timestamp {value:?} has an impossible field"
    );
}

/// Asserts the JSON value is an object with exactly these keys.
#[track_caller]
pub fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("expected an object, got {value}"));
    let mut actual: Vec<&str> = object.keys().map(String::as_str).collect();
    actual.sort_unstable();
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(actual, expected, "keys of {value}");
}

#[track_caller]
fn int(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is an integer in {value}"))
}

#[track_caller]
fn string(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {value}"))
        .to_string()
}

/// What every stored record owes: a positive id, both timestamps in the contract's format, and
/// `updated_at` not before `created_at`.
#[track_caller]
fn assert_record(value: &Value, id: i64, created_at: &str, updated_at: &str) {
    assert!(id >= 1, "ids are positive: {value}");
    assert_timestamp(created_at);
    assert_timestamp(updated_at);
    assert!(
        updated_at >= created_at,
        "updated_at is not before created_at: {value}"
    );
}

/// A customer as the contract returns it; `from_json` checks the shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Customer {
    #[track_caller]
    pub fn from_json(value: &Value) -> Customer {
        assert_keys(
            value,
            &["id", "name", "email", "phone", "created_at", "updated_at"],
        );
        let phone = match &value["phone"] {
            Value::Null => None,
            Value::String(p) => Some(p.clone()),
            other => panic!("phone is a string or null, not {other}"),
        };
        let customer = Customer {
            id: int(value, "id"),
            name: string(value, "name"),
            email: string(value, "email"),
            phone,
            created_at: string(value, "created_at"),
            updated_at: string(value, "updated_at"),
        };
        assert_record(
            value,
            customer.id,
            &customer.created_at,
            &customer.updated_at,
        );
        customer
    }
}

/// An order as the contract returns it; `from_json` checks the shape and `total_cents`.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub product: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub total_cents: i64,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

pub const STATUSES: [&str; 4] = ["pending", "paid", "shipped", "cancelled"];

impl Order {
    #[track_caller]
    pub fn from_json(value: &Value) -> Order {
        assert_keys(
            value,
            &[
                "id",
                "customer_id",
                "product",
                "quantity",
                "unit_price_cents",
                "total_cents",
                "status",
                "created_at",
                "updated_at",
            ],
        );
        let order = Order {
            id: int(value, "id"),
            customer_id: int(value, "customer_id"),
            product: string(value, "product"),
            quantity: int(value, "quantity"),
            unit_price_cents: int(value, "unit_price_cents"),
            total_cents: int(value, "total_cents"),
            status: string(value, "status"),
            created_at: string(value, "created_at"),
            updated_at: string(value, "updated_at"),
        };
        assert_eq!(
            order.total_cents,
            order.quantity * order.unit_price_cents,
            "total_cents = quantity * unit_price_cents: {value}"
        );
        assert!(
            STATUSES.contains(&order.status.as_str()),
            "status is one of the four: {value}"
        );
        assert_record(value, order.id, &order.created_at, &order.updated_at);
        order
    }
}

/// A page answer: `{"items", "limit", "offset"}`, echoing the effective paging.
#[track_caller]
pub fn assert_page(body: &Value, limit: i64, offset: i64) -> Vec<Value> {
    assert_keys(body, &["items", "limit", "offset"]);
    assert_eq!(body["limit"], limit, "page limit in {body}");
    assert_eq!(body["offset"], offset, "page offset in {body}");
    let items = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items is an array in {body}"))
        .clone();
    assert!(
        items.len() as i64 <= limit,
        "no more items than limit: {body}"
    );
    let ids: Vec<i64> = items.iter().map(|i| int(i, "id")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "items strictly ascending by id: {ids:?}"
    );
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_contract_format_pass() {
        assert_timestamp("2026-11-21T08:15:30.123456Z");
    }

    #[test]
    fn timestamps_in_other_formats_fail() {
        for bad in [
            "2026-11-21T08:15:30Z",
            "2026-11-21T08:15:30.123Z",
            "2026-11-21T08:15:30.123456+00:00",
            "2026-11-21 08:15:30.123456Z",
            "2026-13-21T08:15:30.123456Z",
        ] {
            let result = std::panic::catch_unwind(|| assert_timestamp(bad));
            assert!(result.is_err(), "{bad} should be refused");
        }
    }
}
