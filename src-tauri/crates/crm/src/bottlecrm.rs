//! BottleCRM (PyPI `django-crm`): creates a lead through its lead intake webhook with our
//! lead's `external_key` as `external_id` (the webhook upserts on it: a retry answers
//! `duplicate`, never a second lead), then writes the newest values through the REST API
//! (`PATCH /api/leads/<id>/`), because the webhook's merge fills blanks and never overwrites.
//! Once the CRM's id is known, updates go straight to the REST API.
//!
//! Notes go to the lead's comments (`POST /api/leads/<id>/` with `comment`), each carrying its
//! key as a marker; the lead's comments are read first and a note already there is not posted
//! again, so a change retried after a crash posts each note once.
//!
//! Its search (`?email=`) is a case-insensitive substring match, so [`BottleCrm::find_by_email`]
//! checks for an exact match itself. Its API answers a bad token with 403 (not 401).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::{
    Change, Credential, FieldMap, Note, Outcome, SecretError, check_status, read, transport,
};

/// Requests in flight at once (the server is a small gunicorn pool).
const CONCURRENCY: usize = 4;

#[derive(Debug, Clone)]
pub struct BottleCrm {
    /// e.g. `http://127.0.0.1:8000`
    base_url: String,
    /// The lead intake webhook's id.
    intake_id: String,
    /// The intake webhook's key.
    intake_key: Credential,
    /// A personal access token with `leads:read` and `leads:write`.
    api_token: Credential,
    map: FieldMap,
    client: reqwest::Client,
}

impl BottleCrm {
    pub fn new(
        base_url: &str,
        intake_id: &str,
        intake_key: Credential,
        api_token: Credential,
        map: FieldMap,
        timeout: Duration,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            intake_id: intake_id.to_owned(),
            intake_key,
            api_token,
            map,
            client: crate::http_client(timeout),
        }
    }

    pub async fn send(&self, batch: &[Change]) -> Vec<Outcome> {
        // Read the credentials once per batch: a rotated token is picked up by the next batch.
        let creds = match (self.intake_key.read(), self.api_token.read()) {
            (Ok(k), Ok(t)) => (k, t),
            (Err(e), _) | (_, Err(e)) => {
                let reason = secret_reason(&e);
                return batch.iter().map(|_| Outcome::Failed { reason: reason.clone() }).collect();
            }
        };
        // Futures collected first: a closure inside the stream trips the compiler's higher-ranked
        // lifetime check when the relay's task is spawned.
        let posts: Vec<_> = batch.iter().map(|c| self.upsert(c, &creds.0, &creds.1)).collect();
        futures_util::stream::iter(posts).buffered(CONCURRENCY).collect().await
    }

    async fn upsert(
        &self,
        change: &Change,
        intake_key: &crate::Sensitive,
        token: &crate::Sensitive,
    ) -> Outcome {
        match self.upsert_fields(change, intake_key, token).await {
            Outcome::Delivered { crm_id: Some(id) } if !change.notes.is_empty() => {
                match self.post_notes(&id, &change.notes, token).await {
                    Ok(()) => Outcome::Delivered { crm_id: Some(id) },
                    Err(outcome) => outcome,
                }
            }
            outcome => outcome,
        }
    }

    async fn upsert_fields(
        &self,
        change: &Change,
        intake_key: &crate::Sensitive,
        token: &crate::Sensitive,
    ) -> Outcome {
        let fields = self.map.to_crm(&change.fields);
        if let Some(id) = &change.crm_id {
            match self.patch(id, &fields, token).await {
                // Deleted on the CRM side: create it again through the webhook.
                Err(Outcome::Rejected { reason }) if reason.starts_with("HTTP 404") => {}
                Ok(()) => return Outcome::Delivered { crm_id: Some(id.clone()) },
                Err(outcome) => return outcome,
            }
        }
        let mut body: Map<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        body.insert("external_id".into(), json!(change.external_key));
        // The webhook refuses a post with no lead columns; the title names where it came from.
        body.entry("title").or_insert_with(|| json!(format!("Closer lead {}", change.lead_id)));
        let url = format!("{}/api/public/leads/{}/", self.base_url, self.intake_id);
        let resp = match self
            .client
            .post(&url)
            .bearer_auth(intake_key.expose())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return transport(e),
        };
        let (status, retry_after, text) = read(resp).await;
        match intake_reply(status, &text, retry_after) {
            Err(outcome) => outcome,
            Ok(Intake::Created { lead }) => Outcome::Delivered { crm_id: Some(lead) },
            Ok(Intake::Existing { lead }) => match self.patch(&lead, &fields, token).await {
                Ok(()) => Outcome::Delivered { crm_id: Some(lead) },
                Err(outcome) => outcome,
            },
        }
    }

    async fn patch(
        &self,
        crm_id: &str,
        fields: &BTreeMap<String, String>,
        token: &crate::Sensitive,
    ) -> Result<(), Outcome> {
        if fields.is_empty() {
            return Ok(());
        }
        let url = format!("{}/api/leads/{crm_id}/", self.base_url);
        let resp = self
            .client
            .patch(&url)
            .bearer_auth(token.expose())
            .json(fields)
            .send()
            .await
            .map_err(transport)?;
        let (status, retry_after, text) = read(resp).await;
        check_status(status, &text, retry_after)
    }

    /// Posts the notes the lead's comments do not hold yet (by their markers).
    async fn post_notes(
        &self,
        crm_id: &str,
        notes: &[Note],
        token: &crate::Sensitive,
    ) -> Result<(), Outcome> {
        let url = format!("{}/api/leads/{crm_id}/", self.base_url);
        let resp = self.client.get(&url).bearer_auth(token.expose()).send().await;
        let (status, retry_after, text) = read(resp.map_err(transport)?).await;
        check_status(status, &text, retry_after)?;
        let posted = lead_comments(&text);
        for note in notes {
            let marker = note.marker();
            if posted.iter().any(|c| c.contains(&marker)) {
                continue;
            }
            let resp = self
                .client
                .post(&url)
                .bearer_auth(token.expose())
                .json(&json!({ "comment": note.crm_text() }))
                .send()
                .await;
            let (status, retry_after, text) = read(resp.map_err(transport)?).await;
            check_status(status, &text, retry_after)?;
        }
        Ok(())
    }

    /// The lead's current values under our field names (to record as CRM-sourced).
    pub async fn pull(&self, crm_id: &str) -> Result<BTreeMap<String, String>, Outcome> {
        let token =
            self.api_token.read().map_err(|e| Outcome::Failed { reason: secret_reason(&e) })?;
        let url = format!("{}/api/leads/{crm_id}/", self.base_url);
        let resp = self.client.get(&url).bearer_auth(token.expose()).send().await;
        let (status, retry_after, text) = read(resp.map_err(transport)?).await;
        check_status(status, &text, retry_after)?;
        Ok(self.map.from_crm(&lead_values(&text)))
    }

    /// The lead whose email is exactly `email` (case-insensitive), if any. The API's `?email=`
    /// filter is a substring match, so `ann@x.io` also finds `joann@x.io`; this checks.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<String>, Outcome> {
        let token =
            self.api_token.read().map_err(|e| Outcome::Failed { reason: secret_reason(&e) })?;
        let url = format!("{}/api/leads/", self.base_url);
        let resp = self
            .client
            .get(&url)
            .bearer_auth(token.expose())
            .query(&[("email", email), ("limit", "100")])
            .send()
            .await;
        let (status, retry_after, text) = read(resp.map_err(transport)?).await;
        check_status(status, &text, retry_after)?;
        Ok(exact_email_match(&text, email))
    }
}

/// What the lead intake webhook did with a lead it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// A new lead, created with our values.
    Created { lead: String },
    /// `duplicate` or `merged`: the lead existed and kept its values; ours must be written.
    Existing { lead: String },
}

/// Reads the intake webhook's answer: the lead it names, or the outcome to record (a non-2xx is
/// [`crate::classify`]'d; a 2xx that names no lead is a failure to retry).
pub fn intake_reply(
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> Result<Intake, Outcome> {
    check_status(status, body, retry_after)?;
    let reply: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let Some(lead) = reply.get("lead").and_then(Value::as_str).map(str::to_owned) else {
        return Err(Outcome::Failed { reason: format!("intake answered {status} without a lead") });
    };
    Ok(match reply.get("result").and_then(Value::as_str) {
        Some("created") => Intake::Created { lead },
        _ => Intake::Existing { lead },
    })
}

/// A lead's text values under the CRM's names, from `GET /api/leads/<id>/` (the lead under
/// `lead_obj`, `lead` or at the top).
pub fn lead_values(body: &str) -> BTreeMap<String, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let lead = v.get("lead_obj").or_else(|| v.get("lead")).unwrap_or(&v);
    lead.as_object()
        .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// The texts of a lead's comments in a `GET /api/leads/<id>/` answer (`comments[].comment`).
pub fn lead_comments(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["comment"].as_str().map(str::to_owned))
        .collect()
}

/// The id of the (last) lead in a `GET /api/leads/?email=` answer whose email is exactly
/// `email`, ignoring ASCII case: the API's filter is a substring match.
pub fn exact_email_match(body: &str, email: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut found = None;
    for list in [&v["open_leads"]["open_leads"], &v["close_leads"]["close_leads"]] {
        for lead in list.as_array().into_iter().flatten() {
            let same = lead["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email));
            if same {
                found = lead["id"].as_str().map(str::to_owned);
            }
        }
    }
    found
}

pub(crate) fn secret_reason(e: &SecretError) -> String {
    format!("credential unavailable: {e}")
}
