//! `closer bench llm`: Closer's local model runtime side by side with llama.cpp (through
//! llama-cpp-python), on the same installed GGUF file and the same prompts, plus the decode
//! roofline of this machine.
//!
//! Order of work, chosen so that nothing measured overlaps anything else heavy:
//! 1. machine and model facts; the llama.cpp venv is found (or built) before anything is timed;
//! 2. Closer's runtime, in this process: load, cold runs (prefill + greedy decode), cold
//!    time-to-first-token, warm time-to-first-token on the cached conversation; then its peak RSS
//!    (`VmHWM`) is read — before the bandwidth buffer is allocated — and the model is dropped;
//! 3. memory bandwidth (a 1 GiB buffer summed by every core, 3 passes);
//! 4. llama.cpp in a child process (`bench/llama_cpp.py`), with the same definitions;
//! 5. memory bandwidth again (3 more passes): the best pass of both windows is the roofline's,
//!    so one slow moment of a shared machine does not lower it.
//!
//! Definitions (both runtimes):
//! - *prefill*: the whole conversation prompt into an empty KV cache, tokens ÷ time;
//! - *decode*: greedy, up to `--new-tokens`, tokens sampled ÷ time from the end of prefill
//!   (`GenerationStats::decode_tokens_per_s`);
//! - *TTFT*: a request with `max_tokens = 1`, from handing over the prompt text to the first
//!   sampled token, tokenization included. Cold: nothing cached. Warm: the conversation plus a new
//!   customer message, the conversation's KV cached by the previous request (Closer: `cache_key`;
//!   llama.cpp: the `Llama` object keeps the KV of the longest matching prefix);
//! - *peak RSS*: `VmHWM` of this process / of the Python process (not its `ru_maxrss`, which
//!   Linux carries over from the parent across exec).

mod encoder;
mod machine;
mod nlu;
mod peer;
mod prompt;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use closer_llm::catalog;
use closer_llm::{
    ChatMessage, GenerateRequest, GenerationStats, LlmError, LoadOptions, LocalModel,
    SamplingParams,
};
use serde::{Deserialize, Serialize};

use machine::{Bandwidth, MachineFacts, WeightFacts};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

impl BenchArgs {
    /// The compute threads asked for, if the benchmark takes them as a flag.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            BenchCommand::Llm(args) => Some(args.threads.into()),
            BenchCommand::Encoder(_) | BenchCommand::Nlu(_) | BenchCommand::Bandwidth(_) => None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The local model runtime against llama.cpp on the same GGUF file and prompts: load,
    /// prefill, decode, time to first token (cold and on a cached conversation), peak memory, and
    /// the decode roofline of this machine.
    Llm(LlmBenchArgs),
    /// A sentence encoder: single-message latency (p50, p95) on Chinese and English chat
    /// messages, and batch throughput.
    Encoder(encoder::EncoderBenchArgs),
    /// The whole NLU per message as the app runs it: p50 and p95 on the held-out sales
    /// messages, Chinese and English.
    Nlu(nlu::NluBenchArgs),
    /// One memory-bandwidth pass, its GB/s on stdout: run by `bench llm` in a child process
    /// before each of its cold runs, so the buffer never counts in its peak memory.
    #[command(hide = true)]
    Bandwidth(BandwidthArgs),
}

#[derive(Debug, Args)]
struct BandwidthArgs {
    #[arg(long, value_name = "MIB")]
    mib: u16,
    #[arg(long)]
    threads: u16,
}

#[derive(Debug, Args)]
struct LlmBenchArgs {
    /// An installed model (see `closer models list`); default: the catalog's default model.
    #[arg(long, value_name = "ID")]
    model: Option<String>,
    /// Also write every figure, sample and fact here as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Runs of each measurement; medians and percentiles are over these.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    runs: u16,
    /// Tokens decoded greedily per cold run.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    new_tokens: u16,
    /// Length of the conversation prompt, in the model's tokens.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u16).range(16..=16000))]
    prefix_tokens: u16,
    /// Compute threads for both runtimes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Measure only Closer's runtime (no llama.cpp, no venv).
    #[arg(long)]
    skip_peer: bool,
    /// Size of the memory-bandwidth buffer.
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "MIB",
        value_parser = clap::value_parser!(u16).range(16..)
    )]
    bandwidth_mib: u16,
}

/// What can stop a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("llama.cpp peer: {message} (--skip-peer measures Closer's runtime alone)")]
    Peer { message: String },
    #[error(
        "the {prompt} prompt is {ours} tokens for Closer but {peer} for llama.cpp: the two \
         tokenizers disagree, so the runtimes would not do the same work"
    )]
    TokenCount { prompt: String, ours: usize, peer: usize },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl BenchError {
    fn code(&self) -> &'static str {
        match self {
            BenchError::Llm(LlmError::NotInstalled(_)) => "not_installed",
            BenchError::Llm(LlmError::UnknownModel(_)) => "unknown_model",
            BenchError::Llm(_) => "model",
            BenchError::Peer { .. } => "peer",
            BenchError::TokenCount { .. } => "token_mismatch",
            BenchError::Write { .. } => "io",
        }
    }
}

/// Runs a `bench` command; errors print as `error [code]: message` and exit with 2.
pub fn main(args: BenchArgs) -> ExitCode {
    let args = match args.command {
        BenchCommand::Llm(args) => args,
        BenchCommand::Encoder(args) => return encoder::main(args),
        BenchCommand::Nlu(args) => return nlu::main(args),
        BenchCommand::Bandwidth(args) => {
            let b = machine::measure_bandwidth(args.mib.into(), args.threads.into(), 1);
            println!("{}", b.bytes_per_s / 1e9);
            return ExitCode::SUCCESS;
        }
    };
    match bench_llm(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::from(2)
        }
    }
}

/// One cold run: the whole prompt, then greedy decoding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdRun {
    pub prompt_tokens: usize,
    pub cached_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub generated_tokens: usize,
    /// Memory bandwidth measured just before this run (GB/s; Closer's runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gb_s: Option<f64>,
}

/// One warm time-to-first-token run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmRun {
    pub ms: f64,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV came from the cache.
    pub cached_tokens: usize,
}

/// Everything measured on one runtime.
#[derive(Debug, Clone, Serialize)]
pub struct Samples {
    pub load_ms: f64,
    pub cold: Vec<ColdRun>,
    pub ttft_cold_ms: Vec<f64>,
    pub warm: Vec<WarmRun>,
    pub peak_rss_bytes: u64,
}

/// The figures of one runtime, from its samples.
#[derive(Debug, Clone, Serialize)]
struct Figures {
    runtime: String,
    load_ms: f64,
    /// Medians over the cold runs.
    prefill_tok_s: f64,
    decode_tok_s: f64,
    ttft_cold_ms_p50: f64,
    ttft_warm_ms_p50: f64,
    ttft_warm_ms_p90: f64,
    peak_rss_bytes: u64,
    peak_rss_method: &'static str,
    /// Decode speed ÷ the roofline.
    roofline_fraction: f64,
    /// Median over the cold runs of each run's decode speed ÷ the roofline at the bandwidth
    /// measured just before it (where it was: Closer's runs).
    roofline_fraction_paired: Option<f64>,
    samples: Samples,
}

impl Figures {
    fn new(runtime: String, samples: Samples, rss: &'static str, roofline: &Roofline) -> Self {
        let prefill: Vec<f64> = samples
            .cold
            .iter()
            .map(|r| per_s(r.prompt_tokens - r.cached_tokens, r.prefill_ms))
            .collect();
        let decode: Vec<f64> =
            samples.cold.iter().map(|r| per_s(r.generated_tokens, r.decode_ms)).collect();
        let warm: Vec<f64> = samples.warm.iter().map(|r| r.ms).collect();
        let decode_tok_s = percentile(&decode, 0.5);
        let paired: Vec<f64> =
            paired_fractions(&samples.cold, roofline.bytes_per_token).map(|(_, f)| f).collect();
        let roofline = roofline.tokens_per_s;
        Self {
            runtime,
            load_ms: samples.load_ms,
            prefill_tok_s: percentile(&prefill, 0.5),
            decode_tok_s,
            ttft_cold_ms_p50: percentile(&samples.ttft_cold_ms, 0.5),
            ttft_warm_ms_p50: percentile(&warm, 0.5),
            ttft_warm_ms_p90: percentile(&warm, 0.9),
            peak_rss_bytes: samples.peak_rss_bytes,
            peak_rss_method: rss,
            roofline_fraction: if roofline > 0.0 { decode_tok_s / roofline } else { 0.0 },
            roofline_fraction_paired: (!paired.is_empty()).then(|| percentile(&paired, 0.5)),
            samples,
        }
    }
}

/// For each cold run with a bandwidth measured just before it: that bandwidth (GB/s) and the
/// run's decode speed ÷ the roofline at it.
fn paired_fractions(cold: &[ColdRun], bytes_per_token: u64) -> impl Iterator<Item = (f64, f64)> {
    cold.iter().filter_map(move |r| {
        let gb_s = r.bandwidth_gb_s?;
        let roof = gb_s * 1e9 / bytes_per_token as f64;
        (roof > 0.0).then(|| (gb_s, per_s(r.generated_tokens, r.decode_ms) / roof))
    })
}

fn per_s(tokens: usize, ms: f64) -> f64 {
    if ms > 0.0 { tokens as f64 * 1000.0 / ms } else { 0.0 }
}

/// Nearest-rank percentile (`p` in 0..=1) of `values`; 0 for none.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied().unwrap_or(0.0)
}

/// The prompts both runtimes get.
#[derive(Debug, Clone, Serialize)]
struct Prompts {
    prefix_tokens_target: usize,
    /// The conversation, rendered with the model's chat template.
    prefix_text: String,
    prefix_tokens: usize,
    prefix_tokens_llama_cpp: Option<usize>,
    /// Whether llama.cpp tokenizes the conversation to exactly Closer's ids.
    prefix_ids_equal: Option<bool>,
    /// The conversation plus one new customer message, per warm run.
    warm_texts: Vec<String>,
    warm_tokens: Vec<usize>,
    warm_tokens_llama_cpp: Option<Vec<usize>>,
    /// The warm-up prompt (untimed), rendered.
    warm_up_text: String,
    #[serde(skip)]
    prefix_ids: Vec<u32>,
    #[serde(skip)]
    prefix_messages: Vec<ChatMessage>,
    #[serde(skip)]
    warm_messages: Vec<Vec<ChatMessage>>,
}

/// The decode roofline: memory bandwidth ÷ bytes of weights read per token.
#[derive(Debug, Clone, Serialize)]
struct Roofline {
    bandwidth: Bandwidth,
    bytes_per_token: u64,
    tokens_per_s: f64,
    /// Keys and values a decode step also reads at the prompt's length, not in the roofline:
    /// f32 as Closer keeps them (llama.cpp keeps f16, half of this).
    kv_bytes_per_token_f32: u64,
    note: &'static str,
}

const ROOFLINE_NOTE: &str = "bytes per token = every tensor of the GGUF file at its stored size, \
    except the token embedding table when the model has its own output matrix: a decode step \
    multiplies by every weight matrix once, but only gathers one row of the embedding table. \
    With tied embeddings (no output.weight) the table is the output projection and is counted.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Pass,
    Miss,
    /// Reported, no threshold.
    Info,
    /// Needs the peer, which was skipped.
    NotMeasured,
}

#[derive(Debug, Clone, Serialize)]
struct Target {
    target: String,
    value: String,
    verdict: Verdict,
}

/// The whole report (`--json`).
#[derive(Debug, Clone, Serialize)]
struct Report {
    model_id: String,
    model_path: PathBuf,
    model_name: String,
    architecture: String,
    machine: MachineFacts,
    weights: WeightFacts,
    threads: usize,
    runs: usize,
    new_tokens: usize,
    prompts: Prompts,
    closer: Figures,
    llama_cpp: Option<Figures>,
    roofline: Roofline,
    targets: Vec<Target>,
}

fn bench_llm(args: &LlmBenchArgs) -> Result<(), BenchError> {
    let id = args.model.clone().unwrap_or_else(|| catalog::catalog().default.clone());
    let threads = usize::from(args.threads);
    let runs = usize::from(args.runs);
    let new_tokens = usize::from(args.new_tokens);
    let machine = MachineFacts::read();
    if machine.cpu_busy_at_start > 0.15 {
        eprintln!(
            "bench: warning: {:.0} % of the CPU was busy with other work just now (load average \
             {:.2}); the figures will be low",
            machine.cpu_busy_at_start * 100.0,
            machine.load_average_at_start
        );
    }
    let path = catalog::installed_model(&id).map_err(|e| match e {
        // Neither installed nor in the catalog: say so rather than suggest a fetch.
        LlmError::NotInstalled(_) if catalog::catalog().get(&id).is_err() => {
            LlmError::UnknownModel(id.clone())
        }
        e => e,
    })?;
    let weights = machine::weight_facts(&path)?;
    let python = if args.skip_peer {
        None
    } else {
        let venv = peer::venv_dir();
        eprintln!("bench: llama.cpp peer: the venv {}", venv.display());
        Some(peer::ensure_installed(&venv)?)
    };
    eprintln!("bench: reading {} into the page cache", path.display());
    machine::warm_page_cache(&path)?;

    // Closer's runtime, in this process.
    eprintln!("bench: closer: loading {id} with {threads} threads");
    let started = Instant::now();
    let options = LoadOptions { threads: Some(threads), ..LoadOptions::default() };
    let model = LocalModel::load(&path, options, &mut |_, _| {})?;
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    eprintln!("bench: closer: loaded in {load_ms:.0} ms ({})", closer_llm::cpu::describe());
    let mut prompts = build_prompts(&model, usize::from(args.prefix_tokens), runs)?;
    eprintln!(
        "bench: the conversation is {} tokens (target {}); warm runs add {}",
        prompts.prefix_tokens,
        prompts.prefix_tokens_target,
        join(prompts.warm_tokens.iter().map(|n| n - prompts.prefix_tokens))
    );
    if let Some(python) = &python {
        check_tokenization(python, &path, &mut prompts, threads)?;
    }
    let (mib, cores) = (usize::from(args.bandwidth_mib), machine.cores);
    let pass = || machine::bandwidth_in_child(mib, cores);
    let closer = measure_closer(&model, &prompts, load_ms, runs, new_tokens, &pass)?;
    let closer_rss = machine::peak_rss_bytes();
    let name = model.info().name.clone();
    let arch = model.info().arch.clone();
    drop(model);

    // The bandwidth is measured after each runtime's runs, and the best pass of both windows
    // counts: on a shared machine one window alone can catch a slow moment and make the
    // roofline look lower (and the fraction reached higher) than it is.
    eprintln!("bench: memory bandwidth: summing {mib} MiB with {cores} threads");
    let mut bandwidth = machine::measure_bandwidth(mib, cores, 3);
    let peer_output = match &python {
        None => None,
        Some(python) => {
            let output = run_peer(python, &path, &prompts, runs, new_tokens, threads)?;
            eprintln!("bench: memory bandwidth again, after the peer");
            bandwidth.add(machine::measure_bandwidth(mib, cores, 3));
            Some(output)
        }
    };
    eprintln!(
        "bench: memory bandwidth: {:.1} GB/s (passes {})",
        bandwidth.bytes_per_s / 1e9,
        join(bandwidth.passes_gb_s.iter().map(|g| format!("{g:.1}")))
    );
    let roofline = Roofline {
        tokens_per_s: bandwidth.bytes_per_s / weights.bytes_per_token as f64,
        bytes_per_token: weights.bytes_per_token,
        kv_bytes_per_token_f32: (weights.layers
            * 2
            * weights.kv_heads
            * weights.head_dim
            * 4
            * prompts.prefix_tokens) as u64,
        bandwidth,
        note: ROOFLINE_NOTE,
    };
    let peer = peer_output.map(|output| {
        Figures::new(
            format!("llama.cpp (llama-cpp-python {})", output.version),
            output.samples(),
            "VmHWM of the Python process (the model is mmapped: its touched pages count)",
            &roofline,
        )
    });
    let closer = Figures::new(
        format!("closer {}", env!("CARGO_PKG_VERSION")),
        Samples { peak_rss_bytes: closer_rss, ..closer },
        "VmHWM of the closer process, read before the bandwidth buffer and the peer",
        &roofline,
    );
    let targets = targets(&closer, peer.as_ref());
    let report = Report {
        model_id: id,
        model_path: path,
        model_name: name,
        architecture: arch,
        machine,
        weights,
        threads,
        runs,
        new_tokens,
        prompts,
        closer,
        llama_cpp: peer,
        roofline,
        targets,
    };
    print_report(&report);
    if let Some(json) = &args.json {
        let write = |source| BenchError::Write { path: json.clone(), source };
        let mut text =
            serde_json::to_string_pretty(&report).map_err(|e| write(std::io::Error::other(e)))?;
        text.push('\n');
        std::fs::write(json, text).map_err(write)?;
        eprintln!("bench: wrote {}", json.display());
    }
    Ok(())
}

fn request(
    messages: Vec<ChatMessage>,
    max_tokens: usize,
    cache_key: Option<&str>,
) -> GenerateRequest {
    GenerateRequest {
        messages,
        params: SamplingParams::greedy(max_tokens),
        n: 1,
        cache_key: cache_key.map(str::to_owned),
    }
}

/// The conversation fitted to the target with the model's tokenizer, and one extension per warm
/// run.
fn build_prompts(model: &LocalModel, target: usize, runs: usize) -> Result<Prompts, BenchError> {
    let count = |messages: &[ChatMessage]| -> Result<usize, LlmError> {
        Ok(model.prompt_tokens(&request(messages.to_vec(), 1, None))?.len())
    };
    let conversation = prompt::conversation(target, &count)?;
    let template = model.info().template;
    let mut warm_messages = Vec::new();
    let mut warm_texts = Vec::new();
    let mut warm_tokens = Vec::new();
    for run in 0..runs {
        let mut messages = conversation.clone();
        messages.push(ChatMessage::user(prompt::new_message(run)));
        warm_tokens.push(count(&messages)?);
        warm_texts.push(template.render(&messages));
        warm_messages.push(messages);
    }
    Ok(Prompts {
        prefix_tokens_target: target,
        prefix_text: template.render(&conversation),
        prefix_tokens: count(&conversation)?,
        prefix_tokens_llama_cpp: None,
        prefix_ids_equal: None,
        warm_texts,
        warm_tokens,
        warm_tokens_llama_cpp: None,
        warm_up_text: template.render(&prompt::warm_up()),
        prefix_ids: model.prompt_tokens(&request(conversation.clone(), 1, None))?,
        prefix_messages: conversation,
        warm_messages,
    })
}

/// Closer's runtime on the prompts: cold runs, cold TTFT, warm TTFT. `peak_rss_bytes` is left 0
/// for the caller, which reads it after this returns.
fn measure_closer(
    model: &LocalModel,
    prompts: &Prompts,
    load_ms: f64,
    runs: usize,
    new_tokens: usize,
    bandwidth: &dyn Fn() -> Option<f64>,
) -> Result<Samples, BenchError> {
    let timed = |request: GenerateRequest| -> Result<(f64, GenerationStats), BenchError> {
        let started = Instant::now();
        let (_, stats) = model.generate(request).collect()?;
        Ok((started.elapsed().as_secs_f64() * 1000.0, stats))
    };
    // Untimed: the thread pool and the allocator warm up on an unrelated prompt.
    timed(request(prompt::warm_up(), 2, None))?;

    let prefix = &prompts.prefix_messages;
    let mut cold = Vec::new();
    for run in 1..=runs {
        // The machine's bandwidth at this moment, for this run's own roofline: on a shared
        // machine it moves by half within minutes.
        let bandwidth_gb_s = bandwidth();
        let (_, s) = timed(request(prefix.clone(), new_tokens, None))?;
        eprintln!(
            "bench: closer: cold run {run}/{runs}: prefill {:.1} tok/s, decode {:.1} tok/s \
             ({} tokens)",
            s.prefill_tokens_per_s(),
            s.decode_tokens_per_s(),
            s.generated_tokens
        );
        cold.push(ColdRun {
            prompt_tokens: s.prompt_tokens,
            cached_tokens: s.cached_tokens,
            prefill_ms: s.prefill_ms,
            decode_ms: s.decode_ms,
            generated_tokens: s.generated_tokens,
            bandwidth_gb_s,
        });
    }
    let mut ttft_cold_ms = Vec::new();
    for run in 1..=runs {
        let (ms, _) = timed(request(prefix.clone(), 1, None))?;
        eprintln!("bench: closer: cold TTFT {run}/{runs}: {ms:.0} ms");
        ttft_cold_ms.push(ms);
    }
    // The conversation's KV goes into the prefix cache; each warm run adds a different message,
    // and its own prompt replaces the entry, so the next run shares only the conversation.
    const KEY: &str = "bench-conversation";
    timed(request(prefix.clone(), 1, Some(KEY)))?;
    let mut warm = Vec::new();
    for (run, messages) in prompts.warm_messages.iter().enumerate() {
        let (ms, s) = timed(request(messages.clone(), 1, Some(KEY)))?;
        eprintln!(
            "bench: closer: warm TTFT {}/{runs}: {ms:.0} ms ({} of {} prompt tokens cached)",
            run + 1,
            s.cached_tokens,
            s.prompt_tokens
        );
        warm.push(WarmRun { ms, prompt_tokens: s.prompt_tokens, cached_tokens: s.cached_tokens });
    }
    Ok(Samples { load_ms, cold, ttft_cold_ms, warm, peak_rss_bytes: 0 })
}

/// The script's input for `prompts`.
fn peer_input<'a>(
    mode: &'a str,
    path: &'a Path,
    prompts: &'a Prompts,
    runs: usize,
    new_tokens: usize,
    threads: usize,
) -> peer::PeerInput<'a> {
    let longest = prompts.warm_tokens.iter().copied().max().unwrap_or(0).max(prompts.prefix_tokens);
    peer::PeerInput {
        mode,
        model: path,
        threads,
        // Room for the longest prompt and the decoded tokens, in whole 256-token pages.
        n_ctx: (longest + new_tokens + 16).div_ceil(256) * 256,
        runs,
        new_tokens,
        warmup_prompt: &prompts.warm_up_text,
        prefix_prompt: &prompts.prefix_text,
        warm_prompts: &prompts.warm_texts,
        expected_prefix_tokens: prompts.prefix_tokens,
        expected_warm_tokens: &prompts.warm_tokens,
    }
}

/// Tokenizes the prompts with llama.cpp (vocabulary only, in seconds) before anything is timed:
/// a count that differs is an error; different ids of the same count are reported.
fn check_tokenization(
    python: &Path,
    path: &Path,
    prompts: &mut Prompts,
    threads: usize,
) -> Result<(), BenchError> {
    eprintln!("bench: llama.cpp: tokenizing the same prompts");
    let output = peer::run(python, &peer_input("tokenize", path, prompts, 1, 1, threads), true)?;
    compare_tokens(prompts, &output)?;
    eprintln!(
        "bench: prompt tokens: closer {} = llama.cpp {} (ids {}); warm prompts: {} = {}",
        prompts.prefix_tokens,
        output.prefix_ids.len(),
        if prompts.prefix_ids_equal == Some(true) { "identical" } else { "DIFFER" },
        join(prompts.warm_tokens.iter()),
        join(output.warm_prompt_tokens.iter()),
    );
    Ok(())
}

fn compare_tokens(prompts: &mut Prompts, output: &peer::PeerOutput) -> Result<(), BenchError> {
    prompts.prefix_tokens_llama_cpp = Some(output.prefix_ids.len());
    prompts.prefix_ids_equal = Some(output.prefix_ids == prompts.prefix_ids);
    prompts.warm_tokens_llama_cpp = Some(output.warm_prompt_tokens.clone());
    if output.prefix_ids.len() != prompts.prefix_tokens {
        return Err(BenchError::TokenCount {
            prompt: "conversation".into(),
            ours: prompts.prefix_tokens,
            peer: output.prefix_ids.len(),
        });
    }
    let pairs = prompts.warm_tokens.iter().zip(&output.warm_prompt_tokens);
    if let Some((run, (&ours, &peer))) = pairs.enumerate().find(|(_, (a, b))| a != b) {
        return Err(BenchError::TokenCount { prompt: format!("warm run {}", run + 1), ours, peer });
    }
    if output.warm_prompt_tokens.len() != prompts.warm_tokens.len() {
        return Err(BenchError::Peer {
            message: "it tokenized a different number of warm prompts".into(),
        });
    }
    if let Some(reason) = &output.aborted {
        return Err(BenchError::Peer { message: reason.clone() });
    }
    Ok(())
}

/// llama.cpp's measurements, with its prefix ids compared to Closer's.
fn run_peer(
    python: &Path,
    path: &Path,
    prompts: &Prompts,
    runs: usize,
    new_tokens: usize,
    threads: usize,
) -> Result<peer::PeerOutput, BenchError> {
    eprintln!("bench: llama.cpp: measuring (a child process, nothing else running)");
    let output =
        peer::run(python, &peer_input("measure", path, prompts, runs, new_tokens, threads), false)?;
    let mut check = prompts.clone();
    compare_tokens(&mut check, &output)?;
    if output.cold.len() != runs || output.warm.len() != runs || output.ttft_cold_ms.len() != runs {
        return Err(BenchError::Peer { message: "the script returned too few runs".into() });
    }
    Ok(output)
}

/// PASS / MISS against the targets of issue 3.
fn targets(closer: &Figures, peer: Option<&Figures>) -> Vec<Target> {
    let verdict = |ok: bool| if ok { Verdict::Pass } else { Verdict::Miss };
    let mut targets = Vec::new();
    match peer {
        Some(p) => {
            let ratio = ratio(closer.decode_tok_s, p.decode_tok_s);
            targets.push(Target {
                target: "decode ≥ 1.0× llama.cpp".into(),
                value: format!("{ratio:.2}×"),
                verdict: verdict(ratio >= 1.0),
            });
        }
        None => targets.push(Target {
            target: "decode ≥ 1.0× llama.cpp".into(),
            value: "peer skipped".into(),
            verdict: Verdict::NotMeasured,
        }),
    }
    // The roofline at each run's own moment where it was measured (the machine's bandwidth
    // moves between runs); the best bandwidth of the whole bench is reported beside it.
    let whole = Target {
        target: "decode ÷ roofline at the bench's best bandwidth".into(),
        value: format!("{:.0} %", closer.roofline_fraction * 100.0),
        verdict: verdict(closer.roofline_fraction >= 0.70),
    };
    match closer.roofline_fraction_paired {
        Some(paired) => {
            targets.push(Target {
                target: "decode ≥ 70 % of the roofline (bandwidth before each run)".into(),
                value: format!("{:.0} %", paired * 100.0),
                verdict: verdict(paired >= 0.70),
            });
            targets.push(Target { verdict: Verdict::Info, ..whole });
        }
        None => {
            targets.push(Target { target: "decode ≥ 70 % of the roofline".into(), ..whole });
        }
    }
    targets.push(Target {
        target: "warm-prefix TTFT p50 ≤ 1.0 s".into(),
        value: format!("{:.0} ms", closer.ttft_warm_ms_p50),
        verdict: verdict(closer.ttft_warm_ms_p50 <= 1000.0),
    });
    targets.push(Target {
        target: "peak RSS ≤ 1.5 GB".into(),
        value: format!("{:.0} MB", closer.peak_rss_bytes as f64 / 1e6),
        verdict: verdict(closer.peak_rss_bytes as f64 <= 1.5e9),
    });
    targets.push(match peer {
        Some(p) => Target {
            target: "prefill vs llama.cpp (reported)".into(),
            value: format!("{:.2}×", ratio(closer.prefill_tok_s, p.prefill_tok_s)),
            verdict: Verdict::Info,
        },
        None => Target {
            target: "prefill vs llama.cpp (reported)".into(),
            value: "peer skipped".into(),
            verdict: Verdict::NotMeasured,
        },
    });
    targets
}

fn ratio(ours: f64, peer: f64) -> f64 {
    if peer > 0.0 { ours / peer } else { 0.0 }
}

/// A table row: label, the figure, whether higher is better.
type Row = (&'static str, fn(&Figures) -> f64, bool);

fn print_report(r: &Report) {
    let w = &r.weights;
    println!("closer bench llm: {} ({}, {})", r.model_id, r.model_name, r.architecture);
    println!(
        "  file {} ({:.1} MB; {})",
        r.model_path.display(),
        w.file_bytes as f64 / 1e6,
        join(w.tensor_types.iter().map(|(t, n)| format!("{t} ×{n}")))
    );
    println!(
        "  machine: {}, {} cores, {:.1} GB; {}; at start: CPU {:.0} % busy, load {:.2}; \
         commit {}{}",
        r.machine.cpu_model,
        r.machine.cores,
        r.machine.memory_bytes as f64 / 1e9,
        r.machine.closer_cpu,
        r.machine.cpu_busy_at_start * 100.0,
        r.machine.load_average_at_start,
        r.machine.git_commit.as_deref().map_or("unknown", |c| c.get(..12).unwrap_or(c)),
        if r.machine.git_dirty == Some(true) { " (with local changes)" } else { "" }
    );
    let p = &r.prompts;
    println!(
        "  prompt: {} tokens (target {}), llama.cpp {}{}; warm runs add {} tokens; {} threads, \
         {} runs, {} new tokens",
        p.prefix_tokens,
        p.prefix_tokens_target,
        p.prefix_tokens_llama_cpp.map_or("not run".into(), |n| n.to_string()),
        match p.prefix_ids_equal {
            Some(true) => " (identical ids)",
            Some(false) => " (same count, different ids)",
            None => "",
        },
        join(p.warm_tokens.iter().map(|n| n - p.prefix_tokens)),
        r.threads,
        r.runs,
        r.new_tokens
    );
    println!();
    println!("{:<34} {:>11} {:>11} {:>8}  better", "figure", "closer", "llama.cpp", "ratio");
    let rows: [Row; 8] = [
        ("load (ms)", |f| f.load_ms, false),
        ("prefill, cold (tok/s)", |f| f.prefill_tok_s, true),
        ("decode, greedy (tok/s)", |f| f.decode_tok_s, true),
        ("TTFT cold p50 (ms)", |f| f.ttft_cold_ms_p50, false),
        ("TTFT warm prefix p50 (ms)", |f| f.ttft_warm_ms_p50, false),
        ("TTFT warm prefix p90 (ms)", |f| f.ttft_warm_ms_p90, false),
        ("peak RSS (MB)", |f| f.peak_rss_bytes as f64 / 1e6, false),
        ("decode ÷ roofline (%)", |f| f.roofline_fraction * 100.0, true),
    ];
    for (label, value, higher) in rows {
        let ours = value(&r.closer);
        let (theirs, ratio) = match &r.llama_cpp {
            Some(peer) => {
                let theirs = value(peer);
                (format!("{theirs:.1}"), format!("{:.2}", ratio(ours, theirs)))
            }
            None => ("-".into(), "-".into()),
        };
        let better = if higher { "higher" } else { "lower" };
        println!("{label:<34} {ours:>11.1} {theirs:>11} {ratio:>8}  {better}");
    }
    let warm_new =
        |f: &Figures| join(f.samples.warm.iter().map(|w| w.prompt_tokens - w.cached_tokens));
    println!(
        "  warm runs prefilled {} tokens (closer){}",
        warm_new(&r.closer),
        r.llama_cpp.as_ref().map_or(String::new(), |p| format!(", {} (llama.cpp)", warm_new(p)))
    );
    let generated = |f: &Figures| join(f.samples.cold.iter().map(|c| c.generated_tokens));
    println!(
        "  decoded {} tokens per cold run (closer){}",
        generated(&r.closer),
        r.llama_cpp.as_ref().map_or(String::new(), |p| format!(", {} (llama.cpp)", generated(p)))
    );
    let roof = &r.roofline;
    println!();
    println!(
        "roofline: {:.1} GB/s ({} MiB summed by {} threads, best of {}) ÷ {:.1} MB of weights \
         per token = {:.1} tok/s",
        roof.bandwidth.bytes_per_s / 1e9,
        roof.bandwidth.buffer_bytes >> 20,
        roof.bandwidth.threads,
        roof.bandwidth.passes_gb_s.len(),
        roof.bytes_per_token as f64 / 1e6,
        roof.tokens_per_s
    );
    println!(
        "  weights counted: {} tensors' bytes {:.1} MB{}; KV read per token at this prompt: \
         {:.1} MB in f32 (not counted)",
        if w.tied_embeddings {
            "all (tied embeddings: the table is the output matrix)"
        } else {
            "all but token_embd"
        },
        w.tensor_bytes as f64 / 1e6,
        if w.tied_embeddings {
            String::new()
        } else {
            format!(", token_embd {:.1} MB excluded", w.token_embedding_bytes as f64 / 1e6)
        },
        roof.kv_bytes_per_token_f32 as f64 / 1e6
    );
    let paired: Vec<(f64, f64)> =
        paired_fractions(&r.closer.samples.cold, roof.bytes_per_token).collect();
    if let Some(median) = r.closer.roofline_fraction_paired {
        println!(
            "  closer's cold runs: bandwidth just before each {} GB/s; decode ÷ that run's \
             roofline {} %; median {:.1} %",
            join(paired.iter().map(|(g, _)| format!("{g:.1}"))),
            join(paired.iter().map(|(_, f)| format!("{:.1}", f * 100.0))),
            median * 100.0
        );
    }
    println!();
    println!("targets");
    for t in &r.targets {
        let verdict = match t.verdict {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "INFO",
            Verdict::NotMeasured => "N/A ",
        };
        println!("  {verdict}  {:<36} {}", t.target, t.value);
    }
}

fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.9), 5.0);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
