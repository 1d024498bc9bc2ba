//! Customers: the model, the input bodies and their rules.

use serde::{Deserialize, Serialize};

use crate::rules::Failures;
use crate::timestamp::format_micros;
use crate::ApiError;

pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;
pub const EMAIL_LOCAL_MAX: usize = 64;
pub const PHONE_MAX: usize = 32;

/// A customer as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A row of [`crate::sql::CUSTOMER_COLUMNS`]: fields are the columns' names, so both stacks
/// read it by name and a reordered column list changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct CustomerRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub created_us: i64,
    pub updated_us: i64,
}

impl From<CustomerRow> for Customer {
    fn from(row: CustomerRow) -> Self {
        Customer {
            id: row.id,
            name: row.name,
            email: row.email,
            phone: row.phone,
            created_at: format_micros(row.created_us),
            updated_at: format_micros(row.updated_us),
        }
    }
}

/// The body of `POST /customers` and `PUT /customers/{id}` as sent. Every field is optional
/// here so that a missing one is a *validation* failure listed with the others, while a wrong
/// type or an unknown field fails decoding (`invalid_body`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A customer body that passed every rule, normalised (trimmed, email lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCustomer {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

impl CustomerInput {
    pub fn validate(&self) -> Result<ValidCustomer, ApiError> {
        let mut failures = Failures::default();
        let name = failures.text("name", self.name.as_deref(), NAME_MAX);
        let email = match self.email.as_deref() {
            None => {
                failures.add("email", "is required");
                None
            }
            Some(raw) => match normalize_email(raw) {
                Ok(email) => Some(email),
                Err(message) => {
                    failures.add("email", message);
                    None
                }
            },
        };
        let phone = match self.phone.as_deref() {
            None => None,
            Some(raw) => match normalize_phone(raw) {
                Ok(phone) => Some(phone),
                Err(message) => {
                    failures.add("phone", message);
                    None
                }
            },
        };
        failures.into_result(|| ValidCustomer {
            name: name.expect("valid name"),
            email: email.expect("valid email"),
            phone,
        })
    }
}

/// The email rule: at most 254 characters, exactly one `@`, a local part of 1..=64 characters,
/// a domain with a dot and no empty label, no whitespace (nor other control characters, which
/// Postgres text could not hold anyway). Returned trimmed and lower-cased.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("is required");
    }
    if email.chars().count() > EMAIL_MAX {
        return Err("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters");
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("must contain exactly one @");
    };
    let local_len = local.chars().count();
    if local_len == 0 || local_len > EMAIL_LOCAL_MAX {
        return Err("must have a local part of 1 to 64 characters");
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err("must have a domain with a dot and no empty label");
    }
    Ok(email)
}

/// The phone rule: 1..=32 characters of `0-9 + - ( ) .` and space, at least one digit.
pub fn normalize_phone(raw: &str) -> Result<String, &'static str> {
    let phone = raw.trim();
    let len = phone.chars().count();
    if len == 0 || len > PHONE_MAX {
        return Err("must be 1 to 32 characters");
    }
    if !phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | '.' | ' '))
    {
        return Err("may contain only digits, spaces and + - ( ) .");
    }
    if !phone.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain a digit");
    }
    Ok(phone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;

    fn input(name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> CustomerInput {
        CustomerInput {
            name: name.map(Into::into),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
        }
    }

    fn failing_fields(input: CustomerInput) -> Vec<&'static str> {
        let err = input.validate().unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        err.fields.iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_valid_customer_is_trimmed_and_its_email_lower_cased() {
        let ok = input(
            Some("  Ada Lovelace "),
            Some(" Ada@Example.COM "),
            Some(" +44 (0) 20-7946.0958 "),
        )
        .validate()
        .unwrap();
        assert_eq!(ok.name, "Ada Lovelace");
        assert_eq!(ok.email, "ada@example.com");
        assert_eq!(ok.phone.as_deref(), Some("+44 (0) 20-7946.0958"));
        assert_eq!(
            input(Some("A"), Some("a@b.c"), None)
                .validate()
                .unwrap()
                .phone,
            None
        );
    }

    #[test]
    fn every_failing_field_is_listed_in_body_order() {
        assert_eq!(failing_fields(input(None, None, None)), ["name", "email"]);
        assert_eq!(
            failing_fields(input(Some(" "), Some("x"), Some("abc"))),
            ["name", "email", "phone"]
        );
    }

    #[test]
    fn name_rules() {
        assert!(input(Some(&"n".repeat(100)), Some("a@b.co"), None)
            .validate()
            .is_ok());
        assert!(input(Some(&"é".repeat(100)), Some("a@b.co"), None)
            .validate()
            .is_ok());
        assert_eq!(
            failing_fields(input(Some(&"n".repeat(101)), Some("a@b.co"), None)),
            ["name"]
        );
        assert_eq!(
            failing_fields(input(Some("a\u{7}b"), Some("a@b.co"), None)),
            ["name"]
        );
        assert_eq!(
            failing_fields(input(Some("a\nb"), Some("a@b.co"), None)),
            ["name"]
        );
    }

    #[test]
    fn email_rules() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            &format!("{}@b.co", "l".repeat(64)),
        ] {
            assert!(normalize_email(ok).is_ok(), "{ok}");
        }
        let long_domain = format!("a@{}.com", "d".repeat(250));
        for bad in [
            "",
            "plain",
            "a@@b.co",
            "a@b@c.co",
            "@b.co",
            "a@b",
            "a@.b.co",
            "a@b..co",
            "a@b.co.",
            "a b@c.co",
            "a@b\u{0}.co",
            long_domain.as_str(),
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        let long_local = format!("{}@b.co", "l".repeat(65));
        assert!(normalize_email(&long_local).is_err());
    }

    #[test]
    fn phone_rules() {
        for ok in ["1", "+1 (555) 010-9999", "555.0100", &"1".repeat(32)] {
            assert!(normalize_phone(ok).is_ok(), "{ok}");
        }
        for bad in ["", "   ", "+-()", "555-CALL", &"1".repeat(33), "12\u{0}3"] {
            assert!(normalize_phone(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decoding_tells_wrong_types_and_unknown_fields_from_missing_ones() {
        let body = |s: &str| {
            crate::http::decode_json_body::<CustomerInput>(Some("application/json"), s.as_bytes())
        };
        assert_eq!(
            body(r#"{"name": 1, "email": "a@b.co"}"#).unwrap_err().code,
            ErrorCode::InvalidBody
        );
        assert_eq!(
            body(r#"{"name": "a", "email": "a@b.co", "x": 1}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidBody
        );
        let missing = body(r#"{"name": null}"#).unwrap();
        assert_eq!(failing_fields(missing), ["name", "email"]);
    }

    proptest! {
        #[test]
        fn validation_never_panics_and_accepts_only_what_the_rules_allow(
            name in proptest::option::of(".{0,120}"),
            email in proptest::option::of(".{0,80}"),
            phone in proptest::option::of("[0-9+() .a-z-]{0,40}"),
        ) {
            let input = CustomerInput { name, email, phone };
            match input.validate() {
                Ok(c) => {
                    let n = c.name.chars().count();
                    prop_assert!((1..=NAME_MAX).contains(&n));
                    prop_assert!(!c.name.chars().any(char::is_control));
                    prop_assert_eq!(c.name.trim(), c.name.as_str());
                    prop_assert_eq!(c.email.matches('@').count(), 1);
                    prop_assert_eq!(c.email.to_lowercase(), c.email.clone());
                    if let Some(p) = c.phone {
                        prop_assert!(p.chars().any(|ch| ch.is_ascii_digit()));
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::ValidationFailed);
                    prop_assert!(!e.fields.is_empty());
                }
            }
        }

        #[test]
        fn well_formed_emails_are_accepted(
            local in "[a-z0-9._+-]{1,64}",
            labels in proptest::collection::vec("[a-z0-9-]{1,20}", 2..5),
        ) {
            let email = format!("{local}@{}", labels.join("."));
            prop_assume!(email.len() <= EMAIL_MAX);
            prop_assert_eq!(normalize_email(&email.to_uppercase()), Ok(email));
        }
    }
}
