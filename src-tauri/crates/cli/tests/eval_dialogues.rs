//! `closer eval dialogues` on the project's dialogues, with the real NLU. Needs the encoder in
//! `$CLOSER_MODELS_DIR` (`closer models fetch multilingual-e5-small`); without it the test says so
//! and stops, since nothing downloads inside a test.

use std::path::Path;
use std::process::Command;

fn closer(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_closer"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs closer")
}

fn dialogues_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialogue/data/dialogues")
}

#[test]
fn the_project_dialogues_complete() {
    let models = closer_app::default_models_dir();
    if !models.join("multilingual-e5-small").exists() {
        // The test command fetches the encoder: missing there is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "no encoder in {}", models.display());
        eprintln!(
            "skipped: no encoder in {} (closer models fetch multilingual-e5-small)",
            models.display()
        );
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let dir = dialogues_dir();
    let out =
        closer(data.path(), &["eval", "dialogues", dir.to_str().expect("utf-8 path"), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(report["n_dialogues"].as_u64().is_some_and(|n| n >= 51), "{report}");
    assert_eq!(report["replay_mismatches"], 0, "recorded events replay to the live state");
    // Issue 5 asks for completion ≥ 0.95. Reached: 1.000 (51 of 51 dialogues), joint accuracy
    // 1.000 (134 of 134 turns), once the rules read what the wording says (`closer_dialogue::cues`:
    // acknowledgements, deferrals, payment questions, feedback the intent head was unsure of) and
    // lead-field values contradict a likely anger. The guards leave a small margin for the NLU's
    // retraining: a miss there shows as a hand-off on a clear message (ARCHITECTURE.md, "NLU
    // accuracy").
    let completion = report["completion"].as_f64().expect("completion");
    assert!(
        completion >= 0.95,
        "completion {completion} fell below the target (0.95; reached 1.0)"
    );
    let joint = report["joint_accuracy"].as_f64().expect("joint accuracy");
    assert!(joint >= 0.97, "joint accuracy {joint} fell below the level reached (1.0)");
}

#[test]
fn a_malformed_dialogue_names_the_file_and_the_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("bad.json"),
        "{\n  \"id\": \"x\",\n  \"language\": \"zh\",\n  \"turns\": [{\"customer\": \"你好\", \"expect\": {\"stage\": \"almost_won\"}}]\n}\n",
    )
    .expect("writes");
    let data = tempfile::tempdir().expect("temp dir");
    let out = closer(data.path(), &["eval", "dialogues", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("line 4") && err.contains("almost_won"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"id": "x", "language": "zh", "turns": [{"customer": "你好", "expect": {"focus": "SAAS/gold"}}]}"#,
    )
    .expect("writes");
    let out = closer(data.path(), &["eval", "dialogues", dir.path().to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json, turn 1, expect.focus") && err.contains("gold"), "{err}");
}
