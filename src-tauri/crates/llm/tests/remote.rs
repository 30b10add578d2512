//! The remote backend against a real OpenAI-compatible server — llama.cpp through
//! llama-cpp-python on loopback, serving SmolLM2-135M-Instruct — and, for the failures a healthy
//! server never shows (error statuses, garbage, stalls), against a hand-written loopback stub.
//!
//! One llama.cpp server per test process, started by the first test that needs it (a
//! `OnceLock`). Under `cargo test` all tests share it (llama-cpp-python serves one request at a
//! time; the others queue). Under nextest each test runs in its own process and starts its own
//! server: about a second for this 100 MB model, one decode thread each, so two parallel tests
//! fit 2 cores. A server exits with the process that started it (see `support::llama_server`).
//! Nothing is skipped: without the venv or the model the tests fail and name the command to run.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use closer_llm::remote::{ApiKey, RemoteBackend, RemoteConfig};
use closer_llm::{
    CancelToken, ChatMessage, FinishReason, GenerateRequest, GenerationStats, LlmError,
    SamplingParams, StreamEvent,
};
use support::llama_server::{self, LlamaServer};

fn server() -> &'static LlamaServer {
    static SERVER: OnceLock<LlamaServer> = OnceLock::new();
    SERVER.get_or_init(|| LlamaServer::start(&llama_server::smollm2_gguf()))
}

fn llama_backend() -> RemoteBackend {
    let server = server();
    RemoteBackend::new(RemoteConfig::new(server.base_url(), server.model()))
        .expect("the loopback URL is valid")
}

fn request(prompt: &str, params: SamplingParams, n: usize) -> GenerateRequest {
    GenerateRequest {
        messages: vec![
            ChatMessage::system("You are a helpful assistant. Answer briefly."),
            ChatMessage::user(prompt),
        ],
        params,
        n,
        cache_key: None,
    }
}

/// Everything one `generate` call sent, checked against the event contract.
#[derive(Debug, Default)]
struct Outcome {
    pieces: Vec<(usize, String)>,
    finished: Vec<(usize, FinishReason, String)>,
    done: Option<GenerationStats>,
    failed: Option<LlmError>,
}

impl Outcome {
    /// Reads events until `Done` or `Failed`, checking their order on the way.
    fn collect(events: &Receiver<StreamEvent>) -> Self {
        Outcome::default().read(events)
    }

    /// Like `collect`, after the events already in `self`.
    fn read(mut self, events: &Receiver<StreamEvent>) -> Self {
        let out = &mut self;
        loop {
            let event = events.recv_timeout(Duration::from_secs(120)).expect("the generation ends");
            match event {
                StreamEvent::Text { index, text } => {
                    assert!(!text.is_empty(), "an empty piece");
                    assert!(
                        out.finished.iter().all(|f| f.0 != index),
                        "a piece for suggestion {index} after its end"
                    );
                    out.pieces.push((index, text));
                }
                StreamEvent::Finished { index, reason, text } => {
                    assert!(out.finished.iter().all(|f| f.0 != index), "{index} finished twice");
                    assert_eq!(text, out.text_of(index), "Finished text = the pieces of {index}");
                    out.finished.push((index, reason, text));
                }
                StreamEvent::Done(stats) => {
                    out.done = Some(stats);
                    break;
                }
                StreamEvent::Failed(e) => {
                    out.failed = Some(e);
                    break;
                }
            }
        }
        assert!(events.try_recv().is_err(), "nothing follows Done or Failed");
        self
    }

    fn text_of(&self, index: usize) -> String {
        self.pieces.iter().filter(|p| p.0 == index).map(|p| p.1.as_str()).collect()
    }

    /// The one suggestion of a successful n = 1 request.
    fn single(&self) -> (FinishReason, &str) {
        assert!(self.failed.is_none(), "failed: {:?}", self.failed);
        assert!(self.done.is_some(), "no Done");
        assert_eq!(self.finished.len(), 1, "{:?}", self.finished);
        (self.finished[0].1, self.finished[0].2.as_str())
    }

    fn error(&self) -> &LlmError {
        assert!(self.done.is_none(), "expected a failure, got Done");
        self.failed.as_ref().expect("a Failed event")
    }
}

fn generate(backend: &RemoteBackend, req: &GenerateRequest) -> Outcome {
    let (tx, rx) = mpsc::channel();
    backend.generate(req, &CancelToken::new(), &tx);
    drop(tx);
    Outcome::collect(&rx)
}

#[test]
fn greedy_generation_streams_text_in_several_pieces() {
    let backend = llama_backend();
    let out = generate(
        &backend,
        &request("Write one sentence about the sea.", SamplingParams::greedy(32), 1),
    );
    let (_, text) = out.single();
    assert!(!text.trim().is_empty(), "empty answer");
    assert!(out.pieces.len() >= 3, "expected several pieces, got {:?}", out.pieces);
    let stats = out.done.as_ref().expect("Done");
    assert!(stats.first_token_ms > 0.0, "{stats:?}");
    assert!((1..=32).contains(&stats.generated_tokens), "{stats:?}");
}

#[test]
fn greedy_generation_is_deterministic() {
    let backend = llama_backend();
    let req = request("Name three colours.", SamplingParams::greedy(24), 1);
    let first = generate(&backend, &req);
    let second = generate(&backend, &req);
    assert_eq!(first.single(), second.single());
    assert!(!first.single().1.is_empty());
}

#[test]
fn a_stop_string_ends_the_text_before_it() {
    let backend = llama_backend();
    let prompt = "Write two sentences about apples.";
    let free = generate(&backend, &request(prompt, SamplingParams::greedy(40), 1));
    let (_, full) = free.single();
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "too short to pick a stop string from: {full:?}");
    let stop = format!(" {}", words[2]);
    let expected = &full[..full.find(&stop).expect("the stop string occurs")];

    let mut params = SamplingParams::greedy(40);
    params.stop = vec![stop.clone(), "never-generated-xyz".to_owned()];
    let stopped = generate(&backend, &request(prompt, params, 1));
    let (reason, text) = stopped.single();
    assert_eq!(reason, FinishReason::Stop);
    assert_eq!(text, expected, "stop string {stop:?}");
    assert!(!text.contains(&stop));
}

#[test]
fn max_tokens_ends_with_length() {
    let backend = llama_backend();
    let out =
        generate(&backend, &request("Tell me a story about a cat.", SamplingParams::greedy(4), 1));
    let (reason, text) = out.single();
    assert_eq!(reason, FinishReason::Length, "{text:?}");
    let tokens = out.done.as_ref().expect("Done").generated_tokens;
    assert!((1..=4).contains(&tokens), "{tokens} tokens");
}

#[test]
fn cancelling_after_the_first_piece_ends_promptly() {
    let backend = llama_backend();
    let req = request(
        "Tell me a long story about a dragon who learns to cook, with many details.",
        SamplingParams::greedy(400),
        1,
    );
    let cancel = CancelToken::new();
    let (tx, rx) = mpsc::channel();
    let (first, ended_after) = thread::scope(|scope| {
        let worker = scope.spawn(|| backend.generate(&req, &cancel, &tx));
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("a first event");
        cancel.cancel();
        let cancelled_at = Instant::now();
        worker.join().expect("generate does not panic");
        (first, cancelled_at.elapsed())
    });
    drop(tx);
    let StreamEvent::Text { index: 0, text: first } = first else {
        panic!("expected a first piece, got {first:?}")
    };
    let out = Outcome { pieces: vec![(0, first)], ..Outcome::default() }.read(&rx);
    let (reason, text) = out.single();
    assert_eq!(reason, FinishReason::Cancelled);
    assert!(ended_after < Duration::from_secs(2), "took {ended_after:?} to stop");
    // The first piece and at most the ones already in flight when the cancel came.
    assert!(out.pieces.len() <= 3, "{} pieces, {text:?}", out.pieces.len());

    // The server noticed the closed connection, dropped that generation and serves the next.
    let next = generate(&backend, &request("Say hi.", SamplingParams::greedy(4), 1));
    assert!(!next.single().1.is_empty());
    let log = server().log();
    assert!(log.contains("Disconnected from client"), "the server went on:\n{log}");
}

#[test]
fn n_suggestions_are_sequential_requests_with_seed_plus_index() {
    let backend = llama_backend();
    let params = SamplingParams {
        temperature: 0.9,
        top_k: Some(40),
        top_p: Some(0.95),
        repeat_penalty: 1.1,
        repeat_last_n: 64,
        seed: 11,
        max_tokens: 12,
        stop: Vec::new(),
    };
    let prompt = "Suggest a friendly greeting for a customer.";
    let two = generate(&backend, &request(prompt, params.clone(), 2));
    assert!(two.failed.is_none(), "{:?}", two.failed);
    assert!(two.done.is_some());
    let indexes: Vec<usize> = two.finished.iter().map(|f| f.0).collect();
    assert_eq!(indexes, [0, 1]);
    assert!(two.finished.iter().all(|f| !f.2.is_empty()), "{:?}", two.finished);

    // Suggestion 1 sampled with seed 12: a single request with that seed gives the same text.
    let one = generate(&backend, &request(prompt, SamplingParams { seed: 12, ..params }, 1));
    assert_eq!(one.single().1, two.finished[1].2);
}

#[test]
fn server_greedy_equals_raw_llama_cpp_greedy() {
    // The same prompt through the server (chat template applied there) and token by token
    // through llama.cpp's own logits: equal only if the request's sampling fields neutralise
    // the server's defaults (repeat penalty 1.1, min-p 0.05, top-k 40).
    let backend = llama_backend();
    let req = request(
        "What is a good first question to ask a new customer?",
        SamplingParams::greedy(24),
        1,
    );
    let served = generate(&backend, &req);
    let chatml = "<|im_start|>system\nYou are a helpful assistant. Answer briefly.<|im_end|>\n\
                  <|im_start|>user\nWhat is a good first question to ask a new customer?<|im_end|>\n\
                  <|im_start|>assistant\n";
    let raw = llama_server::llama_cpp_greedy(&llama_server::smollm2_gguf(), chatml, 24);
    assert!(!raw.token_ids.is_empty(), "{raw:?}");
    assert_eq!(raw.margins.len(), raw.token_ids.len() + usize::from(raw.hit_eog));
    assert_eq!(served.single().1, raw.text);
}

#[test]
fn health_lists_the_served_model() {
    let models = llama_backend().health().expect("the server is healthy");
    assert_eq!(models, [server().model()]);
}

#[test]
fn no_server_listening_is_a_remote_error() {
    let port = llama_server::free_port();
    let backend = RemoteBackend::new(RemoteConfig::new(format!("http://127.0.0.1:{port}"), "m"))
        .expect("a valid URL");
    let out = generate(&backend, &request("hi", SamplingParams::greedy(4), 2));
    assert!(out.finished.is_empty() && out.pieces.is_empty(), "{out:?}");
    match out.error() {
        LlmError::Remote { url, message } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/chat/completions"));
            assert!(message.contains("cannot connect"), "{message}");
        }
        other => panic!("expected Remote, got {other:?}"),
    }
    let health = backend.health().expect_err("nothing listens");
    assert!(matches!(health, LlmError::Remote { .. }), "{health:?}");
}

// ---------------------------------------------------------------------------------------------
// Failures a healthy server does not produce, from a hand-written loopback stub. It is not a
// peer and not a fake of llama.cpp: it exists only to check how the backend handles error
// statuses, malformed streams and stalls; everything it does right is tested above against the
// real server.

/// One canned answer to one connection.
enum Reply {
    /// Written as is, then the connection closes.
    Raw(String),
    /// Written, then the connection stays silent for a while.
    Stall(String, Duration),
}

fn http(status: &str, content_type: &str, body: &str) -> Reply {
    Reply::Raw(format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// A 200 event stream whose body ends when the connection closes.
fn sse(body: &str) -> Reply {
    Reply::Raw(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n{body}"
    ))
}

fn content_chunk(text: &str) -> String {
    let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {chunk}\n\n")
}

fn finish_chunk(reason: &str) -> String {
    let chunk =
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]});
    format!("data: {chunk}\n\n")
}

/// A request the stub received: its head (request line and headers) and its body.
#[derive(Debug, Clone)]
struct Received {
    head: String,
    body: String,
}

struct Stub {
    base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Stub {
    /// Serves `replies` in order, one per connection, on a free loopback port.
    fn serve(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base_url = format!("http://{}", listener.local_addr().expect("its address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        thread::spawn(move || {
            for reply in replies {
                let Ok((mut conn, _)) = listener.accept() else { return };
                let request = read_request(&mut conn);
                log.lock().expect("the request log").push(request);
                // Answer on a thread of its own, so a stalled reply does not hold up the next.
                thread::spawn(move || {
                    let (text, hold) = match reply {
                        Reply::Raw(text) => (text, Duration::ZERO),
                        Reply::Stall(text, hold) => (text, hold),
                    };
                    let _ = conn.write_all(text.as_bytes());
                    let _ = conn.flush();
                    thread::sleep(hold);
                });
            }
        });
        Stub { base_url, received }
    }

    fn backend(&self) -> RemoteBackend {
        RemoteBackend::new(RemoteConfig::new(&self.base_url, "stub-model")).expect("a valid URL")
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the request log").clone()
    }
}

fn read_request(conn: &mut TcpStream) -> Received {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break data.len(),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = String::from_utf8_lossy(&data[head_end..]).into_owned();
    Received { head, body }
}

#[test]
fn error_statuses_become_remote_status_with_a_short_body() {
    let long = "x".repeat(10_000);
    let stub = Stub::serve(vec![
        http("429 Too Many Requests", "application/json", r#"{"error":"slow down"}"#),
        http("500 Internal Server Error", "text/plain", &long),
    ]);
    let backend = stub.backend();
    let req = request("hi", SamplingParams::greedy(4), 1);
    match generate(&backend, &req).error() {
        LlmError::RemoteStatus { status: 429, body, url } => {
            assert!(body.contains("slow down"), "{body}");
            assert!(url.ends_with("/v1/chat/completions"), "{url}");
        }
        other => panic!("expected RemoteStatus 429, got {other:?}"),
    }
    match generate(&backend, &req).error() {
        LlmError::RemoteStatus { status: 500, body, .. } => {
            assert!(body.chars().count() <= 301, "body not shortened: {} chars", body.len());
        }
        other => panic!("expected RemoteStatus 500, got {other:?}"),
    }
}

#[test]
fn malformed_streams_are_remote_errors() {
    let stub = Stub::serve(vec![
        sse(&format!("{}data: {{not json\n\n", content_chunk("Hi"))),
        sse(&content_chunk("cut short")),
        sse(r#"data: {"error": {"message": "model exploded"}}"#),
        sse(&format!("{}data: [DONE]\n\n", content_chunk("interrupted"))),
        http("200 OK", "application/json", r#"{"choices": []}"#),
    ]);
    let backend = stub.backend();
    let req = request("hi", SamplingParams::greedy(4), 1);

    let garbage = generate(&backend, &req);
    assert_eq!(garbage.pieces, [(0, "Hi".to_owned())], "the good chunk arrived first");
    let expect_remote = |out: &Outcome, needle: &str| match out.error() {
        LlmError::Remote { message, .. } => assert!(message.contains(needle), "{message}"),
        other => panic!("expected Remote containing {needle:?}, got {other:?}"),
    };
    expect_remote(&garbage, "malformed stream chunk");
    expect_remote(&generate(&backend, &req), "ended before");
    expect_remote(&generate(&backend, &req), "model exploded");
    expect_remote(&generate(&backend, &req), "without finishing");
    expect_remote(&generate(&backend, &req), "expected a text/event-stream");
}

#[test]
fn a_silent_server_times_out() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    let stub = Stub::serve(vec![
        Reply::Stall(String::new(), Duration::from_secs(3)),
        Reply::Stall(format!("{head}{}", content_chunk("one")), Duration::from_secs(3)),
    ]);
    let mut config = RemoteConfig::new(&stub.base_url, "stub-model");
    config.request_timeout = Duration::from_millis(300);
    let backend = RemoteBackend::new(config).expect("a valid URL");
    let req = request("hi", SamplingParams::greedy(4), 1);
    for what in ["no headers", "a stalled body"] {
        let started = Instant::now();
        let out = generate(&backend, &req);
        assert!(started.elapsed() < Duration::from_secs(2), "{what}: {:?}", started.elapsed());
        match out.error() {
            LlmError::RemoteTimeout { after, .. } => {
                assert_eq!(*after, Duration::from_millis(300), "{what}")
            }
            other => panic!("{what}: expected RemoteTimeout, got {other:?}"),
        }
    }
}

#[test]
fn requests_carry_the_mapped_params_and_the_key_and_stops_are_enforced_here() {
    // The stub ignores `stop`, as some servers do: the backend cuts the text itself.
    let stream = format!(
        "{}{}{}{}data: [DONE]\n\n",
        content_chunk("Hello"),
        content_chunk(" wor"),
        content_chunk("ld! Bye"),
        finish_chunk("stop")
    );
    let plain = format!("{}{}data: [DONE]\n\n", content_chunk("ok"), finish_chunk("length"));
    let stub = Stub::serve(vec![sse(&stream), sse(&plain)]);
    let mut config = RemoteConfig::new(format!("{}/v1/", stub.base_url), "stub-model");
    config.api_key = Some(ApiKey::new("sk-test-123"));
    let backend = RemoteBackend::new(config).expect("a valid URL");
    assert!(!format!("{backend:?}").contains("sk-test-123"));

    let mut params = SamplingParams::greedy(8);
    params.seed = 5;
    params.stop = vec!["world".to_owned()];
    let out = generate(&backend, &request("hi", params, 2));
    assert!(out.failed.is_none(), "{:?}", out.failed);
    assert_eq!(
        out.finished,
        [(0, FinishReason::Stop, "Hello ".to_owned()), (1, FinishReason::Length, "ok".to_owned())]
    );
    assert_eq!(out.done.as_ref().expect("Done").generated_tokens, 3 + 1, "chunks counted");

    let received = stub.received();
    assert_eq!(received.len(), 2);
    for (i, r) in received.iter().enumerate() {
        assert!(r.head.starts_with("POST /v1/chat/completions "), "{}", r.head);
        assert!(
            r.head.to_ascii_lowercase().contains("authorization: bearer sk-test-123"),
            "{}",
            r.head
        );
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("a JSON body");
        assert_eq!(body["model"], "stub-model");
        assert_eq!(body["stream"], true);
        assert_eq!(body["seed"], 5 + i as u64);
        assert_eq!(body["max_tokens"], 8);
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["repeat_penalty"], 1.0);
        assert_eq!(body["stop"], serde_json::json!(["world"]));
        assert_eq!(body["messages"][1], serde_json::json!({"role": "user", "content": "hi"}));
    }
}

#[test]
fn health_reads_the_model_list_and_refuses_garbage() {
    let stub = Stub::serve(vec![
        http("200 OK", "application/json", r#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#),
        http("200 OK", "application/json", "<html>not an API</html>"),
        http("401 Unauthorized", "application/json", r#"{"error":"bad key"}"#),
    ]);
    let backend = stub.backend();
    assert_eq!(backend.health().expect("a model list"), ["a", "b"]);
    let garbage = backend.health().expect_err("not a model list");
    assert!(
        matches!(&garbage, LlmError::Remote { message, .. } if message.contains("not the expected JSON")),
        "{garbage:?}"
    );
    let refused = backend.health().expect_err("401");
    assert!(matches!(refused, LlmError::RemoteStatus { status: 401, .. }), "{refused:?}");
    assert!(stub.received()[0].head.starts_with("GET /v1/models "));
}
