//! Live customer sessions by conversation: a reply approved in the console (or sent in auto mode)
//! reaches every open session of its conversation — a visitor's browser tabs, a simulated
//! persona — without blocking the sender. A conversation with no open session keeps the reply in
//! its thread; the visitor sees it in the history on reconnect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

/// Something for the customer's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToCustomer {
    /// A reply from the business.
    Reply { text: String, at: i64 },
    /// The business is (or stopped) writing.
    Typing { on: bool },
}

type Sessions = HashMap<i64, Vec<(u64, mpsc::UnboundedSender<ToCustomer>)>>;

/// The open sessions.
#[derive(Debug, Default)]
pub struct Hub {
    sessions: Mutex<Sessions>,
    next: AtomicU64,
}

/// One open session; it leaves the hub when dropped.
#[derive(Debug)]
pub struct Session {
    hub: Arc<Hub>,
    conversation_id: i64,
    id: u64,
    pub receiver: mpsc::UnboundedReceiver<ToCustomer>,
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut sessions = self.hub.lock();
        if let Some(list) = sessions.get_mut(&self.conversation_id) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                sessions.remove(&self.conversation_id);
            }
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session on a conversation.
    pub fn attach(self: &Arc<Self>, conversation_id: i64) -> Session {
        let (tx, receiver) = mpsc::unbounded_channel();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(conversation_id).or_default().push((id, tx));
        Session { hub: Arc::clone(self), conversation_id, id, receiver }
    }

    /// Hands `what` to every open session of the conversation; returns how many took it. Never
    /// blocks.
    pub fn send(&self, conversation_id: i64, what: ToCustomer) -> usize {
        let mut sessions = self.lock();
        let Some(list) = sessions.get_mut(&conversation_id) else { return 0 };
        list.retain(|(_, tx)| tx.send(what.clone()).is_ok());
        list.len()
    }

    /// How many sessions are open on a conversation.
    pub fn open_sessions(&self, conversation_id: i64) -> usize {
        self.lock().get(&conversation_id).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_reach_every_open_session_and_closed_ones_leave() {
        let hub = Arc::new(Hub::default());
        let mut a = hub.attach(7);
        let b = hub.attach(7);
        let mut other = hub.attach(8);
        assert_eq!(hub.send(7, ToCustomer::Reply { text: "hi".into(), at: 1 }), 2);
        assert_eq!(
            a.receiver.try_recv().ok(),
            Some(ToCustomer::Reply { text: "hi".into(), at: 1 })
        );
        assert!(other.receiver.try_recv().is_err());
        drop(b);
        assert_eq!(hub.open_sessions(7), 1);
        drop(a);
        assert_eq!(hub.send(7, ToCustomer::Typing { on: true }), 0);
    }
}
