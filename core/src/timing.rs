//! The `server-timing` header: what both stacks measure, named and ordered the same way.

use std::time::Duration;

/// The phases of a request, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Getting a connection: pool acquire (Axum), `Connection::open` (Spin).
    Conn,
    /// The SQL, all statements of the request together.
    Query,
    /// Order create: the customer check over HTTP.
    Verify,
    /// JSON encoding of the answer.
    Ser,
    /// `/compute`: the Fibonacci run.
    Compute,
    /// The whole handler.
    Total,
}

impl Phase {
    const ALL: [Phase; 6] = [
        Phase::Conn,
        Phase::Query,
        Phase::Verify,
        Phase::Ser,
        Phase::Compute,
        Phase::Total,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Conn => "conn",
            Phase::Query => "query",
            Phase::Verify => "verify",
            Phase::Ser => "ser",
            Phase::Compute => "compute",
            Phase::Total => "total",
        }
    }
}

/// Durations per phase; a phase measured several times (two statements) adds up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerTiming {
    durations: [Option<Duration>; 6],
}

impl ServerTiming {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, phase: Phase, duration: Duration) {
        let slot = &mut self.durations[phase as usize];
        *slot = Some(slot.unwrap_or_default() + duration);
    }

    pub fn get(&self, phase: Phase) -> Option<Duration> {
        self.durations[phase as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.durations.iter().all(Option::is_none)
    }

    /// The header a handler's answer carries, given the handler's duration so far: `compute`
    /// alone for `/compute` (as the contract shows it); every phase plus `total` when the
    /// request touched Postgres or an upstream; none for health answers and early 4xx.
    pub fn answer_header(&mut self, handler: Duration) -> Option<String> {
        if let Some(compute) = self.get(Phase::Compute) {
            return Some(entry(Phase::Compute.name(), compute));
        }
        let touched = [Phase::Conn, Phase::Query, Phase::Verify]
            .into_iter()
            .any(|phase| self.get(phase).is_some());
        touched.then(|| {
            self.add(Phase::Total, handler);
            self.header_value()
        })
    }

    /// `conn;dur=0.412, query;dur=1.203, ser;dur=0.020, total;dur=1.700`.
    pub fn header_value(&self) -> String {
        Phase::ALL
            .into_iter()
            .filter_map(|phase| self.get(phase).map(|d| entry(phase.name(), d)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One `name;dur=ms` entry, milliseconds with three decimals.
pub fn entry(name: &str, duration: Duration) -> String {
    format!("{name};dur={:.3}", millis(duration))
}

/// Milliseconds as a float, for bodies (`compute_ms`, `conn_ms`).
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The gateway's header: the upstream's entries, then `gw;dur=`.
pub fn append_gateway(upstream: Option<&str>, round_trip: Duration) -> String {
    let gw = entry("gw", round_trip);
    match upstream.map(str::trim).filter(|s| !s.is_empty()) {
        Some(upstream) => format!("{upstream}, {gw}"),
        None => gw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_in_contract_order_whatever_the_recording_order() {
        let mut t = ServerTiming::new();
        assert!(t.is_empty());
        t.add(Phase::Verify, Duration::from_micros(2001));
        t.add(Phase::Conn, Duration::from_micros(412));
        t.add(Phase::Query, Duration::from_micros(1000));
        t.add(Phase::Query, Duration::from_micros(203));
        t.add(Phase::Total, Duration::from_micros(3801));
        t.add(Phase::Ser, Duration::from_micros(20));
        assert_eq!(
            t.header_value(),
            "conn;dur=0.412, query;dur=1.203, verify;dur=2.001, ser;dur=0.020, total;dur=3.801"
        );
    }

    #[test]
    fn answers_carry_compute_alone_all_phases_with_total_or_nothing() {
        let ms = Duration::from_millis;
        let mut t = ServerTiming::new();
        t.add(Phase::Ser, ms(1));
        assert_eq!(t.answer_header(ms(2)), None);

        let mut t = ServerTiming::new();
        t.add(Phase::Compute, ms(3));
        t.add(Phase::Ser, ms(1));
        assert_eq!(t.answer_header(ms(9)).as_deref(), Some("compute;dur=3.000"));

        let mut t = ServerTiming::new();
        t.add(Phase::Verify, ms(2));
        t.add(Phase::Ser, ms(1));
        assert_eq!(
            t.answer_header(ms(4)).as_deref(),
            Some("verify;dur=2.000, ser;dur=1.000, total;dur=4.000")
        );
    }

    #[test]
    fn the_gateway_appends_its_round_trip() {
        let d = Duration::from_micros(4250);
        assert_eq!(
            append_gateway(Some("total;dur=1.000"), d),
            "total;dur=1.000, gw;dur=4.250"
        );
        assert_eq!(append_gateway(None, d), "gw;dur=4.250");
        assert_eq!(append_gateway(Some("  "), d), "gw;dur=4.250");
    }
}
