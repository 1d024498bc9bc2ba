//! Any upstream answer (status and body): the gateway's verdict and the order service's
//! customer check never panic, and what they substitute is a 5xx contract error.
#![no_main]

use crm_core::upstream::{customer_check, gateway_verdict, GatewayVerdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((hi, rest)) = data.split_first() else {
        return;
    };
    let Some((lo, body)) = rest.split_first() else {
        return;
    };
    let status = 100 + (u16::from_be_bytes([*hi, *lo]) % 500);
    match gateway_verdict("customer-service", status, body) {
        GatewayVerdict::PassThrough => {}
        GatewayVerdict::Replace(err) => assert_eq!(err.status(), 502),
    }
    if let Err(err) = customer_check(1, status, body) {
        // 503 only for customer-service's own `overloaded`, passed on as the order service's.
        assert!(matches!(err.status(), 400 | 502 | 503));
    }
});
