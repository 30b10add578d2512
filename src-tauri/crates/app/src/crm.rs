//! CRM sync as the app runs it: the settings (which CRM, where), the credentials (in the OS
//! keyring only, never in SQLite, logs or IPC replies), the outbox relay on the shell's tokio
//! runtime (nudged whenever a lead changes), and the status the console shows ("CRM offline — N
//! pending", dead letters with their reason, retry by hand). Values come back too: a lead read
//! back from the CRM ([`crate::Api::pull_crm_lead`], and a sweep beside the relay every
//! [`CRM_PULL_PERIOD`]) has what changed there recorded as CRM-sourced fields, never re-queued.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use closer_crm::relay::{Outbox, OutboxError, Relay, RelayConfig, RelayHandle, Settlement};
use closer_crm::{
    BottleCrm, Change, Credential, Crm, FieldMap, HubSpot, Keyring, Outcome, SecretError, Webhook,
};
use closer_dialogue::Millis;
use closer_store::{OutboxSettlement, Store};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{ApiError, ErrorCode};

/// The keyring service Closer's secrets live under (the app identifier).
pub const KEYRING_SERVICE: &str = "app.closer.console";
/// Where the settings are kept (the store's key-value table).
const SETTINGS_KEY: &str = "crm.settings";
/// How long one CRM request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Which CRM, and where. Secrets are not here: see [`CrmSecret`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CrmSettings {
    /// BottleCRM: leads created through its lead intake webhook, updated through its REST API.
    #[serde(rename_all = "camelCase")]
    Bottlecrm { base_url: String, intake_id: String },
    /// A HubSpot-style CRM v3 contacts API.
    #[serde(rename_all = "camelCase")]
    Hubspot { base_url: String },
    /// Any endpoint taking signed JSON.
    #[serde(rename_all = "camelCase")]
    Webhook { url: String },
}

/// The credentials Closer can hold, each one keyring entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CrmSecret {
    BottlecrmIntakeKey,
    BottlecrmApiToken,
    HubspotToken,
    WebhookSecret,
}

impl CrmSecret {
    /// The keyring entry's name.
    pub fn entry(self) -> &'static str {
        match self {
            Self::BottlecrmIntakeKey => "crm.bottlecrm.intake_key",
            Self::BottlecrmApiToken => "crm.bottlecrm.token",
            Self::HubspotToken => "crm.hubspot.token",
            Self::WebhookSecret => "crm.webhook.secret",
        }
    }
}

/// Sync as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CrmStatusView {
    /// `bottlecrm`, `hubspot`, `webhook`, or `None` when no CRM is set up.
    pub crm: Option<String>,
    /// Whether the relay is running in this process.
    pub running: bool,
    #[ts(type = "number")]
    pub pending: i64,
    #[ts(type = "number")]
    pub dead: i64,
    #[ts(type = "number | null")]
    pub oldest_pending_at: Option<Millis>,
    pub last_error: Option<String>,
    #[ts(type = "number | null")]
    pub last_delivered_at: Option<Millis>,
}

/// A change the CRM refused for good, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub lead_id: i64,
    pub reason: String,
    #[ts(type = "number")]
    pub dead_at: Millis,
    #[ts(type = "number")]
    pub attempts: i64,
}

/// How often the relay's companion sweep reads leads back from the CRM.
pub const CRM_PULL_PERIOD: Duration = Duration::from_secs(300);
/// Leads one sweep reads at most.
pub const CRM_PULL_BATCH: usize = 50;
/// The sweep's cursor (the last lead id read) in the store's relay state.
const PULL_CURSOR_KEY: &str = "crm.pull_cursor";

/// What reading one lead back from the CRM came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CrmPullStatus {
    /// Read; `applied` lists what changed here.
    Pulled,
    /// The lead has a change the CRM has not received yet: nothing was recorded.
    Deferred,
    /// The lead has not reached the CRM yet (no CRM id).
    NotInCrm,
    /// This CRM cannot be read back (a generic webhook).
    Unsupported,
    /// The CRM failed or refused; `error` says why.
    Failed,
}

/// The result of reading one lead back from the CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CrmPullView {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub status: CrmPullStatus,
    /// Fields now holding the CRM's value (CRM-sourced).
    pub applied: Vec<String>,
    /// Fields where the CRM differs but a salesperson's value here wins.
    pub kept: Vec<String>,
    /// Fields the CRM holds with our value.
    pub unchanged: Vec<String>,
    pub error: Option<String>,
}

impl CrmPullView {
    fn new(conversation_id: i64) -> Self {
        Self {
            conversation_id,
            status: CrmPullStatus::Pulled,
            applied: Vec::new(),
            kept: Vec::new(),
            unchanged: Vec::new(),
            error: None,
        }
    }
}

/// One pass of the read-back sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmPullSweep {
    /// Leads read.
    pub pulled: usize,
    /// Field values recorded from the CRM.
    pub applied: usize,
    /// Why the pass stopped early, if it did.
    pub error: Option<String>,
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        let code = match e {
            SecretError::Missing { .. } => ErrorCode::CrmNotConfigured,
            _ => ErrorCode::Keyring,
        };
        ApiError::new(code, e.to_string())
    }
}

/// The store as the relay's outbox.
#[derive(Debug)]
pub struct StoreOutbox(pub Arc<Store>);

fn outbox_error(e: closer_store::StoreError) -> OutboxError {
    OutboxError(e.to_string())
}

impl Outbox for StoreOutbox {
    fn claim(&self, now: Millis, limit: usize) -> Result<Vec<(Change, i64)>, OutboxError> {
        Ok(self
            .0
            .claim_outbox(now, limit)
            .map_err(outbox_error)?
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
        self.0.settle_outbox(now, &rows).map_err(outbox_error)
    }

    fn next_due(&self) -> Result<Option<Millis>, OutboxError> {
        self.0.next_outbox_due().map_err(outbox_error)
    }

    fn load(&self, key: &str) -> Result<Option<String>, OutboxError> {
        self.0.relay_state(key).map_err(outbox_error)
    }

    fn save(&self, key: &str, value: &str) -> Result<(), OutboxError> {
        self.0.set_relay_state(key, value).map_err(outbox_error)
    }
}

/// The running relay (and its read-back sweep), if any.
#[derive(Debug, Default)]
pub struct CrmRuntime {
    relay: Mutex<Option<(String, RelayHandle)>>,
    pull: Mutex<Option<tokio::task::AbortHandle>>,
}

impl CrmRuntime {
    /// Wakes the relay (a lead changed).
    pub fn nudge(&self) {
        if let Some((_, handle)) = &*self.relay.lock().unwrap_or_else(|p| p.into_inner()) {
            handle.nudge();
        }
    }

    fn replace(&self, next: Option<(String, RelayHandle)>) {
        let mut relay = self.relay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, old)) = relay.take() {
            old.stop();
        }
        *relay = next;
        if let Some(pull) = self.pull.lock().unwrap_or_else(|p| p.into_inner()).take() {
            pull.abort();
        }
    }

    fn set_pull(&self, task: tokio::task::AbortHandle) {
        if let Some(old) = self.pull.lock().unwrap_or_else(|p| p.into_inner()).replace(task) {
            old.abort();
        }
    }

    fn running(&self) -> Option<String> {
        self.relay.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(n, _)| n.clone())
    }
}

fn keyring() -> Keyring {
    Keyring::new(KEYRING_SERVICE)
}

impl crate::Api {
    /// The CRM settings, if a CRM is set up.
    pub fn crm_settings(&self) -> Result<Option<CrmSettings>, ApiError> {
        match self.store.relay_state(SETTINGS_KEY)? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
                ApiError::new(ErrorCode::Internal, format!("the CRM settings are unreadable: {e}"))
            }),
        }
    }

    /// Sets up (or changes) the CRM; a running relay restarts with the new settings.
    pub fn configure_crm(&self, settings: CrmSettings) -> Result<(), ApiError> {
        let url = match &settings {
            CrmSettings::Bottlecrm { base_url, .. } | CrmSettings::Hubspot { base_url } => base_url,
            CrmSettings::Webhook { url } => url,
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ApiError::invalid(format!("the CRM address must be http(s): {url:?}")));
        }
        let json = serde_json::to_string(&settings)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        self.store.set_relay_state(SETTINGS_KEY, &json)?;
        if self.crm.running().is_some()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            self.start_crm_relay(&handle)?;
        }
        Ok(())
    }

    /// Stores a CRM credential in the OS keyring (the value is never returned or logged).
    pub fn set_crm_credential(&self, secret: CrmSecret, value: &str) -> Result<(), ApiError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ApiError::invalid("an empty credential"));
        }
        keyring().set(secret.entry(), &closer_crm::Sensitive::new(value))?;
        tracing::info!(entry = secret.entry(), "CRM credential stored in the keyring");
        self.crm.nudge();
        Ok(())
    }

    /// The configured CRM adapter (credentials read from the keyring when used), if a CRM is set
    /// up. Lead field mapping comes from the published strategy's lead fields.
    pub fn configured_crm(&self) -> Result<Option<Crm>, ApiError> {
        let Some(settings) = self.crm_settings()? else {
            return Ok(None);
        };
        let map = FieldMap::from_specs(&self.strategy_document()?.lead_fields);
        let ring = keyring();
        let cred = |s: CrmSecret| Credential::keyring(&ring, s.entry());
        Ok(Some(match settings {
            CrmSettings::Bottlecrm { base_url, intake_id } => Crm::BottleCrm(BottleCrm::new(
                &base_url,
                &intake_id,
                cred(CrmSecret::BottlecrmIntakeKey),
                cred(CrmSecret::BottlecrmApiToken),
                map,
                REQUEST_TIMEOUT,
            )),
            CrmSettings::Hubspot { base_url } => Crm::HubSpot(HubSpot::new(
                &base_url,
                cred(CrmSecret::HubspotToken),
                map,
                REQUEST_TIMEOUT,
            )),
            CrmSettings::Webhook { url } => Crm::Webhook(Webhook::new(
                &url,
                cred(CrmSecret::WebhookSecret),
                map,
                REQUEST_TIMEOUT,
            )),
        }))
    }

    /// Starts (or restarts) the relay on `runtime` with the stored settings; `Ok(false)` when no
    /// CRM is set up. Lead field mapping comes from the published strategy's lead fields. With
    /// it runs the read-back sweep ([`Api::pull_crm_leads_with`], every [`CRM_PULL_PERIOD`]).
    pub fn start_crm_relay(&self, runtime: &tokio::runtime::Handle) -> Result<bool, ApiError> {
        let Some(crm) = self.configured_crm()? else {
            self.crm.replace(None);
            return Ok(false);
        };
        let name = crm.name().to_owned();
        let config = RelayConfig::for_crm(&crm);
        let relay = Relay::new(Arc::new(StoreOutbox(Arc::clone(&self.store))), crm.clone(), config);
        let _entered = runtime.enter();
        let (handle, _task) = relay.spawn();
        tracing::info!(crm = %name, "CRM relay started");
        self.crm.replace(Some((name, handle)));
        let api = self.clone();
        let sweep = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(CRM_PULL_PERIOD);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is now: the relay delivers first
            loop {
                ticks.tick().await;
                match api.pull_crm_leads_with(&crm, CRM_PULL_BATCH).await {
                    Ok(sweep) if sweep.applied > 0 => {
                        tracing::info!(
                            leads = sweep.pulled,
                            fields = sweep.applied,
                            "CRM values read back"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading values back from the CRM failed"),
                }
            }
        });
        self.crm.set_pull(sweep.abort_handle());
        Ok(true)
    }

    /// Reads the conversation's lead back from the configured CRM and records what changed there
    /// as CRM-sourced values ([`Api::pull_crm_lead_with`]).
    pub async fn pull_crm_lead(&self, conversation_id: i64) -> Result<CrmPullView, ApiError> {
        let Some(crm) = self.configured_crm()? else {
            return Err(ApiError::new(ErrorCode::CrmNotConfigured, "no CRM is set up"));
        };
        self.pull_crm_lead_with(&crm, conversation_id).await
    }

    /// Reads the conversation's lead back from `crm` and records its values as CRM-sourced lead
    /// fields (salesperson > CRM > AI: a CRM value replaces an AI value, never a salesperson's),
    /// each a `field_set` event with source `crm` and audit rows by actor `crm`; nothing is queued
    /// back to the outbox ([`closer_store::Store::record_crm_values`]). A CRM that fails or cannot
    /// be read back is a status in the view, not an error.
    pub async fn pull_crm_lead_with(
        &self,
        crm: &Crm,
        conversation_id: i64,
    ) -> Result<CrmPullView, ApiError> {
        let (row, _) = self.store.conversation(conversation_id)?;
        let mut view = CrmPullView::new(conversation_id);
        let Some(crm_id) = row.lead.crm_id else {
            view.status = CrmPullStatus::NotInCrm;
            return Ok(view);
        };
        self.pull_lead(crm, row.lead.id, &crm_id, view).await
    }

    /// One pass of the read-back sweep: up to `limit` leads the CRM knows and that have nothing
    /// waiting to be delivered, continuing after the last lead the previous pass read (a cursor
    /// kept in the store), so every lead is read in turn.
    pub async fn pull_crm_leads_with(
        &self,
        crm: &Crm,
        limit: usize,
    ) -> Result<CrmPullSweep, ApiError> {
        let after: i64 =
            self.store.relay_state(PULL_CURSOR_KEY)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut leads = self.store.leads_in_sync(after, limit)?;
        if leads.is_empty() && after > 0 {
            leads = self.store.leads_in_sync(0, limit)?;
        }
        let mut sweep = CrmPullSweep::default();
        for (lead, crm_id) in &leads {
            let view = self.pull_lead(crm, *lead, crm_id, CrmPullView::new(0)).await?;
            match view.status {
                CrmPullStatus::Failed => {
                    // The CRM is down or refusing: stop here, resume from this lead next time.
                    sweep.error = view.error;
                    break;
                }
                CrmPullStatus::Unsupported => break,
                _ => {}
            }
            sweep.pulled += 1;
            sweep.applied += view.applied.len();
            self.store.set_relay_state(PULL_CURSOR_KEY, &lead.to_string())?;
        }
        Ok(sweep)
    }

    async fn pull_lead(
        &self,
        crm: &Crm,
        lead: i64,
        crm_id: &str,
        mut view: CrmPullView,
    ) -> Result<CrmPullView, ApiError> {
        let values = match crm.pull(crm_id).await {
            Ok(Some(values)) => values,
            Ok(None) => {
                view.status = CrmPullStatus::Unsupported;
                return Ok(view);
            }
            Err(outcome) => {
                view.status = CrmPullStatus::Failed;
                view.error = Some(match outcome {
                    Outcome::Rejected { reason }
                    | Outcome::Throttled { reason, .. }
                    | Outcome::Failed { reason } => reason,
                    Outcome::Delivered { .. } => String::new(),
                });
                return Ok(view);
            }
        };
        let pull = self.store.record_crm_values(lead, &values, (self.clock)())?;
        view.conversation_id = pull.conversation_id;
        view.status = if pull.deferred { CrmPullStatus::Deferred } else { CrmPullStatus::Pulled };
        view.applied = pull.applied;
        view.kept = pull.kept;
        view.unchanged = pull.unchanged;
        if !view.applied.is_empty() {
            tracing::info!(lead, fields = ?view.applied, "CRM values recorded as CRM-sourced");
            self.events.publish(crate::events::AppEvent::ConversationUpdated {
                conversation_id: view.conversation_id,
            });
        }
        Ok(view)
    }

    /// Stops the relay (queued changes stay queued).
    pub fn stop_crm_relay(&self) {
        self.crm.replace(None);
    }

    pub fn crm_status(&self) -> Result<CrmStatusView, ApiError> {
        let summary = self.store.outbox_summary()?;
        let configured = self.crm_settings()?.map(|s| {
            match s {
                CrmSettings::Bottlecrm { .. } => "bottlecrm",
                CrmSettings::Hubspot { .. } => "hubspot",
                CrmSettings::Webhook { .. } => "webhook",
            }
            .to_owned()
        });
        Ok(CrmStatusView {
            crm: configured,
            running: self.crm.running().is_some(),
            pending: summary.pending,
            dead: summary.dead,
            oldest_pending_at: summary.oldest_pending_at,
            last_error: summary.last_error,
            last_delivered_at: summary.last_delivered_at,
        })
    }

    pub fn crm_dead_letters(&self) -> Result<Vec<DeadLetterView>, ApiError> {
        Ok(self
            .store
            .dead_letters()?
            .into_iter()
            .map(|d| DeadLetterView {
                id: d.id,
                lead_id: d.lead_id,
                reason: d.reason,
                dead_at: d.dead_at,
                attempts: d.attempts,
            })
            .collect())
    }

    /// Queues a dead-lettered change again (after the cause was fixed).
    pub fn retry_crm_dead_letter(&self, id: i64) -> Result<(), ApiError> {
        if !self.store.retry_dead_letter(id, (self.clock)())? {
            return Err(ApiError::new(ErrorCode::NotFound, format!("no dead letter {id}")));
        }
        self.crm.nudge();
        Ok(())
    }
}
