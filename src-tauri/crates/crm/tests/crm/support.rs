//! Test support: the relay's outbox over a real store, the BottleCRM server (from the
//! environment or brought up here), and small helpers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use closer_crm::Change;
use closer_crm::relay::{Outbox, OutboxError, Settlement};
use closer_dialogue::{Channel, Event, FieldSource, Millis};
use closer_store::{NewConversation, OutboxSettlement, Store};

/// The relay's view of `closer_store::Store` (what `app` is to provide; kept identical).
pub struct StoreOutbox(pub Arc<Store>);

fn err(e: closer_store::StoreError) -> OutboxError {
    OutboxError(e.to_string())
}

impl Outbox for StoreOutbox {
    fn claim(&self, now: Millis, limit: usize) -> Result<Vec<(Change, i64)>, OutboxError> {
        Ok(self
            .0
            .claim_outbox(now, limit)
            .map_err(err)?
            .into_iter()
            .map(|c| {
                let change = Change {
                    id: c.id,
                    lead_id: c.lead_id,
                    external_key: c.external_key,
                    crm_id: c.crm_id,
                    fields: c.fields,
                    notes: c
                        .notes
                        .into_iter()
                        .map(|n| closer_crm::Note { key: n.key, text: n.text })
                        .collect(),
                };
                (change, c.attempts)
            })
            .collect())
    }

    fn settle(&self, now: Millis, settlements: &[Settlement]) -> Result<(), OutboxError> {
        let rows: Vec<OutboxSettlement> = settlements
            .iter()
            .map(|s| match s.clone() {
                Settlement::Delivered { id, crm_id } => OutboxSettlement::Delivered { id, crm_id },
                Settlement::Retry { id, at, error } => OutboxSettlement::Retry { id, at, error },
                Settlement::Dead { id, reason } => OutboxSettlement::Dead { id, reason },
            })
            .collect();
        self.0.settle_outbox(now, &rows).map_err(err)
    }

    fn next_due(&self) -> Result<Option<Millis>, OutboxError> {
        self.0.next_outbox_due().map_err(err)
    }

    fn load(&self, key: &str) -> Result<Option<String>, OutboxError> {
        self.0.relay_state(key).map_err(err)
    }

    fn save(&self, key: &str, value: &str) -> Result<(), OutboxError> {
        self.0.set_relay_state(key, value).map_err(err)
    }
}

/// A conversation with its lead; returns (conversation id, lead id).
pub fn new_lead(store: &Store, name: &str) -> (i64, i64) {
    let c = store
        .create_conversation(&NewConversation {
            channel: Channel::Widget,
            customer_name: name.into(),
            language: "en".into(),
            at: 1_000,
        })
        .expect("create conversation");
    (c, store.conversation(c).expect("row").0.lead.id)
}

/// A salesperson sets a lead field: the event, the field and its outbox row in one transaction.
pub fn set_field(store: &Store, conversation: i64, field: &str, value: &str) {
    let event = Event::FieldSet {
        field: field.into(),
        value: value.into(),
        source: FieldSource::Salesperson,
        confidence: 1.0,
        at: closer_crm::relay::now_millis(),
    };
    store.record(conversation, &event, "salesperson").expect("record");
}

/// A running BottleCRM: the `BOTTLECRM_*` environment of `bottlecrm/up`.
pub struct BottleCrmServer {
    pub env: BTreeMap<String, String>,
    /// Set when this process brought the server up (and so tears it down).
    state: Option<(PathBuf, tempfile::TempDir)>,
}

impl BottleCrmServer {
    pub fn get(&self, key: &str) -> String {
        self.env.get(key).cloned().unwrap_or_else(|| panic!("BottleCRM env lacks {key}"))
    }

    /// Rows of `SELECT` run as the database superuser (exact checks, past the API's filters).
    pub fn sql(&self, query: &str) -> Vec<Vec<String>> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.get("BOTTLECRM_PG_PORT"), "-U", "postgres"])
            .args(["-d", "crm", "-At", "-F", "\t", "-c", query])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }
}

impl Drop for BottleCrmServer {
    fn drop(&mut self) {
        if let Some((script, dir)) = &self.state {
            let _ = Command::new(script.with_file_name("down")).arg(dir.path()).status();
        }
    }
}

/// The BottleCRM to test against: `BOTTLECRM_ENV` (a file written by `bottlecrm/up`, as
/// `.ci/bottlecrm` does once for the whole run), else one brought up for this test process.
/// Fails loudly when neither works: these tests never pass by skipping.
pub fn bottlecrm() -> BottleCrmServer {
    let parse = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    };
    if let Ok(path) = std::env::var("BOTTLECRM_ENV") {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("BOTTLECRM_ENV={path} cannot be read: {e}"));
        return BottleCrmServer { env: parse(&text), state: None };
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bottlecrm/up");
    let dir = tempfile::Builder::new().prefix("bottlecrm-").tempdir().expect("tempdir");
    let out = Command::new(&script).arg(dir.path()).output().expect("run bottlecrm/up");
    if !out.status.success() {
        let _ = Command::new(script.with_file_name("down")).arg(dir.path()).status();
        panic!(
            "BottleCRM could not be brought up (needs Python 3.12 under pyenv, PostgreSQL, \
             network to PyPI on the first run; or set BOTTLECRM_ENV): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let env = parse(&String::from_utf8_lossy(&out.stdout));
    BottleCrmServer { env, state: Some((script, dir)) }
}

/// The AI sets a lead field (the lowest-precedence source): queued for the CRM like any change.
pub fn set_ai_field(store: &Store, conversation: i64, field: &str, value: &str) {
    let event = Event::FieldSet {
        field: field.into(),
        value: value.into(),
        source: FieldSource::Ai,
        confidence: 0.8,
        at: closer_crm::relay::now_millis(),
    };
    store.record(conversation, &event, "ai").expect("record");
}

/// Each field's value and source as the store holds them now.
pub fn fields_of(store: &Store, conversation: i64) -> BTreeMap<String, (String, FieldSource)> {
    store
        .state(conversation)
        .expect("state")
        .lead
        .fields
        .into_iter()
        .map(|(k, v)| (k, (v.value, v.source)))
        .collect()
}
