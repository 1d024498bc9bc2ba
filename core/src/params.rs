//! Path and query parameters: ids, paging, the order filter, and `/compute`'s `n` and `algo`.

use crate::compute::Algo;
use crate::ApiError;

pub const LIMIT_DEFAULT: i64 = 20;
pub const LIMIT_MAX: i64 = 100;
pub const OFFSET_MAX: i64 = 1_000_000;
pub const N_DEFAULT: u64 = 1000;
pub const N_MAX_ITERATIVE: u64 = 100_000_000;
pub const N_MAX_RECURSIVE: u64 = 40;

/// An id from the path: a positive decimal integer that fits in `BIGINT`, digits only.
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    parse_positive(raw).ok_or_else(|| {
        ApiError::invalid_parameter(format!("id must be a positive integer, got {raw:?}"))
    })
}

fn parse_positive(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|&id| id > 0)
}

/// The decoded query string. The first occurrence of a parameter wins; unknown ones are
/// ignored.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn integer(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        raw.parse::<i64>()
            .ok()
            .filter(|v| range.contains(v) && !raw.starts_with('+'))
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "{name} must be an integer from {} to {}, got {raw:?}",
                    range.start(),
                    range.end()
                ))
            })
    }
}

/// `limit` and `offset` of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    pub fn from_query(query: &Query) -> Result<Paging, ApiError> {
        Ok(Paging {
            limit: query.integer("limit", LIMIT_DEFAULT, 1..=LIMIT_MAX)?,
            offset: query.integer("offset", 0, 0..=OFFSET_MAX)?,
        })
    }
}

/// `GET /orders?customer_id=&limit=&offset=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderListQuery {
    pub customer_id: Option<i64>,
    pub paging: Paging,
}

impl OrderListQuery {
    pub fn parse(raw: Option<&str>) -> Result<OrderListQuery, ApiError> {
        let query = Query::parse(raw);
        let customer_id = match query.get("customer_id") {
            None => None,
            Some(raw) => Some(parse_positive(raw).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "customer_id must be a positive integer, got {raw:?}"
                ))
            })?),
        };
        Ok(OrderListQuery {
            customer_id,
            paging: Paging::from_query(&query)?,
        })
    }
}

/// `GET /customers?limit=&offset=`.
pub fn parse_paging(raw: Option<&str>) -> Result<Paging, ApiError> {
    Paging::from_query(&Query::parse(raw))
}

/// `GET /compute?n=&algo=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeQuery {
    pub n: u64,
    pub algo: Algo,
}

impl ComputeQuery {
    pub fn parse(raw: Option<&str>) -> Result<ComputeQuery, ApiError> {
        let query = Query::parse(raw);
        let algo = match query.get("algo") {
            None => Algo::Iterative,
            Some(raw) => Algo::parse(raw).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "algo must be iterative or recursive, got {raw:?}"
                ))
            })?,
        };
        let max = match algo {
            Algo::Iterative => N_MAX_ITERATIVE,
            Algo::Recursive => N_MAX_RECURSIVE,
        };
        let n = match query.get("n") {
            // The default (1000) is beyond the recursive bound (40): running it would pin a
            // CPU for longer than the universe has left, so `algo=recursive` needs an explicit n.
            None if N_DEFAULT > max => {
                return Err(ApiError::invalid_parameter(format!(
                    "n is required with algo={}: its default {N_DEFAULT} is over {max}",
                    algo.as_str()
                )))
            }
            None => N_DEFAULT,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max && !raw.starts_with('+'))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(format!(
                        "n must be an integer from 0 to {max} for algo={}, got {raw:?}",
                        algo.as_str()
                    ))
                })?,
        };
        Ok(ComputeQuery { n, algo })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;

    #[test]
    fn ids() {
        assert_eq!(parse_id("1"), Ok(1));
        assert_eq!(parse_id("007"), Ok(7));
        assert_eq!(parse_id("9223372036854775807"), Ok(i64::MAX));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.5",
            "abc",
            "ping",
            "9223372036854775808",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_id(bad).unwrap_err().code,
                ErrorCode::InvalidParameter,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(
            parse_paging(None),
            Ok(Paging {
                limit: 20,
                offset: 0
            })
        );
        assert_eq!(
            parse_paging(Some("limit=100&offset=1000000&other=x")),
            Ok(Paging {
                limit: 100,
                offset: 1_000_000
            })
        );
        assert_eq!(parse_paging(Some("limit=5&limit=500")).unwrap().limit, 5);
        for bad in [
            "limit=0",
            "limit=101",
            "limit=",
            "limit=ten",
            "offset=-1",
            "offset=1000001",
            "limit=1.0",
            "limit=+5",
        ] {
            assert!(parse_paging(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_filter() {
        let q = OrderListQuery::parse(Some("customer_id=42&limit=3")).unwrap();
        assert_eq!(q.customer_id, Some(42));
        assert_eq!(q.paging.limit, 3);
        assert_eq!(OrderListQuery::parse(None).unwrap().customer_id, None);
        for bad in ["customer_id=0", "customer_id=x", "customer_id="] {
            assert!(OrderListQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn compute_parameters() {
        assert_eq!(
            ComputeQuery::parse(None),
            Ok(ComputeQuery {
                n: 1000,
                algo: Algo::Iterative
            })
        );
        assert_eq!(
            ComputeQuery::parse(Some("n=40&algo=recursive")).unwrap().n,
            40
        );
        assert_eq!(
            ComputeQuery::parse(Some("n=100000000")).unwrap().n,
            100_000_000
        );
        for bad in [
            "n=41&algo=recursive",
            // the default n (1000) is out of the recursive range
            "algo=recursive",
            "algo=recursive&N=5",
            "n=100000001",
            "n=-1",
            "n=abc",
            "n=",
            "algo=fast",
            "algo=",
        ] {
            assert!(ComputeQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_id_string_parses_or_is_invalid_parameter(raw in "\\PC{0,25}") {
            match parse_id(&raw) {
                Ok(id) => {
                    prop_assert!(id > 0);
                    prop_assert_eq!(raw.trim_start_matches('0'), id.to_string());
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidParameter),
            }
        }

        #[test]
        fn any_query_string_never_panics(raw in "\\PC{0,60}") {
            let _ = parse_paging(Some(&raw));
            let _ = OrderListQuery::parse(Some(&raw));
            let _ = ComputeQuery::parse(Some(&raw));
        }

        #[test]
        fn in_range_paging_round_trips(limit in 1i64..=100, offset in 0i64..=1_000_000) {
            let q = format!("offset={offset}&limit={limit}");
            prop_assert_eq!(parse_paging(Some(&q)), Ok(Paging { limit, offset }));
        }
    }
}
