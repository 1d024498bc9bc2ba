//! The contract's middleware layers by name, and the switch that turns some of them off to
//! measure what each one costs (`crm-bench layers`; docs/benchmark.md, "Axum's middleware,
//! layer by layer").
//!
//! **For measurement only, never for production**: a service with a layer off no longer keeps
//! the contract (no `x-crm-*` headers, framework errors without their JSON document, a panic
//! that drops the connection, no request timeout, no admission, no metrics or request spans).
//! Unset, every layer is on: the normal service.

use std::fmt;

/// One layer of [`crate::serve::contract_router`]'s stack (and the admission around its
/// routes), by the name `CRM_BENCH_LAYERS_OFF` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractLayer {
    /// `track_requests`: the request counter and duration histogram.
    Metrics,
    /// `TraceLayer`: the request's span and its response log line.
    Trace,
    /// The two `SetResponseHeaderLayer`s: `x-crm-runtime` and `x-crm-service`.
    Headers,
    /// `map_response(contract_errors)`: the JSON error document on framework errors.
    Errors,
    /// `CatchPanicLayer`: a panic answered 500 `internal`.
    CatchPanic,
    /// `TimeoutLayer`: the request timeout (`REQUEST_TIMEOUT_MS`).
    Timeout,
    /// `server_timing`: the request's timing record and its `server-timing` header.
    ServerTiming,
    /// The admission middleware around the routes (`MAX_CONCURRENT_REQUESTS`,
    /// `MAX_QUEUE_WAIT_MS`).
    Admission,
}

impl ContractLayer {
    /// Every layer, outermost first (admission, around the routes, last).
    pub const ALL: [ContractLayer; 8] = [
        ContractLayer::Metrics,
        ContractLayer::Trace,
        ContractLayer::Headers,
        ContractLayer::Errors,
        ContractLayer::CatchPanic,
        ContractLayer::Timeout,
        ContractLayer::ServerTiming,
        ContractLayer::Admission,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractLayer::Metrics => "metrics",
            ContractLayer::Trace => "trace",
            ContractLayer::Headers => "headers",
            ContractLayer::Errors => "errors",
            ContractLayer::CatchPanic => "catch_panic",
            ContractLayer::Timeout => "timeout",
            ContractLayer::ServerTiming => "server_timing",
            ContractLayer::Admission => "admission",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The layers switched off; [`LayersOff::NONE`] (the default) is the normal service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayersOff(u8);

impl LayersOff {
    /// Every layer on: the normal service.
    pub const NONE: LayersOff = LayersOff(0);

    /// Every layer off.
    pub fn all() -> LayersOff {
        ContractLayer::ALL
            .into_iter()
            .fold(LayersOff::NONE, LayersOff::with)
    }

    /// These, and `layer` off too.
    pub fn with(self, layer: ContractLayer) -> LayersOff {
        LayersOff(self.0 | layer.bit())
    }

    /// `layer` is on (not switched off).
    pub fn is_on(self, layer: ContractLayer) -> bool {
        self.0 & layer.bit() == 0
    }

    pub fn is_none(self) -> bool {
        self == LayersOff::NONE
    }

    /// The layers off, in [`ContractLayer::ALL`]'s order.
    pub fn layers(self) -> impl Iterator<Item = ContractLayer> {
        ContractLayer::ALL
            .into_iter()
            .filter(move |layer| !self.is_on(*layer))
    }

    /// `CRM_BENCH_LAYERS_OFF`'s syntax: layer names, comma-separated (blanks around them and
    /// empty items are ignored, so "" is none). An unknown name is an error naming the known
    /// ones.
    pub fn parse(value: &str) -> Result<LayersOff, String> {
        let mut off = LayersOff::NONE;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let layer = ContractLayer::ALL
                .into_iter()
                .find(|layer| layer.as_str() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = ContractLayer::ALL.iter().map(|l| l.as_str()).collect();
                    format!(
                        "unknown middleware layer \"{name}\"; the layers that can be switched \
                         off (for measurement only) are: {}",
                        known.join(", ")
                    )
                })?;
            off = off.with(layer);
        }
        Ok(off)
    }
}

/// The names, comma-separated (`CRM_BENCH_LAYERS_OFF`'s syntax); `none` when every layer is on.
impl fmt::Display for LayersOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.layers().map(ContractLayer::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_parses_to_its_layer_alone() {
        for layer in ContractLayer::ALL {
            let off = LayersOff::parse(layer.as_str()).unwrap();
            assert_eq!(off.layers().collect::<Vec<_>>(), [layer]);
            assert!(!off.is_on(layer));
            assert_eq!(off.to_string(), layer.as_str());
            let others = ContractLayer::ALL.into_iter().filter(|l| *l != layer);
            assert!(others.clone().all(|l| off.is_on(l)), "{}", layer.as_str());
        }
    }

    #[test]
    fn lists_blanks_and_round_trips() {
        assert_eq!(LayersOff::parse("").unwrap(), LayersOff::NONE);
        assert_eq!(LayersOff::parse(" , ").unwrap(), LayersOff::NONE);
        assert_eq!(LayersOff::NONE.to_string(), "none");
        let two = LayersOff::parse(" trace ,admission,trace").unwrap();
        assert_eq!(
            two,
            LayersOff::NONE
                .with(ContractLayer::Admission)
                .with(ContractLayer::Trace)
        );
        assert_eq!(two.to_string(), "trace,admission");
        let all = LayersOff::all();
        assert_eq!(LayersOff::parse(&all.to_string()).unwrap(), all);
        assert_eq!(all.layers().count(), 8);
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        for bad in ["tracing", "metrics,cors", "Trace"] {
            let e = LayersOff::parse(bad).unwrap_err();
            assert!(e.contains("unknown middleware layer"), "{bad}: {e}");
            assert!(e.contains("catch_panic, timeout, server_timing"), "{e}");
        }
    }
}
