//! Property tests of command-argument decoding (`closer_app::args::decode`), the one door from
//! the webview: whatever bytes arrive, decoding never panics and every refusal is a typed
//! `invalid_argument` or `too_large`; valid arguments round-trip; lone surrogates, invalid UTF-8,
//! unknown fields and oversize bodies or texts are refused with the right code. Failures are
//! persisted under `proptest-regressions/`; `PROPTEST_CASES` raises the count.

use closer_app::ErrorCode;
use closer_app::args::{
    self, ConversationArgs, CustomerMessageArgs, MAX_REQUEST_BYTES, MAX_TEXT_BYTES,
    RejectSuggestionArgs, SendReplyArgs, SetLeadFieldArgs, SetModeArgs,
};
use closer_app::privacy::{ExportLeadArgs, SetRetentionArgs};
use proptest::prelude::*;

fn refused_properly<T: serde::de::DeserializeOwned + args::Validate>(
    body: &[u8],
) -> Result<(), TestCaseError> {
    if let Err(e) = args::decode::<T>(body) {
        prop_assert!(
            matches!(e.code, ErrorCode::InvalidArgument | ErrorCode::TooLarge),
            "{:?}: {}",
            e.code,
            e.message
        );
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

fn all_decoders(body: &[u8]) -> Result<(), TestCaseError> {
    refused_properly::<ConversationArgs>(body)?;
    refused_properly::<SendReplyArgs>(body)?;
    refused_properly::<SetLeadFieldArgs>(body)?;
    refused_properly::<SetModeArgs>(body)?;
    refused_properly::<CustomerMessageArgs>(body)?;
    refused_properly::<RejectSuggestionArgs>(body)?;
    refused_properly::<ExportLeadArgs>(body)?;
    refused_properly::<SetRetentionArgs>(body)?;
    Ok(())
}

/// JSON-shaped bodies: the right keys and wrong ones, every value type, escapes.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![
        "conversationId",
        "text",
        "field",
        "value",
        "mode",
        "id",
        "reason",
        "days",
        "redacted",
        "extra",
        "__proto__",
        "conversation_id",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        "\\PC{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        "(\\\\u[0-9a-fA-F]{4}|[a-z]|\\\\[nrt\"\\\\/])*".prop_map(|s| format!("\"{s}\"")),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|kv| {
        let inner: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", inner.join(",")).into_bytes()
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&body)?;
    }

    #[test]
    fn json_shaped_bodies_never_panic(body in jsonish()) {
        all_decoders(&body)?;
    }

    #[test]
    fn valid_messages_round_trip(id in 1i64..i64::MAX, text in "\\PC{0,300}[^\\s]\\PC{0,300}") {
        let body = serde_json::json!({ "conversationId": id, "text": text }).to_string();
        let args: CustomerMessageArgs = args::decode(body.as_bytes()).map_err(|e| TestCaseError::fail(e.message))?;
        prop_assert_eq!(args.conversation_id, id);
        prop_assert_eq!(args.text, text);
    }

    #[test]
    fn lone_surrogates_are_invalid_unicode(prefix in "[a-z]{0,8}", high in any::<bool>(), unit in 0u16..0x400) {
        let code = if high { 0xD800 + unit } else { 0xDC00 + unit };
        let body = format!(r#"{{"conversationId":1,"text":"{prefix}\u{code:04x}z"}}"#);
        let e = args::decode::<CustomerMessageArgs>(body.as_bytes()).expect_err("a lone surrogate");
        prop_assert_eq!(e.code, ErrorCode::InvalidArgument);
        prop_assert!(e.message.contains("Unicode"), "{}", e.message);
    }

    #[test]
    fn invalid_utf8_inside_a_string_is_refused(bad in prop::sample::select(vec![vec![0xC0u8], vec![0xFF], vec![0xED, 0xA0, 0x80], vec![0xE4, 0xB8]])) {
        let mut body = br#"{"conversationId":1,"text":"ab"#.to_vec();
        body.extend(&bad);
        body.extend(br#"cd"}"#);
        let e = args::decode::<CustomerMessageArgs>(&body).expect_err("invalid UTF-8");
        prop_assert_eq!(e.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn unknown_fields_are_refused(name in "[a-z]{1,12}") {
        prop_assume!(!["text", "conversationid"].contains(&name.as_str()));
        let body = format!(r#"{{"conversationId":1,"text":"hi","{name}":1}}"#);
        let e = args::decode::<CustomerMessageArgs>(body.as_bytes()).expect_err("unknown field");
        prop_assert_eq!(e.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn oversize_text_and_bodies_are_too_large(extra in 1usize..4096) {
        let text = "字".repeat(MAX_TEXT_BYTES / 3 + extra);
        let body = serde_json::json!({ "conversationId": 1, "text": text }).to_string();
        let e = args::decode::<CustomerMessageArgs>(body.as_bytes()).expect_err("too large");
        prop_assert_eq!(e.code, ErrorCode::TooLarge);
        let body = vec![b' '; MAX_REQUEST_BYTES + extra];
        let e = args::decode::<NoArgsAlias>(&body).expect_err("too large");
        prop_assert_eq!(e.code, ErrorCode::TooLarge);
    }
}

type NoArgsAlias = args::NoArgs;
