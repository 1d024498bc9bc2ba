//! The CPU-bound endpoint: Fibonacci two ways.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    Iterative,
    Recursive,
}

impl Algo {
    pub fn as_str(self) -> &'static str {
        match self {
            Algo::Iterative => "iterative",
            Algo::Recursive => "recursive",
        }
    }

    pub fn parse(s: &str) -> Option<Algo> {
        match s {
            "iterative" => Some(Algo::Iterative),
            "recursive" => Some(Algo::Recursive),
            _ => None,
        }
    }

    pub fn run(self, n: u64) -> u64 {
        match self {
            Algo::Iterative => fib_iterative(n),
            Algo::Recursive => fib_recursive(n),
        }
    }
}

/// fib(n) by a u64 loop with wrapping addition: O(n), and past fib(93) the value wraps, as the
/// contract says.
pub fn fib_iterative(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    a
}

/// fib(n) by the naive doubly recursive definition: O(φ^n) calls, the point of the benchmark.
pub fn fib_recursive(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_recursive(n - 1).wrapping_add(fib_recursive(n - 2))
    }
}

/// `GET /compute`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeResult {
    pub n: u64,
    pub algo: Algo,
    pub result: String,
    pub compute_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let known = [
            (0, 0),
            (1, 1),
            (2, 1),
            (10, 55),
            (20, 6765),
            (40, 102_334_155),
        ];
        for (n, value) in known {
            assert_eq!(fib_iterative(n), value, "iterative {n}");
        }
        for (n, value) in &known[..5] {
            assert_eq!(fib_recursive(*n), *value, "recursive {n}");
        }
        assert_eq!(fib_iterative(93), 12_200_160_415_121_876_738);
    }

    #[test]
    fn the_iterative_loop_wraps_past_93() {
        // fib(94) = fib(93) + fib(92) overflows u64 and wraps.
        let expected = 12_200_160_415_121_876_738u64.wrapping_add(7_540_113_804_746_346_429);
        assert_eq!(fib_iterative(94), expected);
    }

    #[test]
    fn both_algorithms_agree() {
        for n in 0..=25 {
            assert_eq!(fib_iterative(n), fib_recursive(n), "{n}");
        }
    }
}
