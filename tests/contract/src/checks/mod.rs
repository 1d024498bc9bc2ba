//! The checks that run on more than one service, each a function of the [`crate::Api`] it
//! checks: the gateway selection's targets (`tests/customers.rs`, …) run each on the gateway,
//! `tests/data_services.rs` on customer-service and order-service, both through
//! [`crate::for_each_target!`]. Kept here, not in a test target, because one function serves
//! targets of both kinds.

pub mod customers;
pub mod errors;
pub mod health;
pub mod hostile;
pub mod orders;
