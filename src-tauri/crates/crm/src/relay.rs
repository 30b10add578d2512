//! The relay: drains the outbox into a [`Crm`], batch by batch, at least once.
//!
//! Each round: wait for the Retry-After horizon and the breaker; claim up to a batch of due
//! changes (one per lead; a single probe while the breaker is half-open); send; settle every
//! change in one store transaction. Delivered → done; rejected → dead letter with the reason;
//! throttled → the whole CRM waits out Retry-After; failed → that change backs off with full
//! jitter, and a batch that reached nothing counts towards opening the breaker. The horizon and
//! the breaker live in the store (`relay_state`), so a restart keeps honouring them; a change
//! claimed but not settled when the process died is simply due again (the CRM upserts by our
//! stable key, so a repeat is harmless).

use std::sync::Arc;
use std::time::Duration;

use closer_dialogue::Millis;
use rand::SeedableRng;
use tokio::sync::{Notify, watch};

use crate::backoff::{Breaker, Gate, full_jitter};
use crate::{Change, Crm, Outcome};

/// The store side of the relay (implemented by `app` over `closer_store::Store`).
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` due changes, one per lead, each counting an attempt.
    fn claim(&self, now: Millis, limit: usize) -> Result<Vec<(Change, i64)>, OutboxError>;
    fn settle(&self, now: Millis, settlements: &[Settlement]) -> Result<(), OutboxError>;
    /// When the next waiting change falls due.
    fn next_due(&self) -> Result<Option<Millis>, OutboxError>;
    fn load(&self, key: &str) -> Result<Option<String>, OutboxError>;
    fn save(&self, key: &str, value: &str) -> Result<(), OutboxError>;
}

/// A store failure, as text (the store's own error type stays in the store).
#[derive(Debug, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(pub String);

/// What the relay decided for one change.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    Delivered { id: i64, crm_id: Option<String> },
    Retry { id: i64, at: Millis, error: String },
    Dead { id: i64, reason: String },
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub batch_size: usize,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Failed batches in a row that open the breaker.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub breaker_cap: Duration,
    /// The longest sleep when nothing is due (a nudge wakes it sooner).
    pub idle_poll: Duration,
}

impl RelayConfig {
    pub fn for_crm(crm: &Crm) -> Self {
        Self {
            batch_size: crm.batch_size(),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(15),
            breaker_cap: Duration::from_secs(600),
            idle_poll: Duration::from_secs(30),
        }
    }
}

const NOT_BEFORE: &str = "not_before";
const BREAKER: &str = "breaker";

/// Wakes or stops a running relay.
#[derive(Debug, Clone)]
pub struct RelayHandle {
    nudge: Arc<Notify>,
    stop: watch::Sender<bool>,
}

impl RelayHandle {
    /// A change was queued: look now instead of at the next poll.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.nudge.notify_one();
    }
}

/// Counts of one round, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub delivered: usize,
    pub dead: usize,
    pub retried: usize,
    pub throttled: bool,
}

#[derive(Debug)]
pub struct Relay<O: Outbox> {
    outbox: Arc<O>,
    crm: Crm,
    config: RelayConfig,
    clock: fn() -> Millis,
    rng: rand::rngs::StdRng,
}

/// Wall-clock milliseconds (the relay's default clock).
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The longest a 429 makes the relay wait: a broken or hostile `Retry-After` (years, or beyond
/// u64 seconds) must not stop CRM sync for good; a day covers real daily quotas.
pub const MAX_THROTTLE: Duration = Duration::from_secs(24 * 3600);

fn ms(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

impl<O: Outbox> Relay<O> {
    pub fn new(outbox: Arc<O>, crm: Crm, config: RelayConfig) -> Self {
        Self { outbox, crm, config, clock: now_millis, rng: rand::rngs::StdRng::from_os_rng() }
    }

    /// Runs until stopped. Returns the handle first through `spawn`.
    pub fn spawn(self) -> (RelayHandle, tokio::task::JoinHandle<()>) {
        let nudge = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let handle = RelayHandle { nudge: nudge.clone(), stop };
        let task = tokio::spawn(self.run(nudge, stopped));
        (handle, task)
    }

    async fn run(mut self, nudge: Arc<Notify>, stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            let wait = match self.round().await {
                Ok(Some(round)) if round.sent > 0 && !round.throttled => Duration::ZERO,
                Ok(_) => self.until_next().unwrap_or(self.config.idle_poll),
                Err(e) => {
                    tracing::warn!(error = %e, "crm relay: store error");
                    Duration::from_secs(1)
                }
            };
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = nudge.notified() => {}
                }
            }
        }
    }

    /// How long until something may be sent: the horizon, the breaker, the next due change.
    fn until_next(&self) -> Result<Duration, OutboxError> {
        let now = (self.clock)();
        let mut at = self.outbox.next_due()?.unwrap_or(now + ms(self.config.idle_poll));
        let not_before = self.not_before()?;
        at = at.max(not_before);
        if let Gate::Open { until } = self.breaker()?.gate(now) {
            at = at.max(until);
        }
        let wait = Duration::from_millis(u64::try_from((at - now).max(0)).unwrap_or(0));
        Ok(wait.min(self.config.idle_poll))
    }

    fn not_before(&self) -> Result<Millis, OutboxError> {
        Ok(self.outbox.load(NOT_BEFORE)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn breaker(&self) -> Result<Breaker, OutboxError> {
        Ok(self.outbox.load(BREAKER)?.map(|v| Breaker::decode(&v)).unwrap_or_default())
    }

    /// One round: `None` when nothing could be sent (waiting, or nothing due).
    pub async fn round(&mut self) -> Result<Option<Round>, OutboxError> {
        let now = (self.clock)();
        if now < self.not_before()? {
            return Ok(None);
        }
        let mut breaker = self.breaker()?;
        let limit = match breaker.gate(now) {
            Gate::Open { .. } => return Ok(None),
            Gate::Probe => 1,
            Gate::Closed => self.config.batch_size,
        };
        let claimed = self.outbox.claim(now, limit)?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let (batch, attempts): (Vec<Change>, Vec<i64>) = claimed.into_iter().unzip();
        let outcomes = self.crm.send(&batch).await;
        let done = (self.clock)();
        let mut round = Round { sent: batch.len(), ..Round::default() };
        let mut settlements = Vec::with_capacity(batch.len());
        let mut horizon: Option<Millis> = None;
        for ((change, attempts), outcome) in batch.iter().zip(attempts).zip(outcomes) {
            let id = change.id;
            match outcome {
                Outcome::Delivered { crm_id } => {
                    round.delivered += 1;
                    settlements.push(Settlement::Delivered { id, crm_id });
                }
                Outcome::Rejected { reason } => {
                    round.dead += 1;
                    tracing::warn!(lead = change.lead_id, %reason, "crm: dead-lettered");
                    settlements.push(Settlement::Dead { id, reason });
                }
                Outcome::Throttled { after, reason } => {
                    round.throttled = true;
                    if after > MAX_THROTTLE {
                        tracing::warn!(
                            asked_secs = after.as_secs(),
                            "crm: a Retry-After beyond a day is taken as a day"
                        );
                    }
                    let at = done + ms(after.min(MAX_THROTTLE));
                    horizon = Some(horizon.map_or(at, |h| h.max(at)));
                    settlements.push(Settlement::Retry { id, at, error: reason });
                }
                Outcome::Failed { reason } => {
                    round.retried += 1;
                    let n = u32::try_from(attempts.max(1)).unwrap_or(u32::MAX);
                    let delay = full_jitter(
                        n,
                        self.config.backoff_base,
                        self.config.backoff_cap,
                        &mut self.rng,
                    );
                    settlements.push(Settlement::Retry { id, at: done + ms(delay), error: reason });
                }
            }
        }
        if let Some(h) = horizon {
            // Nothing goes to this CRM before Retry-After has passed; written before the
            // settlements so a crash in between still honours it.
            self.outbox.save(NOT_BEFORE, &h.max(self.not_before()?).to_string())?;
        }
        self.outbox.settle(done, &settlements)?;
        if round.delivered > 0 || round.dead > 0 {
            breaker.success();
        } else if round.retried > 0 {
            breaker.failure(
                done,
                self.config.breaker_threshold,
                self.config.breaker_cooldown,
                self.config.breaker_cap,
            );
            if let Gate::Open { until } = breaker.gate(done) {
                tracing::warn!(until, failures = breaker.failures, "crm: circuit open");
            }
        }
        self.outbox.save(BREAKER, &breaker.encode())?;
        tracing::info!(
            crm = self.crm.name(),
            sent = round.sent,
            delivered = round.delivered,
            dead = round.dead,
            retried = round.retried,
            throttled = round.throttled,
            "crm relay round"
        );
        Ok(Some(round))
    }
}
