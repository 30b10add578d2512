//! Privacy at the API: a customer's export and erasure, the retention period and its purge, and
//! the redaction of what leaves the thread — log lines ([`RedactingWriter`], installed by
//! `logging::init`) and requests to a remote model server ([`redact_for_remote`]).
//!
//! Key decision: redaction is [`closer_nlu::redact`] (the NLU's PII detectors plus a context-free
//! backstop), applied at the last moment before text leaves: a log line after it is formatted, a
//! remote request after the prompt is composed. The local model sees the real text (it never
//! leaves the machine); the event log keeps the original unless the message-storage setting says
//! to mask it ([`crate::Api::stored_customer_text`], called by the engine before storing), and
//! erasure removes it. The retention purge runs at start-up and hourly
//! ([`crate::Api::start_retention_job`], started by the shell).

use std::io::Write;

use closer_llm::GenerateRequest;
use closer_nlu::redact::{self, Style};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ApiError;
use crate::args::Validate;

/// Arguments of `export_lead`.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportLeadArgs {
    pub conversation_id: i64,
    /// Mask phones, e-mails, IDs, cards, WeChat IDs and names in the export.
    #[serde(default)]
    pub redacted: bool,
}

impl Validate for ExportLeadArgs {
    fn validate(&self) -> Result<(), ApiError> {
        positive(self.conversation_id)
    }
}

/// Arguments of `erase_lead`.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EraseLeadArgs {
    pub conversation_id: i64,
}

impl Validate for EraseLeadArgs {
    fn validate(&self) -> Result<(), ApiError> {
        positive(self.conversation_id)
    }
}

/// Arguments of `set_retention`: days to keep an idle conversation, `null` for ever.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRetentionArgs {
    pub days: Option<u32>,
}

/// The longest retention that can be set (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3653;

impl Validate for SetRetentionArgs {
    fn validate(&self) -> Result<(), ApiError> {
        match self.days {
            Some(d) if d == 0 || d > MAX_RETENTION_DAYS => Err(ApiError::invalid(format!(
                "retention of {d} days (1 to {MAX_RETENTION_DAYS}, or none)"
            ))),
            _ => Ok(()),
        }
    }
}

/// What is kept of a customer's message text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MessageStorageMode {
    /// The text as the customer wrote it (the default).
    #[default]
    Original,
    /// Phones, e-mails, resident IDs, bank cards, WeChat IDs and names masked before storing.
    Redacted,
}

impl From<closer_store::privacy::MessageStorage> for MessageStorageMode {
    fn from(m: closer_store::privacy::MessageStorage) -> Self {
        match m {
            closer_store::privacy::MessageStorage::Original => MessageStorageMode::Original,
            closer_store::privacy::MessageStorage::Redacted => MessageStorageMode::Redacted,
        }
    }
}

impl From<MessageStorageMode> for closer_store::privacy::MessageStorage {
    fn from(m: MessageStorageMode) -> Self {
        match m {
            MessageStorageMode::Original => closer_store::privacy::MessageStorage::Original,
            MessageStorageMode::Redacted => closer_store::privacy::MessageStorage::Redacted,
        }
    }
}

/// Arguments of `set_message_storage`.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMessageStorageArgs {
    pub mode: MessageStorageMode,
}

impl Validate for SetMessageStorageArgs {
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The message-storage setting, for the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessageStorageView {
    pub mode: MessageStorageMode,
}

/// How often the retention job purges after its first run at start-up.
pub const RETENTION_PERIOD: std::time::Duration = std::time::Duration::from_secs(3600);

fn positive(id: i64) -> Result<(), ApiError> {
    if id <= 0 {
        return Err(ApiError::invalid(format!("conversation id {id}")));
    }
    Ok(())
}

/// What an erasure did, for the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ErasureView {
    pub lead_id: i64,
    pub conversation_id: Option<i64>,
    /// Rows deleted, by table.
    pub rows: std::collections::BTreeMap<String, usize>,
    /// The CRM's id of the lead, if it had reached the CRM: its copy there must be deleted too.
    pub crm_id: Option<String>,
    pub external_key: String,
    pub wal_truncated: bool,
}

impl From<closer_store::privacy::Erasure> for ErasureView {
    fn from(e: closer_store::privacy::Erasure) -> Self {
        Self {
            lead_id: e.lead_id,
            conversation_id: e.conversation_id,
            rows: e.rows.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            crm_id: e.crm_id,
            external_key: e.external_key,
            wal_truncated: e.wal_truncated,
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PurgeView {
    pub retention_days: Option<u32>,
    pub erased: Vec<ErasureView>,
    pub audit_rows_rewritten: usize,
}

impl crate::Api {
    /// Every row about the conversation's lead, as one JSON document (redacted if asked).
    pub fn export_lead(&self, args: ExportLeadArgs) -> Result<serde_json::Value, ApiError> {
        let lead = self.store.lead_of_conversation(args.conversation_id)?;
        let mut export = self.store.export_lead(lead, (self.clock)())?;
        if args.redacted {
            redact::redact_json(&mut export);
            export["redacted"] = serde_json::Value::Bool(true);
        }
        Ok(export)
    }

    /// Erases the conversation's lead and everything about it (store `erase_lead`).
    pub fn erase_lead(&self, args: EraseLeadArgs) -> Result<ErasureView, ApiError> {
        let lead = self.store.lead_of_conversation(args.conversation_id)?;
        let erasure = self.store.erase_lead(lead, "salesperson", (self.clock)())?;
        self.engine.invalidate();
        tracing::info!(lead, rows = ?erasure.rows, "lead erased");
        self.updated(args.conversation_id);
        Ok(erasure.into())
    }

    /// Sets the retention period (`None`: keep for ever).
    pub fn set_retention(&self, args: SetRetentionArgs) -> Result<(), ApiError> {
        self.store.set_retention_days(args.days, "manager", (self.clock)())?;
        Ok(())
    }

    /// The retention period in days, if set.
    pub fn retention(&self) -> Result<Option<u32>, ApiError> {
        Ok(self.store.retention_days()?)
    }

    /// Erases what the retention period says is due (run at start-up and hourly), and the
    /// erased leads' export files, which would otherwise keep what was erased.
    pub fn purge(&self) -> Result<PurgeView, ApiError> {
        let purge = self.store.purge((self.clock)(), "system")?;
        if !purge.erased.is_empty() {
            tracing::info!(erased = purge.erased.len(), "retention purge");
        }
        let view = PurgeView {
            retention_days: self.store.retention_days()?,
            erased: purge.erased.into_iter().map(ErasureView::from).collect(),
            audit_rows_rewritten: purge.audit_rows_rewritten,
        };
        for e in &view.erased {
            self.remove_exports(e.lead_id);
            if let Some(id) = e.conversation_id {
                self.updated(id);
            }
        }
        Ok(view)
    }
}

impl crate::Api {
    /// What is kept of customers' message text.
    pub fn message_storage(&self) -> Result<MessageStorageView, ApiError> {
        Ok(MessageStorageView { mode: self.store.message_storage()?.into() })
    }

    /// Sets what is kept of customers' message text from now on.
    pub fn set_message_storage(&self, args: SetMessageStorageArgs) -> Result<(), ApiError> {
        args.validate()?;
        self.store.set_message_storage(args.mode.into(), "manager", (self.clock)())?;
        tracing::info!(mode = ?args.mode, "message storage set");
        Ok(())
    }

    /// The text to store for a customer's message: the original, or with its PII masked in place
    /// ([`redact::redact`]: `138****5678`) when the setting says so. If the setting cannot be
    /// read, the text is masked: a lost setting must not keep what the user said not to keep.
    pub fn stored_customer_text(&self, text: &str) -> String {
        let storage = self.store.message_storage().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "message storage setting unreadable; masking the message");
            closer_store::privacy::MessageStorage::Redacted
        });
        match storage {
            closer_store::privacy::MessageStorage::Original => text.to_owned(),
            closer_store::privacy::MessageStorage::Redacted => redact::redact(text),
        }
    }

    /// Runs the retention purge now and then every [`RETENTION_PERIOD`] on `runtime`, each purge
    /// on a blocking thread (it writes, `VACUUM`s and checkpoints the file). A failed purge is
    /// logged and retried at the next period. Abort the handle to stop it.
    pub fn start_retention_job(
        &self,
        runtime: &tokio::runtime::Handle,
    ) -> tokio::task::JoinHandle<()> {
        self.start_retention_job_every(runtime, RETENTION_PERIOD)
    }

    /// [`Api::start_retention_job`] with another period (tests).
    pub fn start_retention_job_every(
        &self,
        runtime: &tokio::runtime::Handle,
        period: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let api = self.clone();
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // The first tick completes at once: the purge at start-up.
                ticks.tick().await;
                let api = api.clone();
                match tokio::task::spawn_blocking(move || api.purge()).await {
                    Ok(Ok(p)) => tracing::debug!(erased = p.erased.len(), "retention job ran"),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "retention purge failed; retrying later")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "retention purge panicked; retrying later")
                    }
                }
            }
        })
    }
}

/// A request to a remote model server with every message's PII replaced by placeholders
/// (`[phone]`, `[email]`…): the server needs none of it to write a reply.
pub fn redact_for_remote(request: &mut GenerateRequest) {
    for message in &mut request.messages {
        let r = redact::redact_with(&message.content, Style::Placeholder);
        if !r.spans.is_empty() {
            message.content = r.text;
        }
    }
}

/// Wraps a log writer: every formatted line is redacted before it is written. The fmt layer
/// writes each event as one buffer, so a number is never split across two writes.
#[derive(Debug, Clone)]
pub struct RedactingWriter<M>(pub M);

/// The writer [`RedactingWriter`] hands out for one event.
#[derive(Debug)]
pub struct Redacting<W: Write>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = redact::redact(&text);
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a, M> tracing_subscriber::fmt::MakeWriter<'a> for RedactingWriter<M>
where
    M: tracing_subscriber::fmt::MakeWriter<'a>,
{
    type Writer = Redacting<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.0.make_writer())
    }
}
