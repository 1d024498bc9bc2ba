//! The report's sections, one file per part, in the order report.md reads:
//! overview (what was compared, at a glance), load (CRUD scenarios, scale, Server-Timing),
//! compute, floors, budget (capacity, latency at equal offered load, CPU per request), soak,
//! coldstart, scaling (k3d step load), footprint (memory, sizes), density, containers (the
//! container shape's own figures), errors, environment.

pub(super) mod budget;
pub(super) mod coldstart;
pub(super) mod compute;
pub(super) mod containers;
pub(super) mod density;
pub(super) mod environment;
pub(super) mod errors;
pub(super) mod floors;
pub(super) mod footprint;
pub(super) mod load;
pub(super) mod overview;
pub(super) mod scaling;
pub(super) mod soak;
