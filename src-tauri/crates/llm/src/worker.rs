//! The local backend: one worker thread owns a loaded model, its tokenizer and its prefix KV
//! cache. Requests arrive over a channel and carry their own reply channel and cancel token, so
//! nothing locks the model; cancellation is checked before every token.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;

use crate::chat::ChatTemplate;
use crate::decoder::{Decoder, KvCache};
use crate::sampling::{Matched, Sampler, StopMatcher};
use crate::tokenizer::GgufTokenizer;
use crate::{CancelToken, FinishReason, GenerateRequest, GenerationStats, LlmError, StreamEvent};

/// At most this many alternative suggestions per request.
pub const MAX_SUGGESTIONS: usize = 8;
/// Prompt tokens prefilled per forward pass; bounds the attention matrices and lets a cancel
/// land between chunks of a long prompt.
const PREFILL_CHUNK: usize = 256;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Compute threads (the rayon pool); `None` uses `RAYON_NUM_THREADS` or every core. Applies to
    /// the first model loaded in a process.
    pub threads: Option<usize>,
    /// Memory the prefix KV cache may hold across conversations, in bytes.
    pub cache_budget_bytes: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { threads: None, cache_budget_bytes: 256 * 1024 * 1024 }
    }
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub arch: String,
    pub name: String,
    pub context_length: usize,
    pub layers: usize,
    pub template: ChatTemplate,
    pub file_bytes: u64,
}

/// A running generation: its events arrive in order on `events`.
#[derive(Debug)]
pub struct Generation {
    pub events: Receiver<StreamEvent>,
    pub cancel: CancelToken,
}

impl Generation {
    /// Waits for the end and returns each suggestion's text and the stats (tests, benchmarks).
    pub fn collect(self) -> Result<(Vec<(String, FinishReason)>, GenerationStats), LlmError> {
        let mut finished = Vec::new();
        for event in self.events {
            match event {
                StreamEvent::Text { .. } => {}
                StreamEvent::Finished { index, reason, text } => {
                    if finished.len() <= index {
                        finished.resize(index + 1, (String::new(), FinishReason::Stop));
                    }
                    finished[index] = (text, reason);
                }
                StreamEvent::Done(stats) => return Ok((finished, stats)),
                StreamEvent::Failed(e) => return Err(e),
            }
        }
        Err(LlmError::WorkerGone)
    }
}

struct Job {
    request: GenerateRequest,
    events: Sender<StreamEvent>,
    cancel: CancelToken,
    received: Instant,
}

/// A model loaded on its own worker thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct LocalModel {
    info: ModelInfo,
    tokenizer: Arc<GgufTokenizer>,
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalModel {
    /// Loads a GGUF file (validated first) and starts its worker. `progress(done, total)` reports
    /// layers loaded.
    pub fn load(
        path: &Path,
        options: LoadOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self, LlmError> {
        crate::cpu::check()?;
        if let Some(threads) = options.threads {
            // Only the first call in a process can size the global pool; later ones keep it.
            let _ = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build_global();
        }
        let started = Instant::now();
        let io = |source| LlmError::Io { path: path.to_path_buf(), source };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let file_size = file.metadata().map_err(io)?.len();
        // One read of the header serves validation, the tokenizer and the weights.
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| LlmError::NotGguf { path: path.to_path_buf(), reason: e.to_string() })?;
        let info = crate::gguf::check(path, &content, file_size)?;
        let tokenizer = crate::tokenizer::from_gguf(&content, path)?;
        let jinja = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str);
        let template = ChatTemplate::detect(jinja, |t| tokenizer.token_id(t).is_some());
        if info.arch == "gemma3" {
            return Err(LlmError::InvalidRequest(format!(
                "{} is a gemma3 model: it can be imported and inspected, but running gemma3 is not \
                 supported yet",
                path.display()
            )));
        }
        let decoder = Decoder::from_gguf(&content, &mut file, &Device::Cpu, progress)?;
        let info = ModelInfo {
            path: path.to_path_buf(),
            arch: info.arch.clone(),
            name: info.name.clone(),
            context_length: decoder.cfg.context_length,
            layers: decoder.cfg.n_layer,
            template,
            file_bytes: info.file_size,
        };
        let mut stop_ids = tokenizer.stop_ids();
        if let Some(id) = tokenizer.token_id(template.end_of_turn()) {
            stop_ids.push(id);
        }
        let tokenizer = Arc::new(tokenizer);
        tracing::info!(
            model = %info.name, arch = %info.arch, layers = info.layers,
            ms = started.elapsed().as_millis() as u64, "model loaded"
        );
        let (jobs, inbox) = mpsc::channel::<Job>();
        let worker = Worker {
            decoder,
            tokenizer: Arc::clone(&tokenizer),
            template,
            stop_ids,
            cache: PrefixCache::new(options.cache_budget_bytes),
        };
        let thread = std::thread::Builder::new()
            .name(format!("closer-llm-{}", info.arch))
            .spawn(move || worker.run(inbox))
            .map_err(|source| LlmError::Io { path: path.to_path_buf(), source })?;
        Ok(Self { info, tokenizer, jobs: Some(jobs), thread: Some(thread) })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The prompt tokens `request` would prefill (before any cache).
    pub fn prompt_tokens(&self, request: &GenerateRequest) -> Result<Vec<u32>, LlmError> {
        self.tokenizer.encode_prompt(&self.info.template.parts(&request.messages))
    }

    /// Queues a request. Events stream back on the returned channel.
    pub fn generate(&self, request: GenerateRequest) -> Generation {
        let (events, receiver) = mpsc::channel();
        let cancel = CancelToken::new();
        let job = Job {
            request,
            events: events.clone(),
            cancel: cancel.clone(),
            received: Instant::now(),
        };
        let delivered = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !delivered {
            let _ = events.send(StreamEvent::Failed(LlmError::WorkerGone));
        }
        Generation { events: receiver, cancel }
    }
}

impl Drop for LocalModel {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The state of the worker thread.
struct Worker {
    decoder: Decoder,
    tokenizer: Arc<GgufTokenizer>,
    template: ChatTemplate,
    stop_ids: Vec<u32>,
    cache: PrefixCache,
}

/// One suggestion being written.
struct Suggestion {
    kv: KvCache,
    sampler: Sampler,
    history: Vec<u32>,
    logits: candle_core::Tensor,
    stream: crate::tokenizer::TokenStream,
    stops: StopMatcher,
    generated: usize,
    finished: bool,
}

impl Worker {
    fn run(mut self, inbox: Receiver<Job>) {
        for job in inbox {
            let events = job.events.clone();
            match self.serve(job) {
                Ok(stats) => {
                    tracing::info!(
                        prompt = stats.prompt_tokens,
                        cached = stats.cached_tokens,
                        prefill_tok_s = format!("{:.1}", stats.prefill_tokens_per_s()),
                        decode_tok_s = format!("{:.1}", stats.decode_tokens_per_s()),
                        first_token_ms = format!("{:.0}", stats.first_token_ms),
                        "generation done"
                    );
                    let _ = events.send(StreamEvent::Done(stats));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "generation failed");
                    let _ = events.send(StreamEvent::Failed(e));
                }
            }
        }
    }

    fn serve(&mut self, job: Job) -> Result<GenerationStats, LlmError> {
        let Job { request, events, cancel, received } = job;
        let params = &request.params;
        if request.n == 0 || request.n > MAX_SUGGESTIONS {
            return Err(LlmError::InvalidRequest(format!(
                "n must be 1..={MAX_SUGGESTIONS}, got {}",
                request.n
            )));
        }
        if params.max_tokens == 0 {
            return Err(LlmError::InvalidRequest("max_tokens must be at least 1".into()));
        }
        let tokens = self.tokenizer.encode_prompt(&self.template.parts(&request.messages))?;
        let context = self.decoder.cfg.context_length;
        if tokens.is_empty() || tokens.len() + params.max_tokens > context {
            return Err(LlmError::ContextOverflow {
                tokens: tokens.len() + params.max_tokens,
                context,
            });
        }
        let mut stats = GenerationStats { prompt_tokens: tokens.len(), ..Default::default() };

        // Prefill what the cache does not already hold. candle's quantized matmul works on
        // groups of rows, and a row's result depends (in the last bits) on the group it falls in.
        // So chunks start at positions that are multiples of ALIGN, and only whole groups are
        // cached: a position is then computed in the same group with or without a cache hit,
        // and a hit reproduces the uncached output exactly.
        let prefill_started = Instant::now();
        let (mut kv, cached) = self
            .cache
            .lookup(request.cache_key.as_deref(), &tokens)?
            .unwrap_or_else(|| (KvCache::new(self.decoder.cfg.n_layer), 0));
        let start = align_down(cached.min(tokens.len() - 1));
        kv.truncate(start)?;
        stats.cached_tokens = start;
        let span = tracing::info_span!("prefill", tokens = tokens.len() - start, cached = start);
        let mut logits = None;
        {
            let _enter = span.enter();
            for (from, to) in chunk_bounds(start, tokens.len()) {
                if cancel.is_cancelled() {
                    logits = None;
                    break;
                }
                logits = Some(self.decoder.forward(&tokens[from..to], &mut kv)?);
            }
        }
        if let Some(key) = request.cache_key.as_ref().filter(|_| logits.is_some()) {
            let keep = align_down(tokens.len());
            let mut stored = kv.fork()?;
            stored.truncate(keep)?;
            self.cache.store(key.clone(), tokens[..keep].to_vec(), stored);
        }
        stats.prefill_ms = prefill_started.elapsed().as_secs_f64() * 1000.0;
        let Some(logits) = logits.filter(|_| !cancel.is_cancelled()) else {
            for index in 0..request.n {
                let _ = events.send(StreamEvent::Finished {
                    index,
                    reason: FinishReason::Cancelled,
                    text: String::new(),
                });
            }
            return Ok(stats);
        };

        // N suggestions fork the prefilled cache and take turns, one token each; the last one
        // takes the original.
        let mut kvs = (1..request.n).map(|_| kv.fork()).collect::<Result<Vec<_>, _>>()?;
        kvs.push(kv);
        let mut suggestions: Vec<Suggestion> = kvs
            .into_iter()
            .enumerate()
            .map(|(index, kv)| Suggestion {
                kv,
                sampler: Sampler::new(params, index),
                history: tokens.clone(),
                logits: logits.clone(),
                stream: self.tokenizer.stream(),
                stops: StopMatcher::new(&params.stop),
                generated: 0,
                finished: false,
            })
            .collect();
        let decode_started = Instant::now();
        let _span = tracing::info_span!("decode", n = request.n).entered();
        while suggestions.iter().any(|s| !s.finished) {
            for (index, s) in suggestions.iter_mut().enumerate().filter(|(_, s)| !s.finished) {
                let finish = |s: &mut Suggestion, reason: FinishReason, tail: String| {
                    s.finished = true;
                    if !tail.is_empty() {
                        let _ = events.send(StreamEvent::Text { index, text: tail });
                    }
                    let _ = events.send(StreamEvent::Finished {
                        index,
                        reason,
                        text: s.stops.text().to_owned(),
                    });
                };
                if cancel.is_cancelled() {
                    finish(s, FinishReason::Cancelled, String::new());
                    continue;
                }
                let token = s.sampler.next(&s.logits, &s.history)?;
                s.generated += 1;
                stats.generated_tokens += 1;
                if self.stop_ids.contains(&token) {
                    let tail = s.stream.flush(&self.tokenizer)?;
                    let tail = match s.stops.push(&tail) {
                        Matched::Continue(t) | Matched::Stop(t) => t,
                    } + &s.stops.flush();
                    finish(s, FinishReason::Stop, tail);
                    continue;
                }
                s.history.push(token);
                if let Some(piece) = s.stream.next(&self.tokenizer, token)? {
                    match s.stops.push(&piece) {
                        Matched::Continue(text) if !text.is_empty() => {
                            if stats.first_token_ms == 0.0 {
                                stats.first_token_ms = received.elapsed().as_secs_f64() * 1000.0;
                            }
                            if events.send(StreamEvent::Text { index, text }).is_err() {
                                // Nobody is listening any more: stop working for them.
                                cancel.cancel();
                            }
                        }
                        Matched::Continue(_) => {}
                        Matched::Stop(text) => {
                            finish(s, FinishReason::Stop, text);
                            continue;
                        }
                    }
                }
                if s.generated >= params.max_tokens {
                    let tail = s.stream.flush(&self.tokenizer)?;
                    let tail = match s.stops.push(&tail) {
                        Matched::Continue(t) => t + &s.stops.flush(),
                        Matched::Stop(t) => t,
                    };
                    finish(s, FinishReason::Length, tail);
                    continue;
                }
                s.logits = self.decoder.step(token, &mut s.kv)?;
            }
        }
        stats.decode_ms = decode_started.elapsed().as_secs_f64() * 1000.0;
        if stats.first_token_ms == 0.0 {
            stats.first_token_ms = received.elapsed().as_secs_f64() * 1000.0;
        }
        Ok(stats)
    }
}

/// Row-group alignment of prefill chunks (a multiple of candle's 4-row x86 tiles and 16-row
/// generic tiles).
const ALIGN: usize = 16;

fn align_down(n: usize) -> usize {
    n / ALIGN * ALIGN
}

/// `[from, to)` chunks covering `start..end` (`start` aligned), cut at absolute multiples of
/// [`PREFILL_CHUNK`], so the same position always lands in the same chunk layout.
fn chunk_bounds(start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut bounds = Vec::new();
    let mut from = start;
    while from < end {
        let to = ((from / PREFILL_CHUNK + 1) * PREFILL_CHUNK).min(end);
        bounds.push((from, to));
        from = to;
    }
    bounds
}

/// Prompt KV caches kept across requests, least recently used evicted first, within a byte
/// budget. A request reuses the entry sharing the longest token prefix with its prompt (its own
/// conversation's, or another's with the same system prompt).
struct PrefixCache {
    entries: Vec<CacheEntry>,
    budget: usize,
    clock: u64,
}

struct CacheEntry {
    key: String,
    tokens: Vec<u32>,
    kv: KvCache,
    used: u64,
}

impl PrefixCache {
    fn new(budget: usize) -> Self {
        Self { entries: Vec::new(), budget, clock: 0 }
    }

    fn lookup(
        &mut self,
        key: Option<&str>,
        tokens: &[u32],
    ) -> candle_core::Result<Option<(KvCache, usize)>> {
        self.clock += 1;
        let common = |a: &[u32]| a.iter().zip(tokens).take_while(|(x, y)| x == y).count();
        let best = self
            .entries
            .iter_mut()
            .map(|e| {
                let n = common(&e.tokens);
                let own = Some(e.key.as_str()) == key;
                (n, own, e)
            })
            .filter(|(n, _, _)| *n > 0)
            .max_by_key(|(n, own, _)| (*n, *own));
        let Some((n, _, entry)) = best else { return Ok(None) };
        entry.used = self.clock;
        Ok(Some((entry.kv.fork()?, n)))
    }

    fn store(&mut self, key: String, tokens: Vec<u32>, kv: KvCache) {
        self.clock += 1;
        self.entries.retain(|e| e.key != key);
        self.entries.push(CacheEntry { key, tokens, kv, used: self.clock });
        while self.entries.len() > 1 && self.bytes() > self.budget {
            if let Some(oldest) =
                self.entries.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i)
            {
                self.entries.swap_remove(oldest);
            }
        }
        if self.bytes() > self.budget {
            self.entries.clear();
        }
    }

    fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.kv.bytes()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_cut_on_an_absolute_grid() {
        assert_eq!(chunk_bounds(0, 0), vec![]);
        assert_eq!(chunk_bounds(0, 10), vec![(0, 10)]);
        assert_eq!(chunk_bounds(0, 600), vec![(0, 256), (256, 512), (512, 600)]);
        assert_eq!(chunk_bounds(240, 600), vec![(240, 256), (256, 512), (512, 600)]);
        assert_eq!(align_down(47), 32);
        assert!(chunk_bounds(32, 300).iter().all(|(from, _)| from % ALIGN == 0));
    }
}
