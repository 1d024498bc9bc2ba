//! Building blocks of the field rules, shared by customers and orders.

use crate::FieldError;

/// Collects every failing field of one body, in body order.
#[derive(Default)]
pub(crate) struct Failures(pub(crate) Vec<FieldError>);

impl Failures {
    pub(crate) fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push(FieldError {
            field,
            message: message.into(),
        });
    }

    /// A required string: trimmed, 1..=`max` characters, no control characters.
    pub(crate) fn text(
        &mut self,
        field: &'static str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let Some(value) = value else {
            self.add(field, "is required");
            return None;
        };
        let value = value.trim();
        let len = value.chars().count();
        if len == 0 || len > max {
            self.add(field, format!("must be 1 to {max} characters"));
            return None;
        }
        if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
            return None;
        }
        Some(value.to_owned())
    }

    /// A required integer within `range`.
    pub(crate) fn integer(
        &mut self,
        field: &'static str,
        value: Option<i64>,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let Some(value) = value else {
            self.add(field, "is required");
            return None;
        };
        if !range.contains(&value) {
            let message = if *range.end() == i64::MAX {
                format!("must be at least {}", range.start())
            } else {
                format!("must be between {} and {}", range.start(), range.end())
            };
            self.add(field, message);
            return None;
        }
        Some(value)
    }

    pub(crate) fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, crate::ApiError> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(crate::ApiError::validation(self.0))
        }
    }
}
