//! A remote OpenAI-compatible model server (vLLM, the llama.cpp server, llama-cpp-python) standing
//! in for the local model: the same [`GenerateRequest`] in, the same [`StreamEvent`]s out.
//!
//! Key decisions:
//! - A blocking reqwest client whose server-sent-events body is read line by line: the caller
//!   already runs a generation on its own thread, as with the local worker, so no async runtime
//!   reaches the callers.
//! - `n` suggestions are `n` sequential streamed requests, suggestion `i` with seed `seed + i`:
//!   many servers refuse `n > 1` together with `stream: true` (llama.cpp's server, llama-cpp-python
//!   ignores `n`), and the others interleave the choices. A server with a prefix cache (llama.cpp,
//!   vLLM) computes the shared prompt once anyway.
//! - `request_timeout` bounds every wait for the server (the response headers, then each read of
//!   the body), not the whole generation: a long answer that keeps streaming is never cut off, a
//!   stalled server is.
//! - Cancellation is checked between chunks. Dropping the response closes the connection, which
//!   llama.cpp, llama-cpp-python and vLLM all take as an abort of that generation.
//! - Stop strings go to the server and are also enforced here (text that might begin a stop string
//!   is held back until it cannot), so a server that ignores `stop` still keeps the contract that
//!   stop strings never reach the output.
//!
//! How [`SamplingParams`](crate::SamplingParams) maps onto the request body:
//!
//! | ours | sent as | note |
//! |---|---|---|
//! | `temperature` | `temperature` | `0` is greedy on llama.cpp and vLLM |
//! | `top_k` | `top_k` (`None` → `0`) | `0` disables it on llama.cpp and vLLM ≥ 0.8; not in OpenAI's API |
//! | `top_p` | `top_p` (`None` → `1.0`) | |
//! | — | `min_p: 0` | llama-cpp-python otherwise applies its default `0.05`; we have no min-p |
//! | `repeat_penalty` | `repeat_penalty` and `repetition_penalty` | the same multiplicative rule as ours; the first name is llama.cpp's (whose default is 1.1, so it is always sent), the second vLLM's (which applies it to the prompt and all output) |
//! | `repeat_last_n` | `repeat_last_n` | llama.cpp's server; llama-cpp-python fixes it when loading the model (64) and vLLM has no window |
//! | `seed` | `seed` (`+ i` for suggestion `i`) | |
//! | `max_tokens` | `max_tokens` | `0` is refused: some servers read it as "no limit" |
//! | `stop` | `stop` | also enforced here |
//!
//! `frequency_penalty` and `presence_penalty` are not sent: they are OpenAI's additive penalties, a
//! different rule from the multiplicative repeat penalty, and both servers default them to 0.
//! `cache_key` is not sent: the servers keep their own prefix caches.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{debug, debug_span, info_span, warn};

use crate::{CancelToken, FinishReason, GenerateRequest, GenerationStats, LlmError, StreamEvent};

/// How many characters of an error body or a bad chunk go into an error message.
const MAX_SHOWN_CHARS: usize = 300;

/// A secret the server wants as a bearer token. It is never printed: its `Debug` shows
/// `<redacted>`, and it has no `Display` and no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the remote server is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The server's root, e.g. `http://127.0.0.1:8000`; a trailing `/` or `/v1` is accepted.
    pub base_url: String,
    /// The model name the server serves (`GET /v1/models` lists them).
    pub model: String,
    pub api_key: Option<ApiKey>,
    /// The longest wait for the connection to open.
    pub connect_timeout: Duration,
    /// The longest wait for the server's next word: its response headers, then each piece of the
    /// streamed body. A CPU server sends nothing while it reads a long prompt: allow for that.
    pub request_timeout: Duration,
}

impl RemoteConfig {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

    /// A config with no API key and the default timeouts.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Checks a server address the way [`RemoteBackend::new`] reads it (http or https, parses),
/// without building a client — callable anywhere, async contexts included.
pub fn check_base_url(base_url: &str) -> Result<(), LlmError> {
    roots(base_url).map(drop)
}

/// `(root, shown root)`: the address without a trailing `/` or `/v1`, query or fragment; and the
/// same without user name or password, for messages.
fn roots(base_url: &str) -> Result<(String, String), LlmError> {
    // A URL that does not parse is shown only if it cannot hold credentials.
    let shown = if base_url.contains('@') { "<base URL>" } else { base_url };
    let invalid = |message: String| LlmError::Remote { url: shown.to_owned(), message };
    let mut url = reqwest::Url::parse(base_url.trim())
        .map_err(|e| invalid(format!("not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("the scheme must be http or https, not {}", url.scheme())));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path).to_owned();
    url.set_path(&path);
    let root = url.as_str().trim_end_matches('/').to_owned();
    // Credentials in the URL stay out of messages and logs.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let shown_root = url.as_str().trim_end_matches('/').to_owned();
    Ok((root, shown_root))
}

/// A client of one OpenAI-compatible server. Cheap to share between threads (`&self` everywhere);
/// each `generate` call streams its own events.
#[derive(Debug)]
pub struct RemoteBackend {
    config: RemoteConfig,
    client: Client,
    /// `base_url` without a trailing `/` or `/v1`.
    root: String,
    /// `root` without user name or password, for messages.
    shown_root: String,
}

impl RemoteBackend {
    pub fn new(config: RemoteConfig) -> Result<Self, LlmError> {
        let (root, shown_root) = roots(&config.base_url)?;
        let client = Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| LlmError::Remote {
                url: shown_root.clone(),
                message: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Self { config, client, root, shown_root })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// Asks the server which models it serves (`GET /v1/models`); an error says why it is not
    /// usable. The configured model should be among the names returned.
    pub fn health(&self) -> Result<Vec<String>, LlmError> {
        #[derive(Deserialize)]
        struct Models {
            data: Vec<Model>,
        }
        #[derive(Deserialize)]
        struct Model {
            id: String,
        }

        let path = "/v1/models";
        let _span = info_span!("remote_health", url = %self.shown(path)).entered();
        let response = self.send(path, self.authorized(self.client.get(self.url(path))))?;
        let mut body = String::new();
        response.take(4 << 20).read_to_string(&mut body).map_err(|e| self.read_error(path, &e))?;
        let models: Models = serde_json::from_str(&body).map_err(|e| LlmError::Remote {
            url: self.shown(path),
            message: format!("the model list is not the expected JSON ({e}): {}", shorten(&body)),
        })?;
        Ok(models.data.into_iter().map(|m| m.id).collect())
    }

    /// Streams `req.n` suggestions: `Text` pieces as they arrive, one `Finished` per suggestion,
    /// then `Done` — or `Failed` with the first error. A cancel ends the running suggestion and
    /// the ones not yet started with `Finished { reason: Cancelled }`, then `Done`. Returns when
    /// the last event is sent, or early when the receiver is gone.
    pub fn generate(
        &self,
        req: &GenerateRequest,
        cancel: &CancelToken,
        events: &Sender<StreamEvent>,
    ) {
        let path = "/v1/chat/completions";
        let span = info_span!("remote_generate", url = %self.shown(path), model = %self.config.model, n = req.n);
        let _entered = span.enter();
        let mut run = Run {
            backend: self,
            cancel,
            events,
            started: Instant::now(),
            first_piece: None,
            stats: GenerationStats::default(),
        };
        let last = match run.all(req) {
            Ok(()) => {
                let stats = run.stats;
                debug!(
                    tokens = stats.generated_tokens,
                    first_token_ms = format_args!("{:.0}", stats.first_token_ms),
                    tokens_per_s = format_args!("{:.1}", stats.decode_tokens_per_s()),
                    "remote generation done"
                );
                StreamEvent::Done(stats)
            }
            Err(Abort::Failed(e)) => {
                warn!(error = %e, "remote generation failed");
                StreamEvent::Failed(e)
            }
            Err(Abort::ReceiverGone) => return,
        };
        let _ = events.send(last);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    fn shown(&self, path: &str) -> String {
        format!("{}{path}", self.shown_root)
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(&key.0),
            None => request,
        }
    }

    /// Sends a request; a non-2xx answer becomes `RemoteStatus` with the start of its body.
    fn send(&self, path: &str, request: RequestBuilder) -> Result<Response, LlmError> {
        let response = request.send().map_err(|e| self.send_error(path, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut body = Vec::new();
        // The body only explains the status: whatever arrives before an error or the limit.
        let _ = response.take(4096).read_to_end(&mut body);
        Err(LlmError::RemoteStatus {
            url: self.shown(path),
            status: status.as_u16(),
            body: shorten(String::from_utf8_lossy(&body).trim()),
        })
    }

    fn send_error(&self, path: &str, e: &reqwest::Error) -> LlmError {
        let url = self.shown(path);
        if is_timeout(e) {
            let after = if e.is_connect() {
                self.config.connect_timeout
            } else {
                self.config.request_timeout
            };
            return LlmError::RemoteTimeout { url, after };
        }
        let cause = error_chain(e);
        let message = if e.is_connect() {
            format!("cannot connect ({cause}); is the server running?")
        } else {
            format!("the request failed: {cause}")
        };
        LlmError::Remote { url, message }
    }

    fn read_error(&self, path: &str, e: &io::Error) -> LlmError {
        let url = self.shown(path);
        if is_timeout(e) {
            return LlmError::RemoteTimeout { url, after: self.config.request_timeout };
        }
        let message = match e.kind() {
            io::ErrorKind::InvalidData => "the response is not UTF-8 text".to_owned(),
            _ => format!("reading the response failed: {}", error_chain(e)),
        };
        LlmError::Remote { url, message }
    }
}

/// Why a generation ended before `Done`.
enum Abort {
    Failed(LlmError),
    /// Nobody listens any more: stop quietly.
    ReceiverGone,
}

impl From<LlmError> for Abort {
    fn from(e: LlmError) -> Self {
        Abort::Failed(e)
    }
}

/// One `generate` call: its events and the figures for `Done`.
struct Run<'a> {
    backend: &'a RemoteBackend,
    cancel: &'a CancelToken,
    events: &'a Sender<StreamEvent>,
    started: Instant,
    first_piece: Option<Instant>,
    stats: GenerationStats,
}

impl Run<'_> {
    fn all(&mut self, req: &GenerateRequest) -> Result<(), Abort> {
        validate(req)?;
        for index in 0..req.n {
            if self.cancel.is_cancelled() {
                self.emit(StreamEvent::Finished {
                    index,
                    reason: FinishReason::Cancelled,
                    text: String::new(),
                })?;
                continue;
            }
            self.suggestion(req, index)?;
        }
        Ok(())
    }

    fn emit(&self, event: StreamEvent) -> Result<(), Abort> {
        self.events.send(event).map_err(|_| Abort::ReceiverGone)
    }

    /// Streams suggestion `index` and sends its `Text` pieces and its `Finished`.
    fn suggestion(&mut self, req: &GenerateRequest, index: usize) -> Result<(), Abort> {
        let _span = debug_span!("remote_suggestion", index).entered();
        let path = "/v1/chat/completions";
        let backend = self.backend;
        let url = || backend.shown(path);
        let body = request_body(&backend.config.model, req, index);
        let request = backend
            .authorized(backend.client.post(backend.url(path)))
            .header(ACCEPT, "text/event-stream")
            .json(&body);
        let response = backend.send(path, request)?;
        if let Some(kind) = response.headers().get(CONTENT_TYPE) {
            let kind = String::from_utf8_lossy(kind.as_bytes()).into_owned();
            if !kind.trim_start().starts_with("text/event-stream") {
                let mut start = Vec::new();
                let _ = response.take(1024).read_to_end(&mut start);
                return Err(LlmError::Remote {
                    url: url(),
                    message: format!(
                        "expected a text/event-stream, got {kind}: {}",
                        shorten(String::from_utf8_lossy(&start).trim())
                    ),
                }
                .into());
            }
        }

        let mut lines = BufReader::new(response);
        let mut line = String::new();
        let mut event = SseEvent::default();
        let mut text = StopFilter::new(&req.params.stop);
        let mut reason = None;
        let mut done = false;
        let mut chunks = 0;
        let mut usage = None;
        let mut first_piece = None;
        loop {
            if self.cancel.is_cancelled() {
                // Dropping the reader closes the connection: the server stops generating. (A
                // cancel after the server's finish_reason, while waiting for [DONE], changes
                // nothing.)
                drop(lines);
                reason = reason.or(Some(FinishReason::Cancelled));
                break;
            }
            line.clear();
            let read = lines.read_line(&mut line).map_err(|e| backend.read_error(path, &e))?;
            let data = if read == 0 { event.take() } else { event.push(&line) };
            let Some(data) = data else {
                if read == 0 {
                    break;
                }
                continue;
            };
            if data.trim() == "[DONE]" {
                done = true;
                break;
            }
            let chunk: Chunk = serde_json::from_str(&data).map_err(|e| LlmError::Remote {
                url: url(),
                message: format!("malformed stream chunk ({e}): {}", shorten(&data)),
            })?;
            if let Some(error) = chunk.error {
                return Err(LlmError::Remote {
                    url: url(),
                    message: format!("the server failed mid-stream: {}", error_message(&error)),
                }
                .into());
            }
            if chunk.usage.is_some() {
                usage = chunk.usage;
            }
            // One suggestion per request: the first choice is ours.
            let Some(choice) = chunk.choices.into_iter().next() else { continue };
            if let Some(content) = choice.delta.content.filter(|c| !c.is_empty()) {
                chunks += 1;
                let piece = text.push(&content);
                self.piece(index, piece, &mut first_piece)?;
                if text.stopped {
                    // A stop string the server did not catch: end here and hang up.
                    reason = Some(FinishReason::Stop);
                    break;
                }
            }
            if let Some(finish) = choice.finish_reason {
                reason = Some(match finish.as_str() {
                    "length" => FinishReason::Length,
                    "stop" => FinishReason::Stop,
                    other => {
                        debug!(finish_reason = other, "unusual finish_reason, taken as stop");
                        FinishReason::Stop
                    }
                });
                // Keep reading: a usage chunk and [DONE] may follow.
            }
        }

        let Some(reason) = reason else {
            // llama-cpp-python ends a stream with [DONE] and no finish_reason when another
            // request interrupts it (its default `interrupt_requests`): the text is cut short.
            let message = if done {
                "the server ended the stream without finishing the generation \
                 (interrupted by another request?)"
            } else {
                "the stream ended before the generation finished"
            };
            return Err(LlmError::Remote { url: url(), message: message.to_owned() }.into());
        };
        if reason != FinishReason::Cancelled {
            let rest = text.finish();
            self.piece(index, rest, &mut first_piece)?;
        }

        let ended = Instant::now();
        let tokens = match &usage {
            Some(usage) if reason != FinishReason::Cancelled => usage.completion_tokens,
            _ => chunks,
        };
        self.stats.generated_tokens += tokens;
        if let Some(first) = first_piece {
            self.stats.decode_ms += ended.duration_since(first).as_secs_f64() * 1000.0;
        }
        if index == 0
            && let Some(usage) = &usage
        {
            self.stats.prompt_tokens = usage.prompt_tokens;
            self.stats.cached_tokens =
                usage.prompt_tokens_details.as_ref().map_or(0, |d| d.cached_tokens);
        }
        debug!(tokens, ?reason, "remote suggestion finished");
        self.emit(StreamEvent::Finished { index, reason, text: text.shown })
    }

    /// Sends a text piece (if any) and notes the first one's time.
    fn piece(
        &mut self,
        index: usize,
        piece: String,
        first_of_suggestion: &mut Option<Instant>,
    ) -> Result<(), Abort> {
        if piece.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        first_of_suggestion.get_or_insert(now);
        if self.first_piece.is_none() {
            self.first_piece = Some(now);
            let ms = now.duration_since(self.started).as_secs_f64() * 1000.0;
            self.stats.first_token_ms = ms;
            // The server does not report its prefill time: the first piece's latency bounds it.
            self.stats.prefill_ms = ms;
        }
        self.emit(StreamEvent::Text { index, text: piece })
    }
}

fn validate(req: &GenerateRequest) -> Result<(), LlmError> {
    if req.n == 0 {
        return Err(LlmError::InvalidRequest("n must be at least 1".to_owned()));
    }
    if req.messages.is_empty() {
        return Err(LlmError::InvalidRequest("there are no messages".to_owned()));
    }
    if req.params.max_tokens == 0 {
        return Err(LlmError::InvalidRequest("max_tokens must be at least 1".to_owned()));
    }
    Ok(())
}

/// The body of suggestion `index`'s request (see the table at the top of this module).
fn request_body(model: &str, req: &GenerateRequest, index: usize) -> Value {
    let p = &req.params;
    json!({
        "model": model,
        "messages": req.messages,
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_k": p.top_k.unwrap_or(0),
        "top_p": p.top_p.unwrap_or(1.0),
        "min_p": 0.0,
        "repeat_penalty": p.repeat_penalty,
        "repetition_penalty": p.repeat_penalty,
        "repeat_last_n": p.repeat_last_n,
        "seed": p.seed.wrapping_add(index as u64),
        "stop": p.stop,
    })
}

/// One streamed chunk; only the fields we read.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    /// vLLM and llama.cpp report a failure inside the stream this way.
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: usize,
    #[serde(default)]
    completion_tokens: usize,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: usize,
}

/// Assembles server-sent events from lines: `data:` lines gather until a blank line ends the
/// event; comments (`:`) and other fields (`event:`, `id:`, `retry:`) are skipped.
#[derive(Default)]
struct SseEvent {
    data: Option<String>,
}

impl SseEvent {
    /// Takes one line (with its line ending); returns the event's data when the line ends one.
    fn push(&mut self, line: &str) -> Option<String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return self.take();
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if field == "data" {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        None
    }

    /// The data gathered so far (at the end of the stream).
    fn take(&mut self) -> Option<String> {
        self.data.take()
    }
}

/// Keeps stop strings out of the text: a piece is shown only up to where a stop string could
/// still begin, and the text ends before the first stop string found.
struct StopFilter<'a> {
    stops: &'a [String],
    /// Everything received, cut before a stop string once one is found.
    received: String,
    /// What has been shown (the prefix of `received` already sent as pieces).
    shown: String,
    stopped: bool,
}

impl<'a> StopFilter<'a> {
    fn new(stops: &'a [String]) -> Self {
        Self { stops, received: String::new(), shown: String::new(), stopped: false }
    }

    /// Adds a piece from the server; returns the text that can now be shown.
    fn push(&mut self, piece: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.received.push_str(piece);
        // A stop string cannot begin in the shown part: that part was shown only once no stop
        // string could begin in it.
        let pending = &self.received[self.shown.len()..];
        let found = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| pending.find(s.as_str()))
            .min();
        let end = match found {
            Some(at) => {
                self.stopped = true;
                let end = self.shown.len() + at;
                self.received.truncate(end);
                end
            }
            None => {
                let held = self
                    .stops
                    .iter()
                    .filter_map(|s| {
                        (1..s.len())
                            .rev()
                            .find(|&k| s.is_char_boundary(k) && pending.ends_with(&s[..k]))
                    })
                    .max()
                    .unwrap_or(0);
                self.received.len() - held
            }
        };
        self.take_until(end)
    }

    /// The end of the stream: whatever was held back is real text.
    fn finish(&mut self) -> String {
        self.take_until(self.received.len())
    }

    fn take_until(&mut self, end: usize) -> String {
        let start = self.shown.len();
        if end <= start {
            return String::new();
        }
        let piece = self.received[start..end].to_owned();
        self.shown.push_str(&piece);
        piece
    }
}

fn error_message(error: &Value) -> String {
    let message = match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("message") {
            Some(Value::String(s)) => s.clone(),
            _ => error.to_string(),
        },
        _ => error.to_string(),
    };
    shorten(&message)
}

/// At most [`MAX_SHOWN_CHARS`] characters, with `…` when cut.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// An error and its causes, joined by `: `, without reqwest's "for url (…)" (which could carry
/// credentials) — the caller names the URL.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in causes(e) {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(re) => reqwest_kind(re).to_owned(),
            None => err.to_string(),
        };
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn reqwest_kind(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        ""
    }
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|err| {
        err.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout)
            || err
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
    })
}

/// An error and its causes. An `io::Error` wrapping another error counts as that error: its own
/// `source()` skips the wrapped error and goes straight to the wrapped error's cause.
fn causes<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |&err| err.source()).map(unwrap_io)
}

fn unwrap_io<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> &'e (dyn std::error::Error + 'static) {
    match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(inner) => inner,
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn stop_filter_holds_back_a_possible_stop_and_cuts_before_it() {
        let list = stops(&["world", "\n\n"]);
        let mut f = StopFilter::new(&list);
        assert_eq!(f.push("Hello"), "Hello");
        assert_eq!(f.push(" wor"), " ");
        assert_eq!(f.push("ld! Bye"), "");
        assert!(f.stopped);
        assert_eq!(f.shown, "Hello ");
        assert_eq!(f.finish(), "");
    }

    #[test]
    fn stop_filter_releases_held_text_that_turned_out_harmless() {
        let list = stops(&["world"]);
        let mut f = StopFilter::new(&list);
        assert_eq!(f.push("a wo"), "a ");
        assert_eq!(f.push("rm"), "worm");
        assert_eq!(f.push(" w"), " ");
        assert_eq!(f.finish(), "w");
        assert!(!f.stopped);
        assert_eq!(f.shown, "a worm w");
    }

    #[test]
    fn stop_filter_respects_character_boundaries() {
        let list = stops(&["再见", "。"]);
        let mut f = StopFilter::new(&list);
        assert_eq!(f.push("好的再"), "好的");
        assert_eq!(f.push("来"), "再来");
        assert_eq!(f.push("吧。谢谢"), "吧");
        assert!(f.stopped);
    }

    #[test]
    fn no_stop_strings_pass_everything() {
        let mut f = StopFilter::new(&[]);
        assert_eq!(f.push("abc"), "abc");
        assert_eq!(f.finish(), "");
    }

    #[test]
    fn sse_events_gather_data_lines_and_skip_the_rest() {
        let mut e = SseEvent::default();
        assert_eq!(e.push(": ping\n"), None);
        assert_eq!(e.push("event: message\r\n"), None);
        assert_eq!(e.push("data: {\"a\":\n"), None);
        assert_eq!(e.push("data:1}\n"), None);
        assert_eq!(e.push("\r\n").as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(e.push("\n"), None);
        assert_eq!(e.push("data: [DONE]"), None);
        assert_eq!(e.take().as_deref(), Some("[DONE]"));
    }

    #[test]
    fn base_url_forms_reach_the_same_endpoint_and_hide_credentials() {
        for base in ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"] {
            let b = RemoteBackend::new(RemoteConfig::new(base, "m")).expect("valid url");
            assert_eq!(b.url("/v1/models"), "http://h:1/v1/models", "{base}");
        }
        let b = RemoteBackend::new(RemoteConfig::new("https://u:secret@h/proxy/v1", "m"))
            .expect("valid url");
        assert_eq!(b.url("/v1/models"), "https://u:secret@h/proxy/v1/models");
        assert_eq!(b.shown("/v1/models"), "https://h/proxy/v1/models");
        let err = RemoteBackend::new(RemoteConfig::new("ftp://h", "m")).expect_err("not http");
        assert!(matches!(err, LlmError::Remote { .. }), "{err:?}");
    }

    #[test]
    fn api_key_is_redacted() {
        let mut config = RemoteConfig::new("http://h", "m");
        config.api_key = Some(ApiKey::new("sk-very-secret"));
        let shown = format!("{config:?} {:?}", RemoteBackend::new(config.clone()).expect("valid"));
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn request_body_maps_sampling_params() {
        let mut req = GenerateRequest {
            messages: vec![crate::ChatMessage::user("hi")],
            params: crate::SamplingParams::default(),
            n: 2,
            cache_key: None,
        };
        req.params.stop = stops(&["\n"]);
        req.params.top_k = None;
        let body = request_body("m", &req, 1);
        assert_eq!(body["seed"], 43);
        assert_eq!(body["top_k"], 0);
        assert_eq!(body["stream"], true);
        assert_eq!(body["messages"][0]["role"], "user");
        assert_eq!(body["stop"][0], "\n");
        assert_eq!(body["max_tokens"], 256);
        assert!((body["repeat_penalty"].as_f64().expect("number") - 1.1).abs() < 1e-6);
        assert_eq!(body["repeat_penalty"], body["repetition_penalty"]);
    }
}
