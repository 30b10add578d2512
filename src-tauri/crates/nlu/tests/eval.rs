//! The evaluation harness on real data, as regression tests: a head is trained on each training
//! set with the real multilingual-e5-small encoder and scored on the held-out test set.
//!
//! The acceptance targets of issue 4 are macro-F1 ≥ 0.92 (CrossWOZ act+domain; the sales set in
//! each language) and sentiment accuracy ≥ 0.90. The encoder's upper layers are fine-tuned for
//! the sales training set first (cached in `<models dir>/tuned`: minutes once, then seconds);
//! CrossWOZ, on which tuning did not help, reads the encoder as published.
//! The sentiment head meets its target and is held to it; the intent heads do not reach theirs
//! (see ARCHITECTURE.md, "NLU accuracy"); the floors below are the figures measured when this test was
//! written, minus a small margin, so that a change that makes the NLU worse fails here. Raise them
//! as the NLU improves.
//!
//! Needs the encoder (`closer models fetch multilingual-e5-small`) and, for CrossWOZ, the
//! converted dataset (`closer data fetch crosswoz`); `.ci/test` runs both. Embeddings are cached
//! in `<models dir>/embedding-cache`, so only a cold run pays for embedding the 40k CrossWOZ
//! utterances.

use std::path::{Path, PathBuf};

use closer_nlu::data::{self, IntentLine, SentimentLine};
use closer_nlu::encoder::Encoder;
use closer_nlu::encoder::tune::{self, TuneOptions};
use closer_nlu::head::TrainOptions;
use closer_nlu::train::{self, Featurizer};

const ENCODER: &str = "multilingual-e5-small";

fn models_dir() -> PathBuf {
    std::env::var_os("CLOSER_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_home().join(".cache").join("closer").join("models"))
}

fn datasets_dir() -> PathBuf {
    std::env::var_os("CLOSER_DATASETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_home().join(".cache").join("closer").join("datasets"))
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"))
}

fn encoder() -> Encoder {
    Encoder::load(&models_dir(), ENCODER).unwrap_or_else(|e| {
        panic!("{e}: run `closer models fetch {ENCODER}` first (the CI test command does)")
    })
}

fn set(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
}

/// Trains a head on `train` and scores it on `test`, overall and per language; with `tuned`, the
/// encoder's upper layers are first tuned for the training set (cached in the models directory),
/// else the encoder is the one the app runs.
fn intents_by_language(train: &Path, test: &Path, tuned: bool) -> Vec<(String, f64, f64)> {
    let train: Vec<IntentLine> = data::read_jsonl(train).expect("train set");
    let test: Vec<IntentLine> = data::read_jsonl(test).expect("test set");
    let encoder = if tuned {
        tune::tuned_for_intents(
            encoder(),
            &models_dir(),
            &train,
            &TuneOptions::default(),
            &mut |_, _| {},
        )
        .expect("tune")
    } else {
        encoder()
    };
    let mut featurizer =
        Featurizer::new(Some(&encoder), Some(&models_dir().join("embedding-cache")))
            .expect("cache");
    let head =
        train::train_intents(&mut featurizer, &train, &TrainOptions::default(), &mut |_, _| {})
            .expect("train");
    let mut out = Vec::new();
    for lang in [None, Some("zh"), Some("en")] {
        let lines: Vec<IntentLine> =
            test.iter().filter(|l| lang.is_none() || l.lang.as_deref() == lang).cloned().collect();
        if lines.is_empty() {
            continue;
        }
        let s =
            train::score_intents(&head, &mut featurizer, &lines, &mut |_, _| {}).expect("score");
        let name = lang.unwrap_or("all").to_owned();
        eprintln!(
            "{name}: n {} micro-F1 {:.4} macro-F1 {:.4} subset accuracy {:.4}",
            s.n, s.micro_f1, s.macro_f1, s.subset_accuracy
        );
        out.push((name, s.macro_f1, s.micro_f1));
    }
    out
}

#[test]
fn sales_set_intents_per_language() {
    let scores = intents_by_language(&set("sales/train.jsonl"), &set("sales/test.jsonl"), true);
    // Measured 2026-11-21 (layers 10-12 fine-tuned on the training set, mean12+mean9 pooling,
    // neighbour vote, 3,471 training lines): zh macro-F1 0.890, en 0.857 (frozen encoder: 0.874,
    // 0.830; target 0.92, not met). The floors catch a regression.
    for (lang, floor) in [("zh", 0.86), ("en", 0.83)] {
        let (_, macro_f1, _) = scores.iter().find(|s| s.0 == lang).expect("language scored");
        assert!(*macro_f1 >= floor, "{lang} macro-F1 {macro_f1:.4} fell below {floor}");
    }
}

#[test]
fn crosswoz_act_and_domain() {
    let dir = datasets_dir().join("crosswoz");
    let (train, test) = (dir.join("train.jsonl"), dir.join("test.jsonl"));
    assert!(
        train.exists() && test.exists(),
        "{} has no converted CrossWOZ: run `closer data fetch crosswoz` first",
        dir.display()
    );
    // The encoder as published (the app's): tuning it on a 6,000-line sample of the training set
    // made CrossWOZ worse (macro-F1 0.892, micro 0.903; its test holds unseen act combinations),
    // and cost a cold CI run over half an hour on 2 cores.
    let scores = intents_by_language(&train, &test, false);
    let (_, macro_f1, micro_f1) = scores.first().expect("scored");
    // Measured 2026-11-21 with e5-small as published (mean12+mean9) + n-grams + neighbour vote:
    // macro-F1 0.902, micro 0.910 (target 0.92, not met).
    assert!(*macro_f1 >= 0.89, "macro-F1 {macro_f1:.4}");
    assert!(*micro_f1 >= 0.90, "micro-F1 {micro_f1:.4}");
}

#[test]
fn sentiment_accuracy() {
    let train: Vec<SentimentLine> = data::read_jsonl(&set("sentiment/train.jsonl")).expect("train");
    let test: Vec<SentimentLine> = data::read_jsonl(&set("sentiment/test.jsonl")).expect("test");
    // The encoder the app runs: tuned for the bundled sales set.
    let encoder =
        tune::tuned_for_bundled_intents(encoder(), &models_dir(), &mut |_, _| {}).expect("tune");
    let mut featurizer =
        Featurizer::new(Some(&encoder), Some(&models_dir().join("embedding-cache")))
            .expect("cache");
    let head =
        train::train_sentiment(&mut featurizer, &train, &TrainOptions::default(), &mut |_, _| {})
            .expect("train");
    let s = train::score_sentiment(&head, &mut featurizer, &test, &mut |_, _| {}).expect("score");
    eprintln!("sentiment accuracy {:.4} macro-F1 {:.4}", s.accuracy, s.macro_f1);
    // The acceptance target; measured 2026-11-21 with the app's encoder (tuned for the sales
    // intents): 0.918 (zh 0.942, en 0.895); with the frozen encoder 0.924.
    assert!(s.accuracy >= 0.90, "accuracy {:.4}", s.accuracy);
    // Every class is recognised at all: a head that collapses onto one label fails here.
    for label in &s.per_label {
        assert!(label.recall >= 0.6, "{} recall {:.3}", label.label, label.recall);
    }
}
