//! Any bytes as a POST/PUT body, with any content-type: decoding and validation either succeed
//! or fail with a contract code of status 400, 413 or 415, and never panic.
#![no_main]

use crm_core::customer::CustomerInput;
use crm_core::http::decode_json_body;
use crm_core::order::{NewOrderInput, OrderUpdateInput};
use libfuzzer_sys::fuzz_target;

fn check<T: serde::de::DeserializeOwned>(
    ct: Option<&str>,
    body: &[u8],
    validate: impl Fn(&T) -> Option<u16>,
) {
    match decode_json_body::<T>(ct, body) {
        Ok(input) => {
            if let Some(status) = validate(&input) {
                assert_eq!(status, 400);
            }
        }
        Err(err) => assert!(matches!(err.status(), 400 | 413 | 415), "{err:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.split_first() {
        Some((selector, rest)) if selector % 4 == 0 => (Some("text/plain"), rest),
        Some((selector, rest)) if selector % 4 == 1 => (None, rest),
        Some((_, rest)) => (Some("application/json"), rest),
        None => (Some("application/json"), data),
    };
    check::<CustomerInput>(ct, body, |i| i.validate().err().map(|e| e.status()));
    check::<NewOrderInput>(ct, body, |i| i.validate().err().map(|e| e.status()));
    check::<OrderUpdateInput>(ct, body, |i| i.validate().err().map(|e| e.status()));
});
