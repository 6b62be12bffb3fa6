//! Retry backoff: exponential, capped, with jitter so failed tasks do not retry in lockstep.

use std::time::Duration;

/// How long a failed attempt waits before the next: `base × factor^(attempt−1)`, capped at
/// `max`, then spread by ± `jitter` (a fraction) at random.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// Growth per further failure.
    pub factor: f64,
    /// The longest wait.
    pub max: Duration,
    /// Random spread, 0–1: 0.2 means ± 20 %.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s, doubling, at most an hour, ± 20 %: 1 s, 2 s, 4 s, … (five attempts span about
    /// 15 s).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(3600),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based), with `unit` (uniform in 0–1) as the
    /// random draw.
    pub fn delay(&self, attempt: i32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).clamp(0, 64);
        let raw = self.base.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        let capped = raw.min(self.max.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * (unit.clamp(0.0, 1.0) * 2.0 - 1.0);
        Duration::from_secs_f64((capped * (1.0 + spread)).clamp(0.0, self.max.as_secs_f64()))
    }

    /// The wait after failed attempt `attempt`, with a fresh random draw.
    pub fn delay_now(&self, attempt: i32) -> Duration {
        self.delay(attempt, random_unit())
    }
}

/// A uniform draw in 0–1 from the v4 UUID generator's random source.
fn random_unit() -> f64 {
    unit_from_bits(uuid::Uuid::new_v4().as_u128() as u64)
}

/// The top 53 of 64 random bits as a uniform value in 0–1.
pub(crate) fn unit_from_bits(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_then_caps() {
        let b = Backoff {
            base: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(10),
            jitter: 0.0,
        };
        let waits: Vec<u64> = (1..=6).map(|a| b.delay(a, 0.5).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(1000, 0.5), Duration::from_secs(10), "no overflow");
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let b = Backoff {
            jitter: 0.2,
            ..Backoff::default()
        };
        assert_eq!(b.delay(3, 0.0), Duration::from_secs_f64(3.2));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs_f64(4.8));
        for _ in 0..1000 {
            let d = b.delay_now(3).as_secs_f64();
            assert!((3.2..=4.8).contains(&d), "{d}");
        }
    }
}
