//! The chat-widget server and the webhook over real sockets on loopback, with a recording inbox:
//! messages in, replies out, history on reconnect, every kind of bad input refused with a clear
//! error frame while other visitors carry on, the origin check, and the webhook's signature,
//! replay window and message-id deduplication.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closer_channels::client::Visitor;
use closer_channels::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConfig, sign};
use closer_channels::{
    Accepted, Contact, Hub, Inbound, Inbox, IngestError, Limits, Line, Server, ServerConfig,
    Speaker, ToCustomer,
};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &[u8] = b"test-secret-0123456789";
const T: Duration = Duration::from_secs(10);

/// Keeps what it is given; the thread of a conversation is its messages and the replies sent.
#[derive(Debug, Default)]
struct Recorder {
    contacts: Mutex<HashMap<(String, String), i64>>,
    names: Mutex<HashMap<i64, String>>,
    taken: Mutex<HashSet<(String, String)>>,
    messages: Mutex<Vec<Inbound>>,
    replies: Mutex<Vec<(i64, String, i64)>>,
    typing: Mutex<Vec<(i64, bool)>>,
}

impl Recorder {
    fn texts(&self, conversation_id: i64) -> Vec<String> {
        let messages = self.messages.lock().expect("lock");
        messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id)
            .map(|m| m.text.clone())
            .collect()
    }

    fn conversation(&self, channel: &str, key: &str) -> Option<i64> {
        self.contacts.lock().expect("lock").get(&(channel.to_owned(), key.to_owned())).copied()
    }
}

impl Inbox for Recorder {
    fn conversation_for(&self, contact: &Contact) -> Result<i64, IngestError> {
        let mut contacts = self.contacts.lock().expect("lock");
        let n = contacts.len() as i64 + 1;
        let id = *contacts
            .entry((contact.channel.as_str().to_owned(), contact.key.clone()))
            .or_insert(n);
        self.names.lock().expect("lock").insert(id, contact.name.clone());
        Ok(id)
    }

    fn history(&self, conversation_id: i64) -> Result<Vec<Line>, IngestError> {
        let mut lines: Vec<Line> = self
            .texts(conversation_id)
            .into_iter()
            .map(|text| Line { from: Speaker::Customer, text, at: 0 })
            .collect();
        for (id, text, at) in self.replies.lock().expect("lock").iter() {
            if *id == conversation_id {
                lines.push(Line { from: Speaker::Agent, text: text.clone(), at: *at });
            }
        }
        Ok(lines)
    }

    fn accept(&self, message: Inbound) -> Result<Accepted, IngestError> {
        if let Some(key) = &message.dedup
            && !self.taken.lock().expect("lock").insert(key.clone())
        {
            return Ok(Accepted::Duplicate);
        }
        self.messages.lock().expect("lock").push(message);
        Ok(Accepted::Queued)
    }

    fn typing(&self, conversation_id: i64, on: bool) {
        self.typing.lock().expect("lock").push((conversation_id, on));
    }
}

fn start(limits: Limits) -> (Server, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut config = ServerConfig::loopback(0);
    config.limits = limits;
    config.webhook = Some(WebhookConfig::new(SECRET.to_vec(), 300));
    let server =
        Server::start(config, Arc::clone(&recorder) as Arc<dyn Inbox>, Arc::new(Hub::default()))
            .expect("server starts");
    (server, recorder)
}

/// The server's hub and the reply it delivers, as the app's sink does after storing it.
fn reply(server: &Server, recorder: &Recorder, conversation_id: i64, text: &str) -> usize {
    recorder.replies.lock().expect("lock").push((conversation_id, text.to_owned(), 42));
    server.hub().send(conversation_id, ToCustomer::Reply { text: text.to_owned(), at: 42 })
}

#[tokio::test]
async fn a_visitor_message_is_taken_in_a_reply_comes_back_and_a_reconnect_restores_the_thread() {
    let (server, recorder) = start(Limits::default());
    let mut v = Visitor::connect(&server.url(), None, "zh", None).await.expect("connect");
    assert_eq!(v.token.len(), 32);
    assert!(v.history.is_empty());
    v.say("c1", "你好，想了解云服务器").await.expect("say");
    let ack = v.next_of("ack", T).await.expect("ack");
    assert_eq!((ack["id"].as_str(), ack["duplicate"].as_bool()), (Some("c1"), Some(false)));
    let id = recorder.conversation("widget", &v.token).expect("a conversation for the visitor");
    assert_eq!(recorder.texts(id), ["你好，想了解云服务器"]);
    assert_eq!(recorder.names.lock().expect("lock")[&id], format!("访客 {}", &v.token[..4]));

    v.send(Message::Text(r#"{"type":"typing","on":true}"#.into())).await.expect("typing");
    server.hub().send(id, ToCustomer::Typing { on: true });
    assert_eq!(v.next_of("typing", T).await.expect("typing")["on"], true);
    assert_eq!(reply(&server, &recorder, id, "您好！请问需要几台？"), 1);
    let got = v.next_of("reply", T).await.expect("the reply arrives live");
    assert_eq!(got["text"], "您好！请问需要几台？");
    assert!(recorder.typing.lock().expect("lock").contains(&(id, true)));

    // Gone, then back with the same token: the same conversation, its history, and a resent
    // message (same client id) is not taken twice.
    let token = v.token.clone();
    v.close().await;
    let mut back =
        Visitor::connect(&server.url(), Some(&token), "zh", None).await.expect("reconnect");
    let texts: Vec<(Speaker, &str)> =
        back.history.iter().map(|l| (l.from, l.text.as_str())).collect();
    assert_eq!(
        texts,
        [(Speaker::Customer, "你好，想了解云服务器"), (Speaker::Agent, "您好！请问需要几台？")]
    );
    back.say("c1", "你好，想了解云服务器").await.expect("resend");
    assert_eq!(back.next_of("ack", T).await.expect("ack")["duplicate"], true);
    assert_eq!(recorder.texts(id).len(), 1);
    // Another visitor is another conversation.
    let other = Visitor::connect(&server.url(), None, "en", None).await.expect("other");
    assert_ne!(other.token, token);
    assert!(other.history.is_empty());
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_nothing_else_is_affected() {
    let (server, recorder) = start(Limits::default());
    let mut bad = Visitor::connect(&server.url(), None, "en", None).await.expect("bad");
    let mut good = Visitor::connect(&server.url(), None, "en", None).await.expect("good");
    let cases: Vec<(Message, &str)> = vec![
        (
            Message::Text(
                format!(r#"{{"type":"message","id":"big","text":"{}"}}"#, "x".repeat(5000)).into(),
            ),
            "too_large",
        ),
        (Message::Text(r#"{"type":"message","id":"m","text":"#.into()), "malformed"),
        (
            Message::Text(r#"{"type":"message","id":"m","text":"hi","admin":true}"#.into()),
            "malformed",
        ),
        (Message::Text(r#"{"type":"shutdown"}"#.into()), "malformed"),
        (Message::Text("not json at all".into()), "malformed"),
        (Message::Binary(vec![0xff, 0xfe, 0x7b, 0x22].into()), "not_utf8"),
        (Message::Text(r#"{"type":"message","id":"e","text":"   "}"#.into()), "empty"),
        (Message::Text(r#"{"type":"message","id":"","text":"hi"}"#.into()), "malformed"),
    ];
    for (frame, code) in cases {
        bad.send(frame).await.expect("send");
        let error = bad.next_of("error", T).await.expect("an error frame");
        assert_eq!(error["code"], code, "{error}");
        assert!(!error["message"].as_str().unwrap_or_default().is_empty());
    }
    // A frame beyond the WebSocket limit ends only that connection.
    let mut huge = Visitor::connect(&server.url(), None, "en", None).await.expect("huge");
    huge.send(Message::Text("y".repeat(70 * 1024).into())).await.expect("send");
    assert!(huge.next(T).await.is_err(), "the oversized connection is closed");

    // The same connections still work, and nothing refused was taken in.
    bad.say("ok", "valid after all that").await.expect("say");
    assert_eq!(bad.next_of("ack", T).await.expect("ack")["id"], "ok");
    good.say("g1", "hello").await.expect("say");
    assert_eq!(good.next_of("ack", T).await.expect("ack")["id"], "g1");
    let all: Vec<String> =
        recorder.messages.lock().expect("lock").iter().map(|m| m.text.clone()).collect();
    assert_eq!(all, ["valid after all that", "hello"]);
}

#[tokio::test]
async fn a_flood_is_rate_limited_per_visitor_and_a_persistent_one_is_disconnected() {
    // One token back per 1,000 s: on a loaded CI machine the flood below may take seconds, and a
    // refill during it would make the counts depend on timing. The refill itself is covered with
    // explicit instants in `limits::tests`.
    let limits = Limits { burst: 5.0, per_second: 0.001, max_strikes: 20, ..Limits::default() };
    let (server, recorder) = start(limits);
    let mut flood = Visitor::connect(&server.url(), None, "zh", None).await.expect("flood");
    let mut calm = Visitor::connect(&server.url(), None, "zh", None).await.expect("calm");
    for n in 0..15 {
        flood.say(&format!("f{n}"), &format!("spam {n}")).await.expect("send");
    }
    let (mut acks, mut limited) = (0, 0);
    for _ in 0..15 {
        let frame = flood.next(T).await.expect("a frame per message");
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") if frame["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    assert_eq!(acks, 5, "the burst is taken");
    assert_eq!(limited, 10);
    // Another visitor is not slowed down.
    calm.say("c", "你好").await.expect("say");
    assert_eq!(calm.next_of("ack", T).await.expect("ack")["id"], "c");
    // Reconnecting does not refill the bucket (the limit is per visitor, not per connection).
    let token = flood.token.clone();
    flood.close().await;
    let mut again = Visitor::connect(&server.url(), Some(&token), "zh", None).await.expect("again");
    again.say("x", "more").await.expect("say");
    assert_eq!(again.next(T).await.expect("frame")["code"], "rate_limited");
    // Keep flooding: disconnected after max_strikes refusals.
    let mut closed = false;
    for n in 0..40 {
        if again.say(&format!("y{n}"), "more").await.is_err() {
            closed = true;
            break;
        }
    }
    let mut saw_final = false;
    for _ in 0..60 {
        match again.next(Duration::from_secs(2)).await {
            Ok(frame) if frame["code"] == "too_many_errors" => saw_final = true,
            Ok(_) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(saw_final && closed, "a persistent flood ends the connection");
    assert_eq!(recorder.texts(recorder.conversation("widget", &token).expect("id")).len(), 5);
}

#[tokio::test]
async fn only_the_pages_own_origin_or_an_allowed_one_may_open_the_chat() {
    let recorder = Arc::new(Recorder::default());
    let mut config = ServerConfig::loopback(0);
    config.allowed_origins = vec!["https://shop.example.com".into()];
    let server = Server::start(config, recorder as Arc<dyn Inbox>, Arc::new(Hub::default()))
        .expect("server");
    let own = format!("http://127.0.0.1:{}", server.addr().port());
    assert!(Visitor::connect(&server.url(), None, "zh", Some(&own)).await.is_ok());
    assert!(
        Visitor::connect(&server.url(), None, "zh", Some("https://shop.example.com")).await.is_ok()
    );
    let refused = Visitor::connect(&server.url(), None, "zh", Some("https://evil.example")).await;
    assert!(matches!(refused, Err(e) if e.to_string().contains("403")));
    // A bad visitor token is refused before the upgrade.
    let bad = Visitor::connect(&server.url(), Some("../../etc"), "zh", None).await;
    assert!(matches!(bad, Err(e) if e.to_string().contains("400")));
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn post(server: &Server, ts: i64, signature: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}webhook", server.url()))
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_webhook_takes_signed_fresh_messages_once() {
    let (server, recorder) = start(Limits::default());
    let body = r#"{"message_id":"wx-1","sender":{"id":"u-1","name":"Li Lei"},"text":"我想买云服务器","platform":"wecom"}"#.as_bytes();
    let ts = now();
    let (status, json) = post(&server, ts, &sign(SECRET, ts, body), body).await;
    assert_eq!((status, json["status"].as_str()), (202, Some("accepted")), "{json}");
    let id = recorder.conversation("webhook", "wecom:u-1").expect("the sender's conversation");
    assert_eq!(json["conversation_id"], id);
    assert_eq!(recorder.names.lock().expect("lock")[&id], "Li Lei");

    // The platform delivers it again (same id, fresh signature): taken once.
    let ts2 = now();
    let (status, json) = post(&server, ts2, &sign(SECRET, ts2, body), body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(recorder.texts(id).len(), 1);

    // Wrong secret, a tampered body, an old timestamp, a body that is not UTF-8.
    let (status, json) =
        post(&server, ts, &sign(b"wrong-secret-wrong-secret", ts, body), body).await;
    assert_eq!((status, json["error"]["code"].as_str()), (401, Some("bad_signature")));
    let tampered = br#"{"message_id":"wx-2","sender":{"id":"u-1"},"text":"refund me 9999"}"#;
    let (status, json) = post(&server, ts, &sign(SECRET, ts, body), tampered).await;
    assert_eq!((status, json["error"]["code"].as_str()), (401, Some("bad_signature")));
    let old = ts - 3600;
    let body3 = br#"{"message_id":"wx-3","sender":{"id":"u-1"},"text":"hello"}"#;
    let (status, json) = post(&server, old, &sign(SECRET, old, body3), body3).await;
    assert_eq!((status, json["error"]["code"].as_str()), (401, Some("stale_timestamp")));
    let binary = [0xffu8, 0xfe, 0xfd];
    let (status, json) = post(&server, ts, &sign(SECRET, ts, &binary), &binary).await;
    assert_eq!((status, json["error"]["code"].as_str()), (400, Some("not_utf8")));
    assert_eq!(recorder.messages.lock().expect("lock").len(), 1, "nothing refused was taken in");
    // An oversized body never reaches the handler.
    let huge = vec![b'a'; 100 * 1024];
    let (status, _) = post(&server, ts, &sign(SECRET, ts, &huge), &huge).await;
    assert_eq!(status, 413);
}
