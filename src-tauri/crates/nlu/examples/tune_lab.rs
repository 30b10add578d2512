//! Does fine-tuning the encoder's upper layers help, and with which settings? Measured on a dev
//! split carved out of the training set (every sixth block of 25 lines); the test set is not
//! read. `cargo run --release -p closer-nlu --example tune_lab -- MODELS_DIR TRAIN.jsonl`,
//! settings from the environment (`TUNE_EPOCHS`, `TUNE_LR`, `TUNE_FROM`, `TUNE_MAX`, `HIDDEN`).

use std::path::Path;

use closer_nlu::data::{self, IntentLine};
use closer_nlu::encoder::Encoder;
use closer_nlu::encoder::tune::{self, TuneOptions};
use closer_nlu::head::TrainOptions;
use closer_nlu::train::{self, Featurizer};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn report(tag: &str, encoder: &Encoder, fit: &[IntentLine], dev: &[IntentLine]) {
    let mut featurizer = Featurizer::new(Some(encoder), None).expect("featurizer");
    let options = TrainOptions { hidden: env("HIDDEN", 0), ..Default::default() };
    let t = std::time::Instant::now();
    let head = train::train_intents(&mut featurizer, fit, &options, &mut |_, _| {}).expect("train");
    let secs = t.elapsed().as_secs_f64();
    let mut line = format!("{tag:<10} head {secs:.1}s knn {}", head.info.knn_weight);
    for lang in [None, Some("zh"), Some("en")] {
        let lines: Vec<IntentLine> =
            dev.iter().filter(|l| lang.is_none() || l.lang.as_deref() == lang).cloned().collect();
        if lines.is_empty() || (lang.is_some() && lines.len() == dev.len()) {
            continue;
        }
        let s = train::score_intents(&head, &mut featurizer, &lines, &mut |_, _| {}).expect("s");
        line += &format!(
            " | {} macro {:.4} micro {:.4} subset {:.4}",
            lang.unwrap_or("all"),
            s.macro_f1,
            s.micro_f1,
            s.subset_accuracy
        );
    }
    println!("{line}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let models = Path::new(&args[1]);
    let lines: Vec<IntentLine> = data::read_jsonl(Path::new(&args[2])).expect("train");
    let limit = env("LIMIT", usize::MAX);
    let lines: Vec<IntentLine> = lines.into_iter().take(limit).collect();
    let is_dev = |i: usize| (i / 25) % 6 == 5;
    let fit: Vec<IntentLine> =
        lines.iter().enumerate().filter(|(i, _)| !is_dev(*i)).map(|(_, l)| l.clone()).collect();
    let dev: Vec<IntentLine> =
        lines.iter().enumerate().filter(|(i, _)| is_dev(*i)).map(|(_, l)| l.clone()).collect();
    let id = "multilingual-e5-small";
    let encoder = Encoder::load(models, id).expect("encoder");
    if env("BASELINE", 1) == 1 {
        report("frozen", &encoder, &fit, &dev);
    }
    let labels = train::label_set(fit.iter().flat_map(|l| l.labels.iter().map(String::as_str)));
    let y: Vec<Vec<usize>> = fit
        .iter()
        .map(|l| l.labels.iter().filter_map(|x| labels.iter().position(|y| y == x)).collect())
        .collect();
    let texts: Vec<&str> = fit.iter().map(|l| l.text.as_str()).collect();
    let options = TuneOptions {
        epochs: env("TUNE_EPOCHS", 4),
        learning_rate: env("TUNE_LR", 5e-5),
        head_learning_rate: env("TUNE_HEAD_LR", 2e-3),
        from_layer: env("TUNE_FROM", 9),
        max_examples: env("TUNE_MAX", 6000),
        dropout: env("TUNE_DROPOUT", 0.1),
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let mut last = 0;
    let tuned = tune::fine_tune(
        &encoder,
        models,
        &texts,
        &y,
        labels.len(),
        &options,
        &mut |done, total| {
            if done * 10 / total != last {
                last = done * 10 / total;
                eprintln!("tuning {done}/{total} {:.0}s", t.elapsed().as_secs_f64());
            }
        },
    )
    .expect("tune");
    println!("{options:?}: tuned in {:.0}s", t.elapsed().as_secs_f64());
    let encoder = encoder.with_tuned_layers(&tuned).expect("tuned");
    report("tuned", &encoder, &fit, &dev);
}
