//! Any text as a path id or a query string: parsed, or refused with 400 `invalid_parameter`,
//! never a panic; what parses is within the contract's bounds.
#![no_main]

use crm_core::params::{parse_id, parse_paging, ComputeQuery, OrderListQuery};
use crm_core::ErrorCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_id(text) {
        Ok(id) => assert!(id > 0),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidParameter),
    }
    if let Ok(p) = parse_paging(Some(text)) {
        assert!((1..=100).contains(&p.limit) && (0..=1_000_000).contains(&p.offset));
    }
    if let Ok(q) = OrderListQuery::parse(Some(text)) {
        assert!(q.customer_id.is_none_or(|c| c > 0));
    }
    if let Ok(q) = ComputeQuery::parse(Some(text)) {
        assert!(q.n <= 100_000_000);
    }
});
