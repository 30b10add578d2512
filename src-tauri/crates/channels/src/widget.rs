//! The chat widget: the customer's page (Chinese / English) and one WebSocket per visitor.
//!
//! Protocol (JSON text frames; the crate README has the whole of it):
//! - `GET /ws?visitor=<32 hex>&lang=zh|en&name=…` — no `visitor` makes a new one; the server's
//!   first frame is `{"type":"welcome","visitor":…,"history":[{from,text,at}…]}`.
//! - visitor → server: `{"type":"message","id":"<client id>","text":…}` → `{"type":"ack","id":…,
//!   "duplicate":false}`; `{"type":"typing","on":true}`.
//! - server → visitor: `{"type":"reply","text":…,"at":…}`, `{"type":"typing","on":…}`,
//!   `{"type":"error","code":…,"message":…,"id":…}`.
//!
//! A refused frame (malformed, not UTF-8, too large, too fast, empty) gets an error frame and the
//! connection stays; a visitor who keeps sending refused frames is disconnected. Other visitors
//! never notice.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use closer_dialogue::Channel;
use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::server::Shared;
use crate::{Accepted, Contact, Inbound, IngestError, Line, ToCustomer};

/// How long a visitor disconnected for flooding has to acknowledge the close.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

const PAGE: &str = include_str!("../assets/chat.html");
const SCRIPT: &str = include_str!("../assets/chat.js");
const STYLE: &str = include_str!("../assets/chat.css");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

#[derive(Debug, Deserialize)]
pub(crate) struct Connect {
    visitor: Option<String>,
    lang: Option<String>,
    name: Option<String>,
}

/// What a visitor may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum FromVisitor {
    Message { id: String, text: String },
    Typing { on: bool },
}

/// What the server sends besides [`ToCustomer`].
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToVisitor<'a> {
    Welcome {
        visitor: &'a str,
        history: &'a [Line],
    },
    Ack {
        id: &'a str,
        duplicate: bool,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
    },
}

fn refuse_http(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })))
        .into_response()
}

/// Whether a browser page from `origin` may open a visitor socket: the page's own origin (a
/// loopback host unless the server was opened to the LAN, so a rebound DNS name does not pass), or
/// one the settings allow. Clients that are not browsers send no Origin.
fn origin_allowed(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if shared.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let same = origin == format!("http://{host}") || origin == format!("https://{host}");
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let loopback = matches!(hostname, "127.0.0.1" | "localhost" | "[::1]");
    same && (loopback || shared.lan)
}

fn valid_visitor(v: &str) -> bool {
    v.len() == 32 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) async fn upgrade(
    State(shared): State<Shared>,
    Query(connect): Query<Connect>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&shared, &headers) {
        tracing::info!(origin = ?headers.get(header::ORIGIN), "widget connection from a foreign origin refused");
        return refuse_http(
            StatusCode::FORBIDDEN,
            "bad_origin",
            "this page's origin may not open the chat",
        );
    }
    let visitor = match connect.visitor {
        Some(v) if valid_visitor(&v) => v,
        Some(_) => {
            return refuse_http(
                StatusCode::BAD_REQUEST,
                "bad_visitor",
                "visitor must be 32 hex digits",
            );
        }
        None => format!("{:032x}", rand::random::<u128>()),
    };
    let language = match connect.lang.as_deref() {
        Some("en") => "en",
        _ => "zh",
    };
    let name = connect
        .name
        .map(|n| n.chars().filter(|c| !c.is_control()).take(32).collect::<String>())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            let tag = &visitor[..4];
            if language == "zh" { format!("访客 {tag}") } else { format!("Visitor {tag}") }
        });
    let contact =
        Contact { channel: Channel::Widget, key: visitor, name, language: language.to_owned() };
    let limits = shared.limits;
    ws.max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| session(socket, shared, contact))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(IngestError::new("internal", "the store call failed")))
}

async fn send_json(socket: &mut WebSocket, value: &impl Serialize) -> bool {
    match serde_json::to_string(value) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

enum Flow {
    Continue,
    Refused,
    Close,
}

async fn session(mut socket: WebSocket, shared: Shared, contact: Contact) {
    let visitor = contact.key.clone();
    let inbox = Arc::clone(&shared.inbox);
    let conversation_id = match blocking(move || inbox.conversation_for(&contact)).await {
        Ok(id) => id,
        Err(e) => {
            let frame = ToVisitor::Error { code: &e.code, message: &e.message, id: None };
            send_json(&mut socket, &frame).await;
            return;
        }
    };
    // Attach before reading the history, so no reply falls between the two (the page drops a
    // reply it already shows).
    let mut live = shared.hub.attach(conversation_id);
    let inbox = Arc::clone(&shared.inbox);
    let history = match blocking(move || inbox.history(conversation_id)).await {
        Ok(history) => history,
        Err(e) => {
            send_json(
                &mut socket,
                &ToVisitor::Error { code: &e.code, message: &e.message, id: None },
            )
            .await;
            return;
        }
    };
    if !send_json(&mut socket, &ToVisitor::Welcome { visitor: &visitor, history: &history }).await {
        return;
    }
    tracing::debug!(conversation_id, "visitor connected");
    let mut strikes = 0u32;
    loop {
        tokio::select! {
            out = live.receiver.recv() => match out {
                Some(what) => {
                    if !send_json(&mut socket, &what).await {
                        break;
                    }
                }
                None => break,
            },
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break };
                match handle(&mut socket, &shared, conversation_id, &visitor, message).await {
                    Flow::Continue => {}
                    Flow::Refused => {
                        strikes += 1;
                        if strikes >= shared.limits.max_strikes {
                            let frame = ToVisitor::Error {
                                code: "too_many_errors",
                                message: "too many refused messages; the connection is closed",
                                id: None,
                            };
                            send_json(&mut socket, &frame).await;
                            let close = CloseFrame { code: 1008, reason: "too many refused messages".into() };
                            let _ = socket.send(Message::Close(Some(close))).await;
                            // Wait briefly for the visitor's side of the close, discarding what it
                            // still sends: dropping the socket with messages unread resets the
                            // connection, and the visitor could lose the frame above.
                            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                                while let Some(Ok(message)) = socket.recv().await {
                                    if matches!(message, Message::Close(_)) {
                                        break;
                                    }
                                }
                            })
                            .await;
                            break;
                        }
                    }
                    Flow::Close => break,
                }
            }
        }
    }
    shared.inbox.typing(conversation_id, false);
    tracing::debug!(conversation_id, "visitor disconnected");
}

async fn refuse(socket: &mut WebSocket, code: &str, message: &str, id: Option<&str>) -> Flow {
    send_json(socket, &ToVisitor::Error { code, message, id }).await;
    Flow::Refused
}

/// What a visitor's data frame asks for, once [`decode_frame`] has checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitorFrame {
    /// A chat message; its text is checked with [`check_text`] after the rate limit.
    Message {
        id: String,
        text: String,
    },
    Typing {
        on: bool,
    },
}

/// A refused frame, as the error frame tells the visitor: a stable `code`, a message for people,
/// and the message's id when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRefusal {
    pub code: &'static str,
    pub message: String,
    pub id: Option<String>,
}

fn refusal(code: &'static str, message: impl Into<String>, id: Option<&str>) -> FrameRefusal {
    FrameRefusal { code, message: message.into(), id: id.map(str::to_owned) }
}

/// Decodes the payload of a visitor's text or binary frame: UTF-8 (`not_utf8`), the envelope's
/// size (`too_large`), the JSON shape (`malformed`: unknown types and fields included) and the
/// message id (`malformed`). The text's own checks follow the rate limit: [`check_text`].
pub fn decode_frame(data: &[u8], limits: &Limits) -> Result<VisitorFrame, FrameRefusal> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Err(refusal("not_utf8", "the message is not valid UTF-8", None));
    };
    // The envelope around a text at the limit is small; anything much bigger is refused unread.
    if text.len() > limits.max_text_bytes * 2 + 256 {
        let message = format!("a message may hold at most {} bytes of text", limits.max_text_bytes);
        return Err(refusal("too_large", message, None));
    }
    let Ok(parsed) = serde_json::from_str::<FromVisitor>(text) else {
        return Err(refusal(
            "malformed",
            "expected {\"type\":\"message\",\"id\":…,\"text\":…}",
            None,
        ));
    };
    match parsed {
        FromVisitor::Typing { on } => Ok(VisitorFrame::Typing { on }),
        FromVisitor::Message { id, text } => {
            if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
                return Err(refusal(
                    "malformed",
                    "a message id is 1-64 bytes of printable characters",
                    None,
                ));
            }
            Ok(VisitorFrame::Message { id, text })
        }
    }
}

/// A message's text: at most `max_text_bytes` (`too_large`) and not blank (`empty`).
pub fn check_text(id: &str, text: &str, limits: &Limits) -> Result<(), FrameRefusal> {
    if text.len() > limits.max_text_bytes {
        let message = format!(
            "the text has {} bytes; at most {} are accepted",
            text.len(),
            limits.max_text_bytes
        );
        return Err(refusal("too_large", message, Some(id)));
    }
    if text.trim().is_empty() {
        return Err(refusal("empty", "the message has no text", Some(id)));
    }
    Ok(())
}

async fn handle(
    socket: &mut WebSocket,
    shared: &Shared,
    conversation_id: i64,
    visitor: &str,
    message: Message,
) -> Flow {
    let limits = shared.limits;
    let decoded = match &message {
        Message::Text(t) => decode_frame(t.as_bytes(), &limits),
        Message::Binary(b) => decode_frame(b, &limits),
        Message::Close(_) => return Flow::Close,
        Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
    };
    let (id, text) = match decoded {
        Ok(VisitorFrame::Typing { on }) => {
            shared.inbox.typing(conversation_id, on);
            return Flow::Continue;
        }
        Ok(VisitorFrame::Message { id, text }) => (id, text),
        Err(r) => return refuse(socket, r.code, &r.message, r.id.as_deref()).await,
    };
    if !shared.rate.allow(visitor) {
        return refuse(socket, "rate_limited", "too many messages; wait a moment", Some(&id)).await;
    }
    if let Err(r) = check_text(&id, &text, &limits) {
        return refuse(socket, r.code, &r.message, r.id.as_deref()).await;
    }
    let inbox = Arc::clone(&shared.inbox);
    let inbound =
        Inbound { conversation_id, text, dedup: Some((format!("widget:{visitor}"), id.clone())) };
    match blocking(move || inbox.accept(inbound)).await {
        Ok(accepted) => {
            let ack = ToVisitor::Ack { id: &id, duplicate: accepted == Accepted::Duplicate };
            if send_json(socket, &ack).await { Flow::Continue } else { Flow::Close }
        }
        Err(e) => refuse(socket, &e.code, &e.message, Some(&id)).await,
    }
}

/// Serialises what the hub carries for the page.
impl ToCustomer {
    #[cfg(test)]
    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_typing_have_the_documented_shape() {
        assert_eq!(
            ToCustomer::Reply { text: "好".into(), at: 5 }.json(),
            r#"{"type":"reply","text":"好","at":5}"#
        );
        assert_eq!(ToCustomer::Typing { on: true }.json(), r#"{"type":"typing","on":true}"#);
    }

    #[test]
    fn visitor_tokens_are_32_lowercase_hex() {
        assert!(valid_visitor(&"a".repeat(32)));
        assert!(!valid_visitor(&"A".repeat(32)));
        assert!(!valid_visitor("abc"));
        assert!(!valid_visitor(&format!("{}/", "a".repeat(31))));
    }
}
