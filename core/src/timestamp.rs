//! The contract's timestamps: RFC 3339, UTC, microseconds, `Z`.
//!
//! The SQL returns epoch microseconds (`BIGINT`), so both stacks format the same integer here
//! and print identical text, whatever their database driver's date types.

use time::OffsetDateTime;

/// `1795248930123456` → `2026-11-21T08:15:30.123456Z`.
pub fn format_micros(micros: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .expect("an i64 of microseconds is always a representable instant");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_microseconds_and_z() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_micros(1_795_248_930_123_456),
            "2026-11-21T08:15:30.123456Z"
        );
        assert_eq!(
            format_micros(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(format_micros(-1), "1969-12-31T23:59:59.999999Z");
    }
}
