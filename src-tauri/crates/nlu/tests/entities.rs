//! Entity detectors: check-digit vectors, generated IDs, phone / money / date tables, masks,
//! overlaps, arbitrary Unicode, and the labelled dev set.

use std::path::PathBuf;

use closer_nlu::entities::{self, Context};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/fields").join(name)
}

#[test]
fn dev_report() {
    let path = data(&std::env::var("FIELDS_SET").unwrap_or_else(|_| "dev.jsonl".into()));
    let cases = entities::read_cases(&path).expect("dev set");
    let report = entities::evaluate(&cases);
    println!("{report}");
    let _ = Context::default();
}

/// `PROBE="text" cargo test --test entities probe -- --nocapture` prints what is found.
#[test]
fn probe() {
    let Ok(text) = std::env::var("PROBE") else { return };
    let context = Context::parse_rfc3339("2026-11-18T10:00:00+08:00").expect("time");
    for e in entities::extract(&text, &context) {
        println!(
            "{:?} {:?} -> {:?} [{}..{}] {}",
            e.kind, e.text, e.value, e.start, e.end, e.confidence
        );
    }
}
