//! Latency samples and their percentiles.

use std::time::Duration;

use serde_json::{json, Value};

#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.micros.push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `p`-th percentile (0..=100) in milliseconds (nearest rank); 0 when empty.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros.sort_unstable();
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        self.micros[rank.clamp(1, self.micros.len()) - 1] as f64 / 1000.0
    }

    /// `{"p50":…,"p95":…,"p99":…,"max":…}` in ms, rounded to 0.1 ms.
    pub fn summary(&mut self) -> Value {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        json!({
            "n": self.len(),
            "p50": r(self.percentile_ms(50.0)),
            "p95": r(self.percentile_ms(95.0)),
            "p99": r(self.percentile_ms(99.0)),
            "max": r(self.percentile_ms(100.0)),
        })
    }
}

/// `p50 1.2 ms, p95 3.4 ms, p99 5.6 ms, max 7.8 ms`.
pub fn describe(summary: &Value) -> String {
    let f = |k: &str| summary.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    format!("p50 {} ms, p95 {} ms, p99 {} ms, max {} ms", f("p50"), f("p95"), f("p99"), f("max"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(100.0), 100.0);
        assert_eq!(Latencies::default().percentile_ms(99.0), 0.0);
    }
}
