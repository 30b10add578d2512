//! Replies to webhook platforms against a real HTTP receiver (axum on loopback) that answers as
//! told — 503s, a timeout, a 400, a 200 — and records every request: each reply is signed like
//! the inbound webhook, carries its idempotency key on every attempt, is retried on 5xx and
//! timeouts and not on a 4xx, arrives in order, and its outcome reaches the inbox typed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use closer_channels::callback::{
    Callback, CallbackError, DeliveryReport, IDEMPOTENCY_HEADER, Recipient, RetryPolicy,
    WebhookReply,
};
use closer_channels::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConfig, sign};
use closer_channels::{
    Accepted, Contact, Hub, Inbound, Inbox, IngestError, Line, Server, ServerConfig,
};

const SECRET: &[u8] = b"reply-secret-0123456789";

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Answers 200 only after this long (past the sender's timeout).
    Slow(Duration),
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    timestamp: String,
    signature: String,
    key: String,
    body: Vec<u8>,
}

#[derive(Debug, Default)]
struct Receiver {
    /// What to answer next, per path; 200 when empty.
    script: Mutex<std::collections::HashMap<String, VecDeque<Answer>>>,
    seen: Mutex<Vec<Seen>>,
}

impl Receiver {
    fn script(&self, path: &str, answers: &[Answer]) {
        self.script
            .lock()
            .expect("lock")
            .insert(path.to_owned(), answers.iter().copied().collect());
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen.lock().expect("lock").iter().filter(|s| s.path == path).cloned().collect()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    receiver.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        timestamp: header(TIMESTAMP_HEADER),
        signature: header(SIGNATURE_HEADER),
        key: header(IDEMPOTENCY_HEADER),
        body: body.to_vec(),
    });
    let answer = receiver.script.lock().expect("lock").get_mut(&path).and_then(VecDeque::pop_front);
    match answer.unwrap_or(Answer::Status(200)) {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
    }
}

/// The receiver on a loopback port of its own.
async fn start_receiver() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/{path}", axum::routing::post(receive))
        .with_state(Arc::clone(&receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (receiver, format!("http://{addr}"))
}

/// An inbox that only keeps the delivery reports.
#[derive(Debug, Default)]
struct Reports(Mutex<Vec<DeliveryReport>>);

impl Reports {
    async fn wait_for(&self, reply_id: &str, timeout: Duration) -> DeliveryReport {
        let deadline = Instant::now() + timeout;
        loop {
            let found =
                self.0.lock().expect("lock").iter().find(|r| r.reply.reply_id == reply_id).cloned();
            if let Some(report) = found {
                return report;
            }
            assert!(Instant::now() < deadline, "no report for {reply_id}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Inbox for Reports {
    fn conversation_for(&self, _: &Contact) -> Result<i64, IngestError> {
        Ok(1)
    }
    fn history(&self, _: i64) -> Result<Vec<Line>, IngestError> {
        Ok(Vec::new())
    }
    fn accept(&self, _: Inbound) -> Result<Accepted, IngestError> {
        Ok(Accepted::Queued)
    }
    fn reply_delivered(&self, report: &DeliveryReport) {
        self.0.lock().expect("lock").push(report.clone());
    }
}

const RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_backoff: Duration::from_millis(40),
    max_backoff: Duration::from_millis(200),
    timeout: Duration::from_millis(400),
};

fn start_server(base: &str, reports: &Arc<Reports>) -> Server {
    let mut config = ServerConfig::loopback(0);
    let mut webhook = WebhookConfig::new(SECRET.to_vec(), 300);
    webhook.callbacks = ["wecom", "forms", "slow", "dead"]
        .iter()
        .map(|p| Callback { platform: (*p).into(), url: format!("{base}/{p}") })
        .collect();
    webhook.retry = RETRY;
    config.webhook = Some(webhook);
    let inbox: Arc<dyn Inbox> = Arc::clone(reports) as Arc<dyn Inbox>;
    Server::start(config, inbox, Arc::new(Hub::default())).expect("server")
}

fn reply(id: &str, platform: &str, text: &str) -> WebhookReply {
    WebhookReply {
        reply_id: id.into(),
        conversation_id: 12,
        platform: platform.into(),
        recipient: Recipient { id: "wx_li".into() },
        text: text.into(),
        by: "salesperson".into(),
        at: 1_790_000_009_000,
    }
}

/// Every request is signed over its own timestamp and the exact body.
fn assert_signed(seen: &Seen) {
    let ts: i64 = seen.timestamp.parse().expect("a Unix timestamp");
    assert_eq!(seen.signature, sign(SECRET, ts, &seen.body), "signature of {}", seen.key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_signed_retried_on_5xx_with_one_key_and_reported_delivered() {
    let (receiver, base) = start_receiver().await;
    let reports = Arc::new(Reports::default());
    let server = start_server(&base, &reports);
    receiver.script("wecom", &[Answer::Status(503), Answer::Status(502)]);
    let sent = reply("r-12-1-aaa", "wecom", "您好，报价已发您邮箱。");
    server.replier().expect("callbacks configured").send(sent.clone()).expect("queued");
    let report = reports.wait_for("r-12-1-aaa", Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Ok(3), "two 5xx, then delivered");
    let seen = receiver.seen("wecom");
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_signed(s);
        assert_eq!(s.key, "r-12-1-aaa", "the same idempotency key on every attempt");
        assert_eq!(s.body, seen[0].body, "the same body on every attempt");
        let body: WebhookReply = serde_json::from_slice(&s.body).expect("the documented JSON");
        assert_eq!(body, sent);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_retried_a_4xx_is_final_and_endless_5xx_gives_up() {
    let (receiver, base) = start_receiver().await;
    let reports = Arc::new(Reports::default());
    let server = start_server(&base, &reports);
    let replier = server.replier().expect("callbacks").clone();
    receiver.script("slow", &[Answer::Slow(Duration::from_secs(2))]);
    receiver.script("forms", &[Answer::Status(400)]);
    receiver.script("dead", &[Answer::Status(500); 10]);
    replier.send(reply("r-slow", "slow", "a")).expect("queued");
    replier.send(reply("r-bad", "forms", "b")).expect("queued");
    replier.send(reply("r-dead", "dead", "c")).expect("queued");

    let slow = reports.wait_for("r-slow", Duration::from_secs(10)).await;
    assert_eq!(slow.outcome, Ok(2), "the attempt past the timeout is retried");
    let bad = reports.wait_for("r-bad", Duration::from_secs(10)).await;
    match bad.outcome {
        Err(CallbackError::Refused { status: 400, .. }) => {}
        other => panic!("a 400 is final: {other:?}"),
    }
    assert_eq!(receiver.seen("forms").len(), 1, "no retry after a 4xx");
    let dead = reports.wait_for("r-dead", Duration::from_secs(10)).await;
    match &dead.outcome {
        Err(e @ CallbackError::GaveUp { attempts: 4, last }) => {
            assert_eq!(e.code(), "gave_up");
            assert!(last.contains("500"), "{last}");
        }
        other => panic!("gives up after 4 attempts: {other:?}"),
    }
    assert_eq!(receiver.seen("dead").len(), 4);

    // A platform without a callback is told at once.
    let none = replier.send(reply("r-none", "telegram", "d"));
    assert_eq!(none, Err(CallbackError::NotConfigured { platform: "telegram".into() }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platforms_replies_arrive_in_the_order_they_were_sent() {
    let (receiver, base) = start_receiver().await;
    let reports = Arc::new(Reports::default());
    let server = start_server(&base, &reports);
    let replier = server.replier().expect("callbacks").clone();
    // The first reply needs a retry; the later ones must still come after it.
    receiver.script("wecom", &[Answer::Status(503)]);
    for n in 0..5 {
        replier.send(reply(&format!("r-{n}"), "wecom", &format!("第{n}条"))).expect("queued");
    }
    reports.wait_for("r-4", Duration::from_secs(10)).await;
    let delivered: Vec<String> = receiver.seen("wecom").iter().map(|s| s.key.clone()).collect();
    assert_eq!(delivered, ["r-0", "r-0", "r-1", "r-2", "r-3", "r-4"]);
}
