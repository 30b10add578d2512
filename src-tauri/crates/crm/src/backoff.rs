//! Retry timing: full-jitter exponential backoff, `Retry-After`, and the circuit breaker.

use std::time::{Duration, SystemTime};

use closer_dialogue::Millis;
use rand::Rng;

/// Full jitter (AWS architecture blog): a uniform delay in `[0, min(cap, base · 2^(attempt-1))]`.
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(30));
    let ceiling = exp.min(cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=ms))
}

/// `Retry-After` as seconds or an HTTP date, relative to `now`. Past dates give zero; a number
/// of seconds beyond `Duration`'s range gives the longest `Duration` (found by the property
/// tests: `Duration::from_secs_f64` panicked on `18446744073709551616` or `1e20`). Decimal
/// fractions and exponents are read too; one beyond `f64` (`1e400`) is unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::MAX);
    }
    if let Ok(secs) = value.parse::<f64>() {
        // `+ 0.0` makes `-0` zero; what is left to fail is only too big.
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs + 0.0).unwrap_or(Duration::MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The breaker's persistent state: consecutive failed batches and, while open, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breaker {
    pub failures: u32,
    pub open_until: Option<Millis>,
    /// How many times in a row it opened (the cool-down doubles each time).
    pub trips: u32,
}

/// What the breaker allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Closed: send full batches.
    Closed,
    /// Open: send nothing before this time.
    Open { until: Millis },
    /// Cool-down over: one probe (a batch of one) decides.
    Probe,
}

impl Breaker {
    pub fn gate(&self, now: Millis) -> Gate {
        match self.open_until {
            None => Gate::Closed,
            Some(until) if now < until => Gate::Open { until },
            Some(_) => Gate::Probe,
        }
    }

    pub fn success(&mut self) {
        *self = Self::default();
    }

    /// A batch that reached nothing. Opens after `threshold` in a row; a failed probe re-opens
    /// with a doubled cool-down (capped).
    pub fn failure(&mut self, now: Millis, threshold: u32, cooldown: Duration, cap: Duration) {
        self.failures = self.failures.saturating_add(1);
        let probing = self.open_until.is_some();
        if probing || self.failures >= threshold {
            self.trips = self.trips.saturating_add(1);
            let wait = cooldown.saturating_mul(1u32 << (self.trips - 1).min(16)).min(cap);
            self.open_until = Some(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2));
        }
    }

    pub fn encode(&self) -> String {
        format!("{} {} {}", self.failures, self.open_until.unwrap_or(-1), self.trips)
    }

    pub fn decode(s: &str) -> Self {
        let mut it = s.split_whitespace().map(|p| p.parse::<i64>().unwrap_or(0));
        let failures = u32::try_from(it.next().unwrap_or(0)).unwrap_or(0);
        let open = it.next().unwrap_or(-1);
        let trips = u32::try_from(it.next().unwrap_or(0)).unwrap_or(0);
        Self { failures, open_until: (open >= 0).then_some(open), trips }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn full_jitter_stays_under_the_capped_exponential() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(60);
        let mut max_seen = [Duration::ZERO; 12];
        for attempt in 1..=12u32 {
            for _ in 0..200 {
                let d = full_jitter(attempt, base, cap, &mut rng);
                let ceiling = (base * 2u32.pow(attempt - 1)).min(cap);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
                max_seen[attempt as usize - 1] = max_seen[attempt as usize - 1].max(d);
            }
        }
        // Jitter spreads: late attempts reach well past the early ceilings, never past the cap.
        assert!(max_seen[11] > Duration::from_secs(30));
        assert!(max_seen[0] <= base);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn breaker_opens_after_threshold_probes_once_and_doubles() {
        let (cool, cap) = (Duration::from_secs(10), Duration::from_secs(300));
        let mut b = Breaker::default();
        for i in 0..4 {
            b.failure(1_000 + i, 5, cool, cap);
            assert_eq!(b.gate(1_000 + i), Gate::Closed);
        }
        b.failure(2_000, 5, cool, cap);
        assert_eq!(b.gate(2_001), Gate::Open { until: 12_000 });
        assert_eq!(b.gate(12_000), Gate::Probe);
        b.failure(12_000, 5, cool, cap); // the probe failed
        assert_eq!(b.gate(12_001), Gate::Open { until: 32_000 });
        assert_eq!(Breaker::decode(&b.encode()), b);
        b.success();
        assert_eq!(b.gate(12_001), Gate::Closed);
        assert_eq!(Breaker::decode(""), Breaker::default());
    }
}
