//! `closer bench encoder`: a sentence encoder's latency on chat messages, the figure the NLU's
//! per-message budget rests on (the whole NLU, encoder + heads + rules, must stay under 15 ms p50
//! on 2 cores, so the encoder gets about 10 ms).
//!
//! Definitions:
//! - *single*: `Encoder::embed(&[message])` for one message at a time, tokenization, forward pass
//!   and pooling included, over a fixed list of Chinese and English customer messages (10–40
//!   tokens each), `--runs` passes after one untimed pass;
//! - *batch*: the whole list in one `embed` call (padded, shortest first), texts per second;
//! - *load*: `Encoder::load`, files read, weights laid out, one warm-up call.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use closer_nlu::NluError;
use closer_nlu::encoder::{Encoder, catalog};
use serde::Serialize;

use super::machine::MachineFacts;
use super::percentile;

/// The encoder's latency target for one message, p50, on 2 cores.
const TARGET_P50_MS: f64 = 10.0;

/// The messages: typical customer chat, half Chinese, half English.
const MESSAGES: &[(&str, &str)] = &[
    ("zh", "你好，请问这款扫地机器人多少钱？"),
    ("zh", "有没有优惠活动？我想一次买两台。"),
    ("zh", "我们公司大概五十人，预算两万左右，想下周约个演示。"),
    ("zh", "发货要多久？能开增值税专用发票吗？"),
    ("zh", "太贵了，别家同款便宜三百块。"),
    ("zh", "我的订单到现在还没收到，已经一个星期了，怎么回事？"),
    ("zh", "可以帮我转人工客服吗？"),
    ("zh", "好的，谢谢，我再考虑一下。"),
    ("en", "Hi, how much is the premium plan per seat?"),
    ("en", "Do you offer a free trial for teams?"),
    ("en", "We're about fifty people with a budget of around 20k, could we book a demo next week?"),
    ("en", "How long does shipping to Singapore take?"),
    ("en", "That's too expensive, your competitor is 30% cheaper."),
    ("en", "My order still hasn't arrived after a week, what's going on?"),
    ("en", "Can I talk to a real person please?"),
    ("en", "Thanks, I'll think about it and get back to you."),
];

#[derive(Debug, Args)]
pub struct EncoderBenchArgs {
    /// An installed encoder (see `closer models list`); default: the NLU's default encoder.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Print the whole report as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// Timed passes over the message list.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    runs: u16,
    /// Models directory (default: $CLOSER_MODELS_DIR, else ~/.cache/closer/models).
    #[arg(long, value_name = "DIR")]
    models_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
struct Message {
    language: &'static str,
    text: &'static str,
    tokens: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Latency {
    p50_ms: f64,
    p95_ms: f64,
    mean_ms: f64,
    samples: usize,
}

impl Latency {
    fn of(samples: &[f64]) -> Self {
        let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
        Self {
            p50_ms: percentile(samples, 0.5),
            p95_ms: percentile(samples, 0.95),
            mean_ms: mean,
            samples: samples.len(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Batch {
    texts: usize,
    /// Median over the runs.
    ms: f64,
    texts_per_s: f64,
}

/// The whole report (`--json`).
#[derive(Debug, Clone, Serialize)]
struct Report {
    encoder: String,
    dim: usize,
    max_tokens: usize,
    /// How the linear layers multiply on this CPU (`CLOSER_ENCODER_KERNELS` overrides).
    kernels: String,
    /// candle's compute threads (`RAYON_NUM_THREADS`, else the cores).
    threads: usize,
    machine: MachineFacts,
    load_ms: f64,
    /// `VmHWM` of this process after the runs: the encoder, its tokenizer and the batches.
    peak_rss_bytes: u64,
    runs: usize,
    messages: Vec<Message>,
    mean_tokens: f64,
    single: Latency,
    single_zh: Latency,
    single_en: Latency,
    batch: Batch,
    target_p50_ms: f64,
    meets_target: bool,
}

/// Runs `bench encoder`; errors print as `error [code]: message` and exit with 2.
pub fn main(args: EncoderBenchArgs) -> ExitCode {
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = match &e {
                NluError::EncoderNotInstalled { .. } => "not_installed",
                NluError::UnknownEncoder(_) => "unknown_model",
                _ => "encoder",
            };
            eprintln!("error [{code}]: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench(args: &EncoderBenchArgs) -> Result<(), NluError> {
    let id = args.id.clone().unwrap_or_else(|| catalog::catalog().default.clone());
    let dir = args.models_dir.clone().unwrap_or_else(closer_llm::catalog::models_dir);
    let runs = usize::from(args.runs);
    let machine = MachineFacts::read();
    if machine.cpu_busy_at_start > 0.15 {
        eprintln!(
            "bench: warning: {:.0} % of the CPU was busy with other work just now (load average \
             {:.2}); the figures will be high",
            machine.cpu_busy_at_start * 100.0,
            machine.load_average_at_start
        );
    }
    let started = Instant::now();
    let encoder = Encoder::load(&dir, &id)?;
    let load_ms = ms(started);
    eprintln!("bench: loaded {id} in {load_ms:.0} ms ({})", encoder.kernels().name());

    let messages = MESSAGES
        .iter()
        .map(|&(language, text)| Ok(Message { language, text, tokens: encoder.token_count(text)? }))
        .collect::<Result<Vec<_>, NluError>>()?;
    for message in &messages {
        encoder.embed(&[message.text])?;
    }
    let (mut all, mut zh, mut en) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        for message in &messages {
            let started = Instant::now();
            encoder.embed(&[message.text])?;
            let took = ms(started);
            all.push(took);
            if message.language == "zh" { &mut zh } else { &mut en }.push(took);
        }
    }
    let texts: Vec<&str> = messages.iter().map(|m| m.text).collect();
    let mut batch_ms = Vec::new();
    for _ in 0..runs.min(20) {
        let started = Instant::now();
        encoder.embed(&texts)?;
        batch_ms.push(ms(started));
    }
    let batch_median = percentile(&batch_ms, 0.5);
    let single = Latency::of(&all);
    let report = Report {
        encoder: id,
        dim: encoder.dim(),
        max_tokens: encoder.max_tokens(),
        kernels: encoder.kernels().name().to_owned(),
        threads: candle_core::utils::get_num_threads(),
        machine,
        load_ms,
        peak_rss_bytes: super::machine::peak_rss_bytes(),
        runs,
        mean_tokens: messages.iter().map(|m| m.tokens as f64).sum::<f64>() / messages.len() as f64,
        messages,
        single_zh: Latency::of(&zh),
        single_en: Latency::of(&en),
        batch: Batch {
            texts: texts.len(),
            ms: batch_median,
            texts_per_s: texts.len() as f64 * 1000.0 / batch_median.max(1e-9),
        },
        meets_target: single.p50_ms <= TARGET_P50_MS,
        single,
        target_p50_ms: TARGET_P50_MS,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        println!("{text}");
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &Report) {
    println!("encoder:   {} (dim {}, ≤ {} tokens)", r.encoder, r.dim, r.max_tokens);
    println!("kernels:   {}, {} threads", r.kernels, r.threads);
    println!(
        "cpu:       {} ({} cores; {})",
        r.machine.cpu_model, r.machine.cores, r.machine.closer_cpu
    );
    println!(
        "load:      {:.0} ms; peak RSS {:.0} MiB",
        r.load_ms,
        r.peak_rss_bytes as f64 / f64::from(1 << 20)
    );
    let tokens: Vec<String> = r.messages.iter().map(|m| m.tokens.to_string()).collect();
    println!(
        "messages:  {} (zh + en), {:.1} tokens on average [{}]",
        r.messages.len(),
        r.mean_tokens,
        tokens.join(" ")
    );
    let line = |name: &str, l: &Latency| {
        println!(
            "{name:<10} p50 {:6.2} ms   p95 {:6.2} ms   mean {:6.2} ms   ({} calls)",
            l.p50_ms, l.p95_ms, l.mean_ms, l.samples
        );
    };
    line("single:", &r.single);
    line("  zh:", &r.single_zh);
    line("  en:", &r.single_en);
    println!(
        "batch:     {} texts in {:.1} ms, {:.0} texts/s",
        r.batch.texts, r.batch.ms, r.batch.texts_per_s
    );
    let verdict = if r.meets_target { "pass" } else { "MISS" };
    println!("target:    single p50 ≤ {:.0} ms: {verdict}", r.target_p50_ms);
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
