//! Property tests of the chat widget's inbound frames: what a visitor's text or binary WebSocket
//! frame becomes (`closer_channels::decode_frame`, then `check_text` after the rate limit).
//!
//! - Arbitrary bytes and arbitrary strings never panic; every refusal is one of the documented
//!   codes (`not_utf8`, `too_large`, `malformed`, `empty`) with a message for people.
//! - JSON-ish frames (random objects over the protocol's keys, unknown types and fields, values of
//!   the wrong type, truncated or spliced text) get exactly the verdict the protocol describes,
//!   checked against an independent reading of the frame as a `serde_json::Value`.
//! - Valid `message` and `typing` frames round-trip; ids that are empty, longer than 64 bytes or
//!   hold a control character are refused; oversize envelopes and texts are refused at and only
//!   beyond their limits.
//! - Over a real loopback server: random frames from one visitor are each answered in order with
//!   exactly the frame the decoder predicts (an error frame with the right code for every bad
//!   one), that visitor's connection stays usable, and another visitor's connection is never
//!   dropped.
//!
//! `PROPTEST_CASES` raises the count (the server property runs a tenth of it, at least 32).
//! Failures persist under `proptest-regressions/`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closer_channels::client::Visitor;
use closer_channels::{
    Accepted, Contact, FrameRefusal, Hub, Inbound, Inbox, IngestError, Limits, Line, Server,
    ServerConfig, VisitorFrame, check_text, decode_frame,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Message;

const CODES: [&str; 4] = ["not_utf8", "too_large", "malformed", "empty"];

fn limits() -> Limits {
    Limits::default()
}

/// The whole verdict on a frame, as the server applies it (rate limit aside): the decoded frame
/// with its text checked, or the refusal.
fn verdict(data: &[u8], limits: &Limits) -> Result<VisitorFrame, FrameRefusal> {
    let frame = decode_frame(data, limits)?;
    if let VisitorFrame::Message { id, text } = &frame {
        check_text(id, text, limits)?;
    }
    Ok(frame)
}

fn refused_properly(r: &FrameRefusal) -> Result<(), TestCaseError> {
    prop_assert!(CODES.contains(&r.code), "unknown code {:?}", r.code);
    prop_assert!(!r.message.trim().is_empty(), "{:?} has no message", r.code);
    Ok(())
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && !id.chars().any(char::is_control)
}

/// What the protocol says of a frame, read independently of the decoder: `Err(code)` or the frame.
fn expected(text: &str, limits: &Limits) -> Result<VisitorFrame, &'static str> {
    if text.len() > limits.max_text_bytes * 2 + 256 {
        return Err("too_large");
    }
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else { return Err("malformed") };
    let only = |keys: &[&str]| o.keys().all(|k| keys.contains(&k.as_str()));
    match o.get("type").and_then(Value::as_str) {
        Some("message") if only(&["type", "id", "text"]) => {
            let (Some(Value::String(id)), Some(Value::String(text))) = (o.get("id"), o.get("text"))
            else {
                return Err("malformed");
            };
            if !valid_id(id) {
                return Err("malformed");
            }
            Ok(VisitorFrame::Message { id: id.clone(), text: text.clone() })
        }
        Some("typing") if only(&["type", "on"]) => match o.get("on") {
            Some(Value::Bool(on)) => Ok(VisitorFrame::Typing { on: *on }),
            _ => Err("malformed"),
        },
        _ => Err("malformed"),
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
        "[\\x00-\\x1f\\u{7f}\\u{85}a ]{0,4}".prop_map(Value::String),
        Just(Value::String(String::new())),
        Just(Value::String("m1".into())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["type", "id", "text", "on"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["admin", "Type", "ID", ""]).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

fn type_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop::sample::select(vec!["message", "typing"]).prop_map(|t| json!(t)),
        2 => prop::sample::select(vec!["shutdown", "Message", "ack", "welcome", "error", ""])
            .prop_map(|t| json!(t)),
        1 => value(),
    ]
}

/// A JSON object over the protocol's keys (and others), its values of any type.
fn object() -> impl Strategy<Value = Value> {
    (type_value(), prop::collection::vec((key(), value()), 0..4), any::<bool>()).prop_map(
        |(kind, fields, typed)| {
            let mut o = Map::new();
            if typed {
                o.insert("type".into(), kind);
            }
            for (k, v) in fields {
                o.insert(k, v);
            }
            Value::Object(o)
        },
    )
}

/// Mostly well-formed protocol frames: a message or typing frame with its fields dropped, of the
/// wrong type, or joined by another field.
fn near_valid() -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        3 => "[A-Za-z0-9_-]{1,20}".prop_map(Value::String),
        1 => value(),
        1 => "\\PC{60,70}".prop_map(Value::String),
    ];
    let text = prop_oneof![4 => "\\PC{0,40}".prop_map(Value::String), 1 => value()];
    let extra = prop::option::weighted(0.2, (key(), value()));
    (id, text, any::<bool>(), extra, any::<bool>(), prop::option::weighted(0.15, "[a-z]{1,3}"))
        .prop_map(|(id, text, typing, extra, on, drop)| {
            let mut o = Map::new();
            if typing {
                o.insert("type".into(), json!("typing"));
                o.insert("on".into(), json!(on));
            } else {
                o.insert("type".into(), json!("message"));
                o.insert("id".into(), id);
                o.insert("text".into(), text);
            }
            if let Some((k, v)) = extra {
                o.insert(k, v);
            }
            if let Some(d) = drop {
                o.retain(|k, _| !k.starts_with(&d));
            }
            Value::Object(o)
        })
}

/// A string as a client might send it: a JSON-ish frame, sometimes cut short or spliced.
fn json_ish() -> impl Strategy<Value = String> {
    let base = prop_oneof![1 => object(), 2 => near_valid()].prop_map(|v| v.to_string());
    (base, 0usize..4, any::<prop::sample::Index>(), "\\PC{0,3}|[{}\\[\\]\",:\\\\]").prop_map(
        |(s, how, at, splice)| {
            let mut cut = at.index(s.len() + 1);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            match how {
                1 => s[..cut].to_owned(),
                2 => format!("{}{splice}{}", &s[..cut], &s[cut..]),
                _ => s,
            }
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_refusals_are_typed(
        data in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        match verdict(&data, &limits()) {
            Err(r) => refused_properly(&r)?,
            Ok(VisitorFrame::Message { id, text }) => {
                prop_assert!(valid_id(&id));
                prop_assert!(!text.trim().is_empty());
            }
            Ok(VisitorFrame::Typing { .. }) => {}
        }
        // Not UTF-8 is refused as such, before anything else.
        if std::str::from_utf8(&data).is_err() {
            let r = decode_frame(&data, &limits()).expect_err("not UTF-8");
            prop_assert_eq!(r.code, "not_utf8");
            prop_assert_eq!(r.id, None);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic_and_refusals_are_typed(text in "\\PC{0,600}|.{0,60}") {
        match verdict(text.as_bytes(), &limits()) {
            Err(r) => {
                refused_properly(&r)?;
                prop_assert_ne!(r.code, "not_utf8");
            }
            Ok(frame) => prop_assert_eq!(Ok(frame), expected(&text, &limits())),
        }
    }

    /// The decoder's verdict on JSON-ish frames is the protocol's, code for code.
    #[test]
    fn json_ish_frames_get_the_protocols_verdict(text in json_ish()) {
        let got = decode_frame(text.as_bytes(), &limits());
        if let Err(r) = &got {
            refused_properly(r)?;
            prop_assert_eq!(&r.id, &None, "decode refusals carry no id");
        }
        prop_assert_eq!(got.map_err(|r| r.code), expected(&text, &limits()), "{}", text);
    }

    #[test]
    fn valid_messages_round_trip(
        id in "[^\\p{Cc}]{1,16}",
        text in "\\PC{0,200}[^\\s]\\PC{0,200}",
    ) {
        let frame = json!({ "type": "message", "id": id, "text": text }).to_string();
        prop_assert_eq!(
            verdict(frame.as_bytes(), &limits()),
            Ok(VisitorFrame::Message { id: id.clone(), text: text.clone() })
        );
        // Field order, whitespace and escapes do not matter.
        let reordered = format!(
            " {{ \"text\" : {} ,\"id\":{},  \"type\":\"message\" }}\n",
            serde_json::to_string(&text).map_err(|e| TestCaseError::fail(e.to_string()))?,
            json!(id),
        );
        prop_assert_eq!(
            decode_frame(reordered.as_bytes(), &limits()),
            Ok(VisitorFrame::Message { id, text })
        );
    }

    #[test]
    fn typing_frames_round_trip(on in any::<bool>()) {
        let frame = json!({ "type": "typing", "on": on }).to_string();
        prop_assert_eq!(decode_frame(frame.as_bytes(), &limits()), Ok(VisitorFrame::Typing { on }));
    }

    #[test]
    fn bad_ids_are_refused(
        id in prop_oneof![
            Just(String::new()),
            "[a-z0-9]{65,80}",
            "[^\\p{Cc}]{17,40}".prop_filter("over 64 bytes", |s| s.len() > 64),
            "[a-z]{0,10}[\\x00-\\x1f\\u{7f}-\\u{9f}][a-z]{0,10}",
        ],
    ) {
        let frame = json!({ "type": "message", "id": id, "text": "hello" }).to_string();
        let r = decode_frame(frame.as_bytes(), &limits()).expect_err("a bad id");
        prop_assert_eq!(r.code, "malformed");
        refused_properly(&r)?;
    }

    /// Texts up to the limit pass (unless blank), one byte more is refused with the id; an
    /// envelope beyond twice the limit plus 256 bytes is refused unread.
    #[test]
    fn oversize_is_refused_at_and_only_beyond_the_limits(
        max in 1usize..600,
        extra in 0usize..64,
        wide in any::<bool>(),
        fill in 0usize..4,
    ) {
        let limits = Limits { max_text_bytes: max, ..Limits::default() };
        let unit = if wide { "é" } else { "x" };
        let n = (max + extra) / unit.len();
        let text = unit.repeat(n);
        let checked = check_text("id-1", &text, &limits);
        if text.len() > max {
            let r = checked.expect_err("over the limit");
            prop_assert_eq!(r.code, "too_large");
            prop_assert_eq!(r.id.as_deref(), Some("id-1"));
            refused_properly(&r)?;
        } else {
            prop_assert_eq!(checked, Ok(()));
        }
        let envelope_limit = max * 2 + 256;
        let frame = json!({ "type": "message", "id": "e", "text": "y".repeat(envelope_limit + fill) })
            .to_string();
        let r = decode_frame(frame.as_bytes(), &limits).expect_err("envelope too large");
        prop_assert_eq!(r.code, "too_large");
        // Blank text is `empty`, whatever its whitespace.
        let blank = " \t\n\u{3000}".repeat(fill.min(max / 4));
        if blank.len() <= max {
            prop_assert_eq!(check_text("b", &blank, &limits).map_err(|r| r.code), Err("empty"));
        }
    }
}

/// Keeps what it is given, as the visitor-facing tests' recorder does.
#[derive(Debug, Default)]
struct Recorder {
    contacts: Mutex<Vec<String>>,
    taken: Mutex<HashSet<(String, String)>>,
}

impl Inbox for Recorder {
    fn conversation_for(&self, contact: &Contact) -> Result<i64, IngestError> {
        let mut contacts = self.contacts.lock().expect("lock");
        contacts.push(contact.key.clone());
        Ok(contacts.len() as i64)
    }

    fn history(&self, _conversation_id: i64) -> Result<Vec<Line>, IngestError> {
        Ok(Vec::new())
    }

    fn accept(&self, message: Inbound) -> Result<Accepted, IngestError> {
        let fresh = message.dedup.is_none_or(|key| self.taken.lock().expect("lock").insert(key));
        Ok(if fresh { Accepted::Queued } else { Accepted::Duplicate })
    }
}

fn frame() -> impl Strategy<Value = Message> {
    prop_oneof![
        3 => json_ish().prop_map(|s| Message::Text(s.into())),
        1 => "\\PC{0,64}".prop_map(|s| Message::Text(s.into())),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| Message::Binary(b.into())),
        1 => ("[a-z]{1,8}", "\\PC{1,40}").prop_map(|(id, text)| {
            Message::Text(json!({ "type": "message", "id": id, "text": text }).to_string().into())
        }),
        1 => (8_200usize..9_000).prop_map(|n| {
            Message::Text(json!({ "type": "message", "id": "big", "text": "z".repeat(n) })
                .to_string()
                .into())
        }),
    ]
}

/// What the server should answer to a frame: `(type, code or id)`, or nothing (typing).
fn answer(message: &Message, limits: &Limits) -> Option<(String, String)> {
    let data: &[u8] = match message {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
        _ => return None,
    };
    match verdict(data, limits) {
        Err(r) => Some(("error".into(), r.code.into())),
        Ok(VisitorFrame::Message { id, .. }) => Some(("ack".into(), id)),
        Ok(VisitorFrame::Typing { .. }) => None,
    }
}

const T: Duration = Duration::from_secs(10);

fn server_cases() -> u32 {
    let asked = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse::<u32>().ok());
    asked.map_or(32, |n| (n / 10).max(32))
}

#[test]
fn a_live_server_answers_every_bad_frame_and_other_visitors_carry_on() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // No rate limit in the way: every frame's answer is the decoder's verdict.
    let limits = Limits { burst: 1e12, per_second: 1e12, ..Limits::default() };
    let mut config = ServerConfig::loopback(0);
    config.limits = limits;
    let recorder = Arc::new(Recorder::default());
    let server = Server::start(config, recorder as Arc<dyn Inbox>, Arc::new(Hub::default()))
        .expect("server starts");
    let url = server.url();
    let good = tokio::sync::Mutex::new(
        rt.block_on(Visitor::connect(&url, None, "en", None)).expect("the other visitor"),
    );
    let round = std::cell::Cell::new(0u64);
    let mut runner = TestRunner::new(Config {
        cases: server_cases(),
        source_file: Some(file!()),
        ..Config::default()
    });
    let frames = prop::collection::vec(frame(), 1..8);
    let result = runner.run(&frames, |frames| {
        rt.block_on(async {
            let mut bad = Visitor::connect(&url, None, "en", None)
                .await
                .map_err(|e| TestCaseError::fail(format!("connect: {e}")))?;
            let mut want = Vec::new();
            for f in &frames {
                want.extend(answer(f, &limits));
                bad.send(f.clone()).await.map_err(|e| TestCaseError::fail(format!("send: {e}")))?;
            }
            for (kind, what) in &want {
                let got = bad
                    .next(T)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("awaiting {kind} {what}: {e}")))?;
                prop_assert_eq!(got["type"].as_str(), Some(kind.as_str()), "{}", got);
                let field = if kind == "ack" { "id" } else { "code" };
                prop_assert_eq!(got[field].as_str(), Some(what.as_str()), "{}", got);
                if kind == "error" {
                    prop_assert!(!got["message"].as_str().unwrap_or_default().is_empty());
                }
            }
            // Nothing else came, and the connection still works.
            bad.say("end", "still here").await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let end = bad.next(T).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((end["type"].as_str(), end["id"].as_str()), (Some("ack"), Some("end")));
            bad.close().await;
            // The other visitor never noticed.
            round.set(round.get() + 1);
            let id = format!("g{}", round.get());
            let mut good = good.lock().await;
            good.say(&id, "hello").await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ack = good.next(T).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(ack["id"].as_str(), Some(id.as_str()), "{}", ack);
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}
