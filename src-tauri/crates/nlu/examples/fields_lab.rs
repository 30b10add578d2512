//! Field rules on a labelled set, with the disagreements: `cargo run --release -p closer-nlu
//! --example fields_lab -- FIELDS.jsonl [N]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args[1].ends_with(".jsonl") {
        let context = closer_nlu::entities::Context::parse_rfc3339("2026-11-25T09:30:00+08:00")
            .expect("time");
        for e in closer_nlu::entities::extract(&args[1], &context) {
            println!("{} {:?} {:?}", e.kind.as_str(), e.value, e.text);
        }
        return;
    }
    let cases = closer_nlu::entities::read_cases(std::path::Path::new(&args[1])).expect("read");
    let report = closer_nlu::entities::evaluate(&cases);
    for k in &report.kinds {
        println!(
            "{:<12} {:>4} P {:.3} R {:.3}",
            k.kind.as_str(),
            k.score.support(),
            k.score.precision,
            k.score.recall
        );
    }
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
    for e in report.errors.iter().take(n) {
        println!(
            "  line {} {:?} {} {:?} in {:?}",
            e.line,
            e.error,
            e.kind.as_str(),
            e.value,
            e.found_text.as_deref().unwrap_or(&e.message)
        );
    }
}
