//! Per-customer limits: message size and a token-bucket rate keyed by the customer (a visitor's
//! token, a webhook sender), so reconnecting does not refill the bucket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What one customer may send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A message's text, in UTF-8 bytes.
    pub max_text_bytes: usize,
    /// A WebSocket message or webhook body, in bytes; bigger ones end the connection (WebSocket)
    /// or get 413 (webhook).
    pub max_frame_bytes: usize,
    /// Messages a customer may send at once.
    pub burst: f64,
    /// Messages per second after the burst.
    pub per_second: f64,
    /// Refused frames after which a visitor's connection is closed.
    pub max_strikes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_bytes: 4 * 1024,
            max_frame_bytes: 64 * 1024,
            burst: 10.0,
            per_second: 2.0,
            max_strikes: 50,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key. Buckets idle long enough to be full again are forgotten.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limits: &Limits) -> Self {
        Self { burst: limits.burst, per_second: limits.per_second, buckets: Mutex::default() }
    }

    /// Takes one token for `key`; false when the bucket is empty (too fast).
    pub fn allow(&self, key: &str) -> bool {
        self.allow_at(key, Instant::now())
    }

    fn allow_at(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            let full = Duration::from_secs_f64(self.burst / self.per_second.max(1e-9));
            buckets.retain(|_, b| now.duration_since(b.at) < full);
        }
        let bucket =
            buckets.entry(key.to_owned()).or_insert(Bucket { tokens: self.burst, at: now });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_keys_are_apart() {
        let limits = Limits { burst: 3.0, per_second: 1.0, ..Limits::default() };
        let rl = RateLimiter::new(&limits);
        let t0 = Instant::now();
        assert!((0..3).all(|_| rl.allow_at("a", t0)));
        assert!(!rl.allow_at("a", t0));
        assert!(rl.allow_at("b", t0), "another customer is not affected");
        assert!(!rl.allow_at("a", t0 + Duration::from_millis(500)));
        assert!(rl.allow_at("a", t0 + Duration::from_millis(1600)));
    }
}
