//! `closer bench nlu`: the whole NLU on one message as the app runs it — encoder, intent and
//! sentiment heads, entity rules and lead-field proposals — through `Api::analyze_message`, on
//! the held-out sales messages (Chinese and English), one at a time, nothing cached.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use closer_app::args::AnalyzeMessageArgs;
use closer_app::{Api, DataDir, Options};
use closer_nlu::data::{BUNDLED_SALES_TEST, IntentLine, parse_jsonl};
use closer_nlu::eval::percentile;
use serde_json::json;

#[derive(Debug, Args)]
pub struct NluBenchArgs {
    /// Messages timed per language.
    #[arg(long, default_value_t = 150)]
    samples: usize,
    /// Models directory (default: $CLOSER_MODELS_DIR, else ~/.cache/closer/models).
    #[arg(long, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn main(args: NluBenchArgs) -> ExitCode {
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &NluBenchArgs) -> Result<(), String> {
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let api = Api::open(Options {
        data_dir: DataDir::resolve(Some(data.path().to_path_buf())),
        seed_demo: false,
        clock: closer_app::system_clock,
        models_dir: args.models_dir.clone().unwrap_or_else(closer_app::default_models_dir),
    })
    .map_err(|e| e.message)?;
    let started = Instant::now();
    api.wait_for_nlu(Duration::from_secs(1800)).map_err(|e| e.message)?;
    let load_secs = started.elapsed().as_secs_f64();
    let lines: Vec<IntentLine> =
        parse_jsonl(std::path::Path::new("sales/test.jsonl"), BUNDLED_SALES_TEST)
            .map_err(|e| e.to_string())?;
    let mut out =
        json!({ "load_secs": load_secs, "threads": candle_core::utils::get_num_threads() });
    let mut all = Vec::new();
    for lang in ["zh", "en"] {
        let texts: Vec<&str> = lines
            .iter()
            .filter(|l| l.lang.as_deref() == Some(lang))
            .map(|l| l.text.as_str())
            .take(args.samples)
            .collect();
        // One untimed call warms the regexes and the allocator.
        if let Some(first) = texts.first() {
            api.analyze_message(AnalyzeMessageArgs { text: (*first).to_owned() })
                .map_err(|e| e.message)?;
        }
        let mut ms = Vec::with_capacity(texts.len());
        for text in &texts {
            let t = Instant::now();
            api.analyze_message(AnalyzeMessageArgs { text: (*text).to_owned() })
                .map_err(|e| e.message)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out[lang] = json!({
            "n": ms.len(), "p50_ms": percentile(&ms, 0.5), "p95_ms": percentile(&ms, 0.95),
        });
        all.extend(ms);
    }
    out["p50_ms"] = json!(percentile(&all, 0.5));
    out["p95_ms"] = json!(percentile(&all, 0.95));
    if args.json {
        println!("{out}");
    } else {
        println!(
            "NLU per message (intents + sentiment + entities + fields), {load_secs:.1} s to load"
        );
        for key in ["zh", "en"] {
            println!(
                "  {key}: n {}  p50 {:.2} ms  p95 {:.2} ms",
                out[key]["n"],
                out[key]["p50_ms"].as_f64().unwrap_or(0.0),
                out[key]["p95_ms"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "  all: p50 {:.2} ms  p95 {:.2} ms (target p50 ≤ 15 ms)",
            out["p50_ms"].as_f64().unwrap_or(0.0),
            out["p95_ms"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
