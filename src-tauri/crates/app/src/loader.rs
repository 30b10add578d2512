//! Something slow to load (the NLU, a language model), loaded once on a thread of its own and
//! shared by every caller: callers either get it now, get a typed "not ready yet" error with
//! how far the load has come, or wait for it with a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{ApiError, ErrorCode};

#[derive(Debug)]
enum Phase<T> {
    Idle,
    Loading { since: Instant },
    Ready(Arc<T>),
    Failed(ApiError),
}

/// Where a load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Idle,
    Loading,
    Ready,
    Failed,
}

/// Reports how far a load has come, `done` of `total` steps; shared with the loading thread.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    pub fn set(&self, done: usize, total: usize) {
        let packed =
            ((done.min(u32::MAX as usize) as u64) << 32) | total.min(u32::MAX as usize) as u64;
        self.0.store(packed, Ordering::Relaxed);
    }

    /// `(done, total)`; `(0, 0)` before the first report.
    pub fn get(&self) -> (usize, usize) {
        let packed = self.0.load(Ordering::Relaxed);
        ((packed >> 32) as usize, (packed & u64::from(u32::MAX)) as usize)
    }
}

/// A value loaded once, in the background.
#[derive(Debug)]
pub struct Loader<T> {
    /// What it is, for messages ("the NLU", "the language model").
    what: &'static str,
    /// The code callers get while it loads.
    not_ready: ErrorCode,
    phase: Mutex<Phase<T>>,
    /// Bumped by [`Loader::reset`]: a load started under an older generation is stale, and its
    /// result (a model the user has since switched away from) is dropped, not published.
    generation: AtomicU64,
    changed: Condvar,
    progress: Arc<Progress>,
}

impl<T: Send + Sync + 'static> Loader<T> {
    pub fn new(what: &'static str, not_ready: ErrorCode) -> Self {
        Self {
            what,
            not_ready,
            phase: Mutex::new(Phase::Idle),
            generation: AtomicU64::new(0),
            changed: Condvar::new(),
            progress: Arc::new(Progress::default()),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase<T>> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `load` on a thread named `thread`, unless a load has started already (or finished:
    /// use [`Loader::reset`] to load again).
    pub fn start(
        self: &Arc<Self>,
        thread: &str,
        load: impl FnOnce(&Progress) -> Result<T, ApiError> + Send + 'static,
    ) {
        let mut phase = self.phase();
        if !matches!(*phase, Phase::Idle) {
            return;
        }
        *phase = Phase::Loading { since: Instant::now() };
        self.progress.set(0, 0);
        // Read under the lock that `reset` bumps it under: this load belongs to `generation`.
        let generation = self.generation.load(Ordering::SeqCst);
        drop(phase);
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new().name(thread.into()).spawn(move || {
            let result = load(&this.progress);
            let mut phase = this.phase();
            if this.generation.load(Ordering::SeqCst) != generation {
                tracing::info!("a load of {} was superseded; its result is dropped", this.what);
                return;
            }
            *phase = match result {
                Ok(value) => Phase::Ready(Arc::new(value)),
                Err(e) => {
                    tracing::error!(code = ?e.code, "{} cannot load: {}", this.what, e.message);
                    Phase::Failed(e)
                }
            };
            this.changed.notify_all();
        });
        if let Err(e) = spawned {
            *self.phase() = Phase::Failed(ApiError::new(
                ErrorCode::Internal,
                format!("cannot start a thread to load {}: {e}", self.what),
            ));
            self.changed.notify_all();
        }
    }

    /// Forgets what was loaded (or the failure), so the next [`Loader::start`] loads afresh.
    /// A load under way is superseded: it runs to its end (loads cannot be interrupted), but
    /// what it yields is dropped, so a waiter never gets the old choice or its failure.
    pub fn reset(&self) {
        let mut phase = self.phase();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *phase = Phase::Idle;
        self.changed.notify_all();
    }

    pub fn status(&self) -> Status {
        match *self.phase() {
            Phase::Idle => Status::Idle,
            Phase::Loading { .. } => Status::Loading,
            Phase::Ready(_) => Status::Ready,
            Phase::Failed(_) => Status::Failed,
        }
    }

    /// `(done, total)` of the load under way or last finished.
    pub fn progress(&self) -> (usize, usize) {
        self.progress.get()
    }

    /// The failure, if the last load failed.
    pub fn failure(&self) -> Option<ApiError> {
        match &*self.phase() {
            Phase::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// The value now, the load's failure, or the not-ready code (the caller starts the load).
    pub fn get(&self) -> Result<Arc<T>, ApiError> {
        match &*self.phase() {
            Phase::Ready(value) => Ok(Arc::clone(value)),
            Phase::Failed(e) => Err(e.clone()),
            Phase::Loading { since } => {
                let (done, total) = self.progress.get();
                let progress =
                    if total > 0 { format!(", {done} of {total} steps") } else { String::new() };
                Err(ApiError::new(
                    self.not_ready,
                    format!(
                        "{} is loading (for {:.0} s{progress}); try again shortly",
                        self.what,
                        since.elapsed().as_secs_f64()
                    ),
                ))
            }
            Phase::Idle => Err(ApiError::new(self.not_ready, format!("{} is starting", self.what))),
        }
    }

    /// The value, waiting up to `timeout` for a load under way.
    pub fn wait(&self, timeout: Duration) -> Result<Arc<T>, ApiError> {
        let deadline = Instant::now() + timeout;
        let mut phase = self.phase();
        loop {
            match &*phase {
                Phase::Ready(value) => return Ok(Arc::clone(value)),
                Phase::Failed(e) => return Err(e.clone()),
                Phase::Idle | Phase::Loading { .. } => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ApiError::new(
                    self.not_ready,
                    format!("{} did not finish loading within {} s", self.what, timeout.as_secs()),
                ));
            }
            phase = self.changed.wait_timeout(phase, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_reports_progress_then_its_value_or_its_failure() {
        let loader = Arc::new(Loader::<u32>::new("the thing", ErrorCode::ModelNotReady));
        assert_eq!(loader.get().map_err(|e| e.code), Err(ErrorCode::ModelNotReady));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        loader.start("test-load", move |progress| {
            progress.set(1, 2);
            rx.recv().map_err(|_| ApiError::new(ErrorCode::Internal, "dropped"))?;
            Ok(7)
        });
        let waited = loader.wait(Duration::from_millis(50));
        assert_eq!(waited.map_err(|e| e.code), Err(ErrorCode::ModelNotReady));
        let not_yet = loader.get().expect_err("still loading");
        assert!(not_yet.message.contains("1 of 2"), "{}", not_yet.message);
        tx.send(()).expect("send");
        assert_eq!(*loader.wait(Duration::from_secs(5)).expect("loaded"), 7);
        assert_eq!(loader.status(), Status::Ready);

        loader.reset();
        loader.start("test-load", |_| Err(ApiError::new(ErrorCode::InvalidModel, "bad file")));
        let failed = loader.wait(Duration::from_secs(5)).expect_err("fails");
        assert_eq!(failed.code, ErrorCode::InvalidModel);
        assert_eq!(loader.failure().map(|e| e.code), Some(ErrorCode::InvalidModel));
    }

    #[test]
    fn a_reset_during_a_load_supersedes_it() {
        let loader = Arc::new(Loader::<u32>::new("the thing", ErrorCode::ModelNotReady));
        // A slow load of the old choice that will fail…
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (finished, old_done) = std::sync::mpsc::channel::<()>();
        loader.start("old-load", move |_| {
            let _ = held.recv();
            let _ = finished.send(());
            Err(ApiError::new(ErrorCode::ModelNotReady, "the old choice is not installed"))
        });
        assert_eq!(loader.status(), Status::Loading);
        // …is superseded by a new choice while it runs.
        loader.reset();
        assert_eq!(loader.status(), Status::Idle);
        loader.start("new-load", |_| Ok(9));
        assert_eq!(*loader.wait(Duration::from_secs(5)).expect("the new choice"), 9);
        // The old load ends afterwards: its failure is not published.
        release.send(()).expect("release");
        old_done.recv_timeout(Duration::from_secs(5)).expect("the old load ended");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(loader.status(), Status::Ready);
        assert!(loader.failure().is_none());

        // A waiter that sees only the superseded failure never gets it either.
        loader.reset();
        let (release, held) = std::sync::mpsc::channel::<()>();
        loader.start("old-load", move |_| {
            let _ = held.recv();
            Err(ApiError::new(ErrorCode::InvalidModel, "old"))
        });
        loader.reset();
        release.send(()).expect("release");
        loader.start("new-load", |_| Ok(11));
        assert_eq!(*loader.wait(Duration::from_secs(5)).expect("the new choice"), 11);
    }
}
