//! `closer eval …`: the NLU's evaluation harness. Each command trains what it measures from a
//! training file (so the numbers are for a head that never saw the test file), scores it on the
//! test file and prints a table, or one JSON object with `--json`.
//!
//! Formats (JSONL, one object per line):
//! - `eval nlu`: `{"text": "...", "labels": ["a", "b"], "lang": "zh"}` (`lang` optional; when
//!   present, scores are also given per language);
//! - `eval sentiment`: `{"text": "...", "label": "hesitant", "lang": "en"}`;
//! - `eval fields`: `{"text": "...", "now": "2026-11-21T10:00:00+08:00", "entities":
//!   [{"kind": "phone", "value": "13812345678"}]}` (see nlu/data/README.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use closer_nlu::NluError;
use closer_nlu::data::{self, IntentLine, SentimentLine};
use closer_nlu::encoder::tune::{self, TuneOptions};
use closer_nlu::encoder::{Encoder, Pooling};
use closer_nlu::eval::{LabelScore, MultiLabelScores};
use closer_nlu::head::{Head, TrainOptions};
use closer_nlu::train::{self, Featurizer, Latency};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Models directory (default: $CLOSER_MODELS_DIR, else ~/.cache/closer/models).
    #[arg(long, global = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: EvalCommand,
}

#[derive(Debug, Args)]
struct HeadArgs {
    /// Training set (JSONL).
    #[arg(long, value_name = "TRAIN.jsonl")]
    train: PathBuf,
    /// Test set (JSONL).
    #[arg(long, value_name = "TEST.jsonl")]
    test: PathBuf,
    /// Encoder id (`closer models list`), or `none` for n-gram features only.
    #[arg(long, default_value = "multilingual-e5-small")]
    encoder: String,
    /// Width of the head's hidden layer (0: linear).
    #[arg(long)]
    hidden: Option<usize>,
    /// Training epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Weight of the (standardised) embedding against the n-grams (default: chosen on a
    /// held-out tenth of the training set).
    #[arg(long)]
    dense_scale: Option<f32>,
    /// AdaGrad learning rate.
    #[arg(long)]
    learning_rate: Option<f32>,
    /// How the encoder's token states are pooled: `sentence` (the sentence embedding) or parts
    /// like `mean12+mean9` (default: the app's, `mean12+mean9` on e5-small).
    #[arg(long)]
    pooling: Option<String>,
    /// Weight of the nearest training examples' vote (default: chosen on held-out blocks of the
    /// training set; 0 turns it off).
    #[arg(long)]
    knn_weight: Option<f32>,
    /// Messages timed one by one, uncached, for the latency figures.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Also list the first N misclassified test messages.
    #[arg(long, default_value_t = 0)]
    show_errors: usize,
    /// Use the encoder as published (the app's). By default `eval nlu` fine-tunes its upper
    /// layers for the training set's intents first (minutes, cached in the models directory);
    /// `eval sentiment` always uses the encoder as published, as the app does.
    #[arg(long)]
    no_tune: bool,
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// Multi-label intents: micro/macro F1, subset accuracy, per-label precision and recall,
    /// latency per message.
    Nlu(HeadArgs),
    /// Sentiment (single label): accuracy, macro F1, per-label scores, confusion matrix.
    Sentiment(HeadArgs),
    /// Rule-based lead fields and entities: precision and recall per kind.
    Fields {
        /// Labelled set (JSONL).
        #[arg(long, value_name = "TEST.jsonl")]
        test: PathBuf,
        #[arg(long)]
        json: bool,
        /// Also list the first N disagreements.
        #[arg(long, default_value_t = 0)]
        show_errors: usize,
    },
    /// Scripted dialogues through NLU, tracker and policy: completion rate, joint state accuracy
    /// per turn, per-slot accuracies, mismatches.
    Dialogues(crate::eval_dialogues::DialoguesArgs),
}

pub fn main(args: EvalArgs) -> ExitCode {
    let models_dir = args.models_dir.unwrap_or_else(closer_app::default_models_dir);
    let result = match args.command {
        EvalCommand::Nlu(head) => intents(&models_dir, &head),
        EvalCommand::Sentiment(head) => sentiment(&models_dir, &head),
        EvalCommand::Fields { test, json, show_errors } => fields(&test, json, show_errors),
        EvalCommand::Dialogues(dialogues) => {
            return crate::eval_dialogues::main(&models_dir, dialogues);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Where embeddings are cached between runs.
fn cache_dir(models_dir: &Path) -> PathBuf {
    models_dir.join("embedding-cache")
}

fn load_encoder(models_dir: &Path, id: &str) -> Result<Option<Encoder>, NluError> {
    if id == train::NO_ENCODER {
        return Ok(None);
    }
    Encoder::load(models_dir, id).map(Some)
}

fn options(args: &HeadArgs) -> TrainOptions {
    let mut options = TrainOptions::default();
    if let Some(h) = args.hidden {
        options.hidden = h;
    }
    if let Some(e) = args.epochs {
        options.epochs = e;
    }
    if let Some(s) = args.dense_scale {
        options.dense_scale = s;
        options.dense_scale_grid.clear();
    }
    if let Some(r) = args.learning_rate {
        options.learning_rate = r;
    }
    if let Some(w) = args.knn_weight {
        options.knn_weight_grid = vec![w];
    }
    options
}

/// The featurizer of `args`: its encoder, pooled as asked (or the app's default).
fn featurizer<'e>(
    models_dir: &Path,
    encoder: Option<&'e Encoder>,
    args: &HeadArgs,
) -> Result<Featurizer<'e>, NluError> {
    let cache = cache_dir(models_dir);
    match &args.pooling {
        Some(p) => Featurizer::with_pooling(encoder, Pooling::parse(p)?, Some(&cache)),
        None => Featurizer::new(encoder, Some(&cache)),
    }
}

/// A progress bar on stderr for embedding a set (hidden when stderr is not a terminal).
fn bar(what: &'static str) -> impl FnMut(usize, usize) {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    move |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if done == total {
            bar.finish_and_clear();
        }
    }
}

fn intents(models_dir: &Path, args: &HeadArgs) -> Result<(), NluError> {
    let train_lines: Vec<IntentLine> = data::read_jsonl(&args.train)?;
    let test_lines: Vec<IntentLine> = data::read_jsonl(&args.test)?;
    let encoder = match load_encoder(models_dir, &args.encoder)? {
        Some(e) if !args.no_tune => Some(tune::tuned_for_intents(
            e,
            models_dir,
            &train_lines,
            &TuneOptions::default(),
            &mut bar("tune"),
        )?),
        e => e,
    };
    let mut featurizer = featurizer(models_dir, encoder.as_ref(), args)?;
    let started = std::time::Instant::now();
    let head =
        train::train_intents(&mut featurizer, &train_lines, &options(args), &mut bar("train"))?;
    let train_secs = started.elapsed().as_secs_f64();
    let all = train::score_intents(&head, &mut featurizer, &test_lines, &mut bar("test"))?;
    let by_lang = by_language(
        &test_lines,
        |l| l.lang.as_deref(),
        |lines| train::score_intents(&head, &mut featurizer, lines, &mut |_, _| {}),
    )?;
    let texts: Vec<&str> = test_lines.iter().map(|l| l.text.as_str()).collect();
    let latency = head_latency(&head, &featurizer, &texts, args.latency_samples)?;
    if args.json {
        let mut out = json!({
            "micro_f1": all.micro_f1,
            "macro_f1": all.macro_f1,
            "subset_accuracy": all.subset_accuracy,
            "p50_ms": latency.p50_ms,
            "p95_ms": latency.p95_ms,
            "n_test": all.n,
            "n_train": train_lines.len(),
            "encoder": head.info.encoder,
            "pooling": head.info.pooling,
            "knn_weight": head.info.knn_weight,
            "train_secs": train_secs,
            "per_label": all.per_label,
        });
        for (lang, s) in &by_lang {
            out[*lang] = json!({
                "micro_f1": s.micro_f1, "macro_f1": s.macro_f1,
                "subset_accuracy": s.subset_accuracy, "n_test": s.n,
            });
        }
        println!("{out}");
        return Ok(());
    }
    println!(
        "intents: {} train / {} test messages, {} labels, encoder {} ({}, neighbour weight {}), head trained in {train_secs:.1} s",
        train_lines.len(),
        all.n,
        head.info.labels.len(),
        head.info.encoder,
        head.info.pooling,
        head.info.knn_weight
    );
    print_scores("all", &all);
    for (lang, s) in &by_lang {
        print_scores(lang, s);
    }
    print_labels(&all.per_label);
    print_latency(&latency);
    if args.show_errors > 0 {
        let mut shown = 0;
        for line in &test_lines {
            let (dense, sparse) = featurizer.one(&line.text)?;
            let mut predicted: Vec<String> = head
                .decide(&head.predict(&dense, &sparse))
                .into_iter()
                .map(|(l, _)| head.info.labels[l].clone())
                .collect();
            predicted.sort();
            let mut gold = line.labels.clone();
            gold.sort();
            if predicted != gold {
                println!("  {} | gold {gold:?} | predicted {predicted:?}", line.text);
                shown += 1;
                if shown >= args.show_errors {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Scores of each language's lines, when the set has more than one language.
fn by_language<L: Clone, S>(
    lines: &[L],
    lang: impl Fn(&L) -> Option<&str>,
    mut score: impl FnMut(&[L]) -> Result<S, NluError>,
) -> Result<Vec<(&'static str, S)>, NluError> {
    let mut out = Vec::new();
    for name in ["zh", "en"] {
        let subset: Vec<L> = lines.iter().filter(|l| lang(l) == Some(name)).cloned().collect();
        if !subset.is_empty() && subset.len() < lines.len() {
            out.push((name, score(&subset)?));
        }
    }
    Ok(out)
}

/// Per-message latency of embedding one text and running the head on it, uncached.
fn head_latency(
    head: &Head,
    featurizer: &Featurizer<'_>,
    texts: &[&str],
    samples: usize,
) -> Result<Latency, NluError> {
    train::latency(texts, samples, |text| {
        let (dense, sparse) = featurizer.one(text)?;
        head.decide(&head.predict(&dense, &sparse));
        Ok(())
    })
}

fn print_scores(name: &str, s: &MultiLabelScores) {
    println!(
        "{name:>4}: n {:>5}  micro-F1 {:.4}  macro-F1 {:.4}  subset accuracy {:.4}",
        s.n, s.micro_f1, s.macro_f1, s.subset_accuracy
    );
}

fn print_labels(labels: &[LabelScore]) {
    println!("{:<24} {:>7} {:>9} {:>7} {:>7}", "label", "support", "precision", "recall", "F1");
    for l in labels {
        println!(
            "{:<24} {:>7} {:>9.3} {:>7.3} {:>7.3}",
            l.label, l.support, l.precision, l.recall, l.f1
        );
    }
}

fn print_latency(latency: &Latency) {
    println!(
        "latency per message (embedding + head, uncached, {} messages): p50 {:.2} ms, p95 {:.2} ms",
        latency.samples, latency.p50_ms, latency.p95_ms
    );
}

fn sentiment(models_dir: &Path, args: &HeadArgs) -> Result<(), NluError> {
    let train_lines: Vec<SentimentLine> = data::read_jsonl(&args.train)?;
    let test_lines: Vec<SentimentLine> = data::read_jsonl(&args.test)?;
    // The encoder the app runs: as published (see `app::nlu`).
    let encoder = load_encoder(models_dir, &args.encoder)?;
    let mut featurizer = featurizer(models_dir, encoder.as_ref(), args)?;
    let head =
        train::train_sentiment(&mut featurizer, &train_lines, &options(args), &mut bar("train"))?;
    let all = train::score_sentiment(&head, &mut featurizer, &test_lines, &mut bar("test"))?;
    let by_lang = by_language(
        &test_lines,
        |l| l.lang.as_deref(),
        |lines| train::score_sentiment(&head, &mut featurizer, lines, &mut |_, _| {}),
    )?;
    let texts: Vec<&str> = test_lines.iter().map(|l| l.text.as_str()).collect();
    let latency = head_latency(&head, &featurizer, &texts, args.latency_samples)?;
    if args.json {
        let mut out = json!({
            "accuracy": all.accuracy,
            "macro_f1": all.macro_f1,
            "n_test": all.n,
            "n_train": train_lines.len(),
            "p50_ms": latency.p50_ms,
            "p95_ms": latency.p95_ms,
            "encoder": head.info.encoder,
            "labels": head.info.labels,
            "per_label": all.per_label,
            "confusion": all.confusion,
        });
        for (lang, s) in &by_lang {
            out[*lang] = json!({"accuracy": s.accuracy, "macro_f1": s.macro_f1, "n_test": s.n});
        }
        println!("{out}");
        return Ok(());
    }
    println!(
        "sentiment: {} train / {} test messages, encoder {}",
        train_lines.len(),
        all.n,
        head.info.encoder
    );
    println!(" all: accuracy {:.4}  macro-F1 {:.4}", all.accuracy, all.macro_f1);
    for (lang, s) in &by_lang {
        println!("{lang:>4}: accuracy {:.4}  macro-F1 {:.4}  (n {})", s.accuracy, s.macro_f1, s.n);
    }
    print_labels(&all.per_label);
    println!("confusion (rows gold, columns predicted: {}):", head.info.labels.join(" "));
    for (label, row) in head.info.labels.iter().zip(&all.confusion) {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>5}")).collect();
        println!("{label:<10}{}", cells.join(""));
    }
    print_latency(&latency);
    if args.show_errors > 0 {
        let mut shown = 0;
        for line in &test_lines {
            let (dense, sparse) = featurizer.one(&line.text)?;
            let probs = head.predict(&dense, &sparse);
            let predicted = head.decide(&probs).first().map(|&(l, _)| head.info.labels[l].clone());
            if predicted.as_deref() != Some(line.label.as_str()) {
                println!("  {} | gold {} | predicted {predicted:?}", line.text, line.label);
                shown += 1;
                if shown >= args.show_errors {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn fields(test: &Path, json: bool, show_errors: usize) -> Result<(), NluError> {
    let cases = closer_nlu::entities::read_cases(test)?;
    let started = std::time::Instant::now();
    let report = closer_nlu::entities::evaluate(&cases);
    let per_message_ms = started.elapsed().as_secs_f64() * 1000.0 / cases.len().max(1) as f64;
    if json {
        let out = json!({
            "cases": report.cases,
            "micro": report.micro,
            "kinds": report.kinds,
            "mean_ms_per_message": per_message_ms,
            "errors": report.errors.len(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("fields: {} labelled messages, {per_message_ms:.3} ms per message", report.cases);
    println!("{:<12} {:>7} {:>9} {:>7} {:>7}", "kind", "support", "precision", "recall", "F1");
    for k in &report.kinds {
        println!(
            "{:<12} {:>7} {:>9.3} {:>7.3} {:>7.3}",
            k.kind.as_str(),
            k.score.support(),
            k.score.precision,
            k.score.recall,
            k.score.f1
        );
    }
    let m = &report.micro;
    println!(
        "{:<12} {:>7} {:>9.3} {:>7.3} {:>7.3}",
        "all",
        m.support(),
        m.precision,
        m.recall,
        m.f1
    );
    for e in report.errors.iter().take(show_errors) {
        println!(
            "  line {} {:?} {} {:?} in {:?}",
            e.line,
            e.error,
            e.kind.as_str(),
            e.value,
            e.found_text.as_deref().unwrap_or(&e.message)
        );
    }
    Ok(())
}
