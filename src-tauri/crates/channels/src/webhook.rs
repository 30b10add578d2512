//! The inbound webhook: IM platforms and website forms post customer messages as JSON, signed
//! with a shared secret (HMAC-SHA256 over `timestamp + "." + body`). The format is in the
//! crate's README.md.
//!
//! Key decisions: the signature is checked before the body is parsed (nothing unauthenticated is
//! interpreted), in constant time; a timestamp further than the allowed skew from now is refused
//! (a captured request cannot be replayed later); within the window a replay is caught by the
//! sender's message id, which is claimed once.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The header with the request's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-closer-timestamp";
/// The header with `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "x-closer-signature";

/// How the webhook checks requests, and where replies to its customers go.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The shared secret (at least 16 bytes); it signs the replies too.
    pub secret: Vec<u8>,
    /// How far a request's timestamp may be from now, in seconds.
    pub max_skew_secs: i64,
    /// Per platform, the URL replies are posted to ([`crate::callback`]); a platform without
    /// one keeps its replies in the conversation only.
    pub callbacks: Vec<crate::callback::Callback>,
    pub retry: crate::callback::RetryPolicy,
}

impl WebhookConfig {
    /// Inbound only: no reply callbacks.
    pub fn new(secret: Vec<u8>, max_skew_secs: i64) -> Self {
        Self { secret, max_skew_secs, callbacks: Vec::new(), retry: Default::default() }
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &"<redacted>")
            .field("max_skew_secs", &self.max_skew_secs)
            .field("callbacks", &self.callbacks)
            .field("retry", &self.retry)
            .finish()
    }
}

/// One inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookMessage {
    /// The sender platform's id of this message (1–128 characters): a message posted twice is
    /// taken once.
    pub message_id: String,
    pub sender: Sender,
    pub text: String,
    /// `zh` or `en`; guessed from the text when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// Which platform or form (`[a-z0-9_-]`, 1–32 characters; `default` when absent).
    #[serde(default)]
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// The platform's id of the customer (1–128 characters).
    pub id: String,
    /// The name the console shows (at most 64 characters).
    #[serde(default)]
    pub name: Option<String>,
}

/// Why a webhook request was refused: a stable code and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { status, code, message: message.into() }
}

/// The signature header's value for a body sent at `timestamp` (for senders and tests).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: i64) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac
}

/// Checks a request: timestamp present and fresh, signature right, body UTF-8 JSON of the
/// documented shape with valid values. `now` is Unix seconds.
pub fn verify(
    config: &WebhookConfig,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    max_text_bytes: usize,
) -> Result<WebhookMessage, Refusal> {
    let timestamp: i64 = timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| refuse(401, "bad_timestamp", "missing or malformed X-Closer-Timestamp"))?;
    let signature = signature
        .and_then(|s| s.trim().strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| refuse(401, "bad_signature", "missing or malformed X-Closer-Signature"))?;
    let mut mac = mac(&config.secret, timestamp);
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| refuse(401, "bad_signature", "the signature does not match the body"))?;
    // abs_diff: no overflow whatever signed timestamp arrives (i64::MIN included).
    let skew = now.abs_diff(timestamp);
    if skew > config.max_skew_secs.unsigned_abs() {
        return Err(refuse(
            401,
            "stale_timestamp",
            format!(
                "the timestamp is {}s from now; at most {}s is accepted",
                skew, config.max_skew_secs
            ),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| refuse(400, "not_utf8", "the body is not valid UTF-8"))?;
    let message: WebhookMessage = serde_json::from_str(text)
        .map_err(|e| refuse(400, "malformed", format!("the body is not a webhook message: {e}")))?;
    check_len("message_id", &message.message_id, 1, 128)?;
    check_len("sender.id", &message.sender.id, 1, 128)?;
    if let Some(name) = &message.sender.name {
        check_len("sender.name", name, 0, 64)?;
    }
    if message.text.trim().is_empty() {
        return Err(refuse(400, "empty", "the message has no text"));
    }
    if message.text.len() > max_text_bytes {
        return Err(refuse(
            413,
            "too_large",
            format!("text of {} bytes; the limit is {max_text_bytes}", message.text.len()),
        ));
    }
    if let Some(language) = &message.language
        && !matches!(language.as_str(), "zh" | "en")
    {
        return Err(refuse(400, "malformed", "language must be \"zh\" or \"en\""));
    }
    if let Some(platform) = &message.platform {
        let ok = (1..=32).contains(&platform.len())
            && platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(refuse(400, "malformed", "platform must be 1-32 of [a-z0-9_-]"));
        }
    }
    Ok(message)
}

fn check_len(what: &str, value: &str, min: usize, max: usize) -> Result<(), Refusal> {
    let n = value.chars().count();
    if n < min || n > max || value.chars().any(char::is_control) {
        return Err(refuse(
            400,
            "malformed",
            format!("{what} must be {min}-{max} printable characters"),
        ));
    }
    Ok(())
}

/// `POST /webhook`.
pub(crate) async fn receive(
    axum::extract::State(shared): axum::extract::State<crate::server::Shared>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::Json;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let reply = |status: u16, value: serde_json::Value| {
        (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), Json(value))
            .into_response()
    };
    let error = |status: u16, code: &str, message: &str| {
        reply(status, serde_json::json!({ "error": { "code": code, "message": message } }))
    };
    let Some(config) = shared.webhook.clone() else {
        return error(404, "not_configured", "the webhook is not configured");
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let message = match verify(
        &config,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        now,
        shared.limits.max_text_bytes,
    ) {
        Ok(m) => m,
        Err(r) => {
            tracing::info!(code = r.code, "webhook request refused");
            return error(r.status, r.code, &r.message);
        }
    };
    let platform = message.platform.clone().unwrap_or_else(|| "default".to_owned());
    let key = format!("{platform}:{}", message.sender.id);
    if !shared.rate.allow(&format!("webhook:{key}")) {
        return error(429, "rate_limited", "this sender is sending too fast");
    }
    let language =
        message.language.clone().unwrap_or_else(|| crate::guess_language(&message.text).to_owned());
    let contact = crate::Contact {
        channel: closer_dialogue::Channel::Webhook,
        key,
        name: message
            .sender
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| message.sender.id.clone()),
        language,
    };
    let inbox = std::sync::Arc::clone(&shared.inbox);
    let taken = tokio::task::spawn_blocking(move || {
        let conversation_id = inbox.conversation_for(&contact)?;
        let accepted = inbox.accept(crate::Inbound {
            conversation_id,
            text: message.text,
            dedup: Some((format!("webhook:{platform}"), message.message_id)),
        })?;
        Ok::<_, crate::IngestError>((conversation_id, accepted))
    })
    .await;
    match taken {
        Ok(Ok((conversation_id, crate::Accepted::Queued))) => reply(
            202,
            serde_json::json!({ "status": "accepted", "conversation_id": conversation_id }),
        ),
        Ok(Ok((conversation_id, crate::Accepted::Duplicate))) => reply(
            200,
            serde_json::json!({ "status": "duplicate", "conversation_id": conversation_id }),
        ),
        Ok(Err(e)) => error(503, &e.code, &e.message),
        Err(_) => error(500, "internal", "the message could not be taken in"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn config() -> WebhookConfig {
        WebhookConfig::new(b"0123456789abcdef-secret".to_vec(), 300)
    }

    fn body() -> Vec<u8> {
        br#"{"message_id":"m-1","sender":{"id":"u-9","name":"Li"},"text":"hello"}"#.to_vec()
    }

    fn check(ts: i64, sig: &str, body: &[u8]) -> Result<WebhookMessage, Refusal> {
        verify(&config(), Some(&ts.to_string()), Some(sig), body, NOW, 4096)
    }

    #[test]
    fn a_signed_fresh_message_is_read() {
        let b = body();
        let m = check(NOW - 10, &sign(&config().secret, NOW - 10, &b), &b).expect("valid");
        assert_eq!(m.message_id, "m-1");
        assert_eq!(m.sender.name.as_deref(), Some("Li"));
    }

    #[test]
    fn bad_signatures_old_timestamps_and_bad_bodies_are_refused_with_codes() {
        let b = body();
        let other_secret = sign(b"another-secret-entirely", NOW, &b);
        assert_eq!(check(NOW, &other_secret, &b).map_err(|r| r.code), Err("bad_signature"));
        // The timestamp is signed: moving it breaks the signature.
        let sig = sign(&config().secret, NOW, &b);
        assert_eq!(check(NOW + 1, &sig, &b).map_err(|r| r.code), Err("bad_signature"));
        let old = NOW - 301;
        assert_eq!(
            check(old, &sign(&config().secret, old, &b), &b).map_err(|r| r.code),
            Err("stale_timestamp")
        );
        let bad = [0xff, 0xfe, b'{'];
        assert_eq!(
            check(NOW, &sign(&config().secret, NOW, &bad), &bad).map_err(|r| r.code),
            Err("not_utf8")
        );
        let extra = br#"{"message_id":"m","sender":{"id":"u"},"text":"x","admin":true}"#;
        assert_eq!(
            check(NOW, &sign(&config().secret, NOW, extra), extra).map_err(|r| r.code),
            Err("malformed")
        );
        let big =
            format!(r#"{{"message_id":"m","sender":{{"id":"u"}},"text":"{}"}}"#, "a".repeat(5000));
        let r = check(NOW, &sign(&config().secret, NOW, big.as_bytes()), big.as_bytes());
        assert_eq!(r.map_err(|r| (r.status, r.code)), Err((413, "too_large")));
        assert_eq!(
            verify(&config(), None, Some(&sig), &b, NOW, 4096).map_err(|r| r.code),
            Err("bad_timestamp")
        );
    }
}
