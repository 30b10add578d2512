//! The audit log: who did what to which subject, and when. Its details carry **no message text
//! and no personal data** (issue 9): [`sanitize`] keeps numbers, booleans and the strings of a
//! short list of code-valued keys (`kind`, `role`, `field`, `action`, `source`, `mode`, `reason`,
//! ids…) when they look like codes, and replaces every other string by its length, so a message,
//! a suggestion, a lead field's value or an entity found in a message never reaches this table,
//! whatever a caller passes in. The text itself lives in the conversation's event log, which
//! erasure removes.

use closer_dialogue::Millis;
use rusqlite::{Transaction, params};

use crate::{Store, StoreError};

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

pub(crate) fn append(
    tx: &Transaction<'_>,
    at: Millis,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, actor, action, subject, sanitize(detail).to_string()],
    )?;
    Ok(())
}

/// Keys whose string values are codes (enum names, field keys, ids), kept when they look like one.
const CODE_KEYS: &[&str] = &[
    "kind",
    "role",
    "action",
    "field",
    "source",
    "mode",
    "to",
    "reason",
    "channel",
    "label",
    "labels",
    "lang",
    "language",
    "status",
    "by",
    "change",
    "objection",
    "promotion",
    "id",
    "product",
    "plan",
    "sentiment",
    "intents",
    "intent",
    "asked",
    "op",
    "previous",
    "code",
];
/// Keys whose strings a member of staff wrote about the software (a strategy version's note).
const STAFF_TEXT_KEYS: &[&str] = &["note"];

/// A code: ASCII letters, digits and `_ . : / -`, at most 80 bytes, and no run of 5 or more
/// digits unless it is an id of the form `s-12-1790000000000-0` under the key `id`.
fn looks_like_code(key: &str, s: &str) -> bool {
    if s.is_empty() || s.len() > 80 {
        return s.is_empty();
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-'))
    {
        return false;
    }
    if s.contains('@') {
        return false;
    }
    let mut run = 0;
    let mut longest = 0;
    for b in s.bytes() {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest < 5 {
        return true;
    }
    // Generated ids: a short lower-case prefix, then dash-separated numbers.
    key == "id"
        && s.split('-').next().is_some_and(|p| {
            (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase())
        })
        && s.split('-').skip(1).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `detail` with every string that is not a code under a code key replaced by
/// `"[N chars]"` (see the module doc). Object keys are kept only when they are codes themselves.
pub fn sanitize(detail: &serde_json::Value) -> serde_json::Value {
    fn walk(key: &str, v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                if STAFF_TEXT_KEYS.contains(&key)
                    || (CODE_KEYS.contains(&key) && looks_like_code(key, s))
                {
                    Value::String(s.clone())
                } else {
                    Value::String(format!("[{} chars]", s.chars().count()))
                }
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(key, i)).collect()),
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                let mut hidden = 0;
                for (k, v) in map {
                    if looks_like_code("", k) {
                        out.insert(k.clone(), walk(k, v));
                    } else {
                        hidden += 1;
                    }
                }
                if hidden > 0 {
                    out.insert("hidden_keys".into(), Value::from(hidden));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
    walk("", detail)
}

impl Store {
    /// The newest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, actor, action, subject, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                let detail: String = r.get(5)?;
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_values_and_entities_never_pass() {
        let detail = serde_json::json!({
            "kind": "field_set", "field": "phone", "value": "13812345678", "source": "ai",
            "confidence": 0.9, "at": 5,
            "annotation": {"entities": [{"kind": "email", "text": "wang@example.com",
                                          "value": "wang@example.com"}],
                           "intents": [{"label": "provide_contact", "confidence": 0.8}]},
            "text": "我的微信是wxid_abc123", "id": "s-3-1790000000000-0", "reason": "13812345678",
            "13900001111": 1, "note": "persona edited", "role": "customer"
        });
        let clean = sanitize(&detail).to_string();
        for secret in ["13812345678", "wang@example.com", "wxid_abc123", "13900001111", "微信"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        for kept in [
            "field_set",
            "phone",
            "provide_contact",
            "s-3-1790000000000-0",
            "persona edited",
            "\"customer\"",
            "0.9",
        ] {
            assert!(clean.contains(kept), "{kept} missing from {clean}");
        }
        assert!(clean.contains("\"value\":\"[11 chars]\""), "{clean}");
    }
}
