//! A generic webhook: one JSON POST per change, signed with HMAC-SHA256 over
//! `"{timestamp}.{body}"` (`X-Closer-Signature: sha256=<hex>`, `X-Closer-Timestamp`), with an
//! `Idempotency-Key` that is the same for every retry of one change and different for every
//! change (`<external_key>:<outbox id>`), so the receiver can drop repeats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::{Change, Credential, FieldMap, Outcome, classify, read, transport};

#[derive(Debug, Clone)]
pub struct Webhook {
    url: String,
    secret: Credential,
    map: FieldMap,
    client: reqwest::Client,
}

/// The signature of a body at a timestamp (seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature in constant time (for receivers, and the tests).
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else { return false };
    let Ok(bytes) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else { return false };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// The idempotency key of one change.
pub fn idempotency_key(change: &Change) -> String {
    format!("{}:{}", change.external_key, change.id)
}

impl Webhook {
    pub fn new(url: &str, secret: Credential, map: FieldMap, timeout: Duration) -> Self {
        Self { url: url.to_owned(), secret, map, client: crate::http_client(timeout) }
    }

    pub async fn send(&self, batch: &[Change]) -> Vec<Outcome> {
        let secret = match self.secret.read() {
            Ok(s) => s,
            Err(e) => {
                let reason = crate::bottlecrm::secret_reason(&e);
                return batch.iter().map(|_| Outcome::Failed { reason: reason.clone() }).collect();
            }
        };
        let posts: Vec<_> =
            batch.iter().map(|c| self.post(c, secret.expose().as_bytes())).collect();
        futures_util::stream::iter(posts).buffered(4).collect().await
    }

    async fn post(&self, change: &Change, secret: &[u8]) -> Outcome {
        let key = idempotency_key(change);
        let body = json!({
            "type": "lead.upsert",
            "idempotency_key": key,
            "external_key": change.external_key,
            "crm_id": change.crm_id,
            "fields": self.map.to_crm(&change.fields),
            "notes": change.notes.iter().map(|n| json!({ "key": n.key, "text": n.text })).collect::<Vec<_>>(),
        })
        .to_string();
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .header("x-closer-timestamp", ts.to_string())
            .header("x-closer-signature", sign(secret, ts, body.as_bytes()))
            .body(body)
            .send()
            .await;
        match sent {
            Err(e) => transport(e),
            Ok(resp) => {
                let (status, retry_after, text) = read(resp).await;
                reply_outcome(status, &text, retry_after)
            }
        }
    }
}

/// What the receiver's answer means: a 2xx is delivered (with the `id` it names, if any);
/// anything else is [`classify`]'d.
pub fn reply_outcome(status: u16, body: &str, retry_after: Option<Duration>) -> Outcome {
    if (200..300).contains(&status) {
        let crm_id = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned));
        Outcome::Delivered { crm_id }
    } else {
        classify(status, body, retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_detects_tampering() {
        let sig = sign(b"k", 1_700_000_000, b"{\"a\":1}");
        assert!(verify(b"k", 1_700_000_000, b"{\"a\":1}", &sig));
        assert!(!verify(b"k", 1_700_000_001, b"{\"a\":1}", &sig));
        assert!(!verify(b"k", 1_700_000_000, b"{\"a\":2}", &sig));
        assert!(!verify(b"other", 1_700_000_000, b"{\"a\":1}", &sig));
    }
}
