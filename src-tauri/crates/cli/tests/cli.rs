//! The `closer` binary on fresh and damaged data directories.

use std::process::{Command, Output};

fn closer(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_closer"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run closer")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn db_check_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("new/nested");
    let out = closer(&data, &["db", "check"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let latest = closer_store::latest_schema_version();
    assert!(text.contains(&format!("schema version: {latest} (latest {latest})")), "{text}");
    assert!(text.contains("integrity:      ok"), "{text}");
    assert!(text.contains("journal mode:   wal"), "{text}");
    assert!(data.join("closer.sqlite3").is_file());
    assert!(data.join("logs").is_dir(), "the rolling log lives in the data dir");
}

#[test]
fn demo_seed_then_check_counts_then_seed_again_is_a_no_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = closer(dir.path(), &["demo", "seed"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("seeded 11 products, 8 conversations"), "{}", stdout(&out));
    let check = stdout(&closer(dir.path(), &["db", "check"]));
    let count = |table: &str| -> i64 {
        check
            .lines()
            .find_map(|l| l.trim().strip_prefix(table).map(|n| n.trim().parse().expect("count")))
            .unwrap_or_else(|| panic!("no {table} in {check}"))
    };
    assert_eq!(count("conversations "), 8);
    assert_eq!(count("products "), 11);
    assert!(count("lead_fields ") >= 20);
    let again = closer(dir.path(), &["demo", "seed"]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("already holds data"), "{}", stdout(&again));
    assert_eq!(count("conversations "), 8);
}

#[test]
fn a_corrupt_database_gives_a_clear_message_and_exit_code_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("closer.sqlite3"), vec![7u8; 4096]).expect("write");
    let out = closer(dir.path(), &["db", "check"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error [corrupt_database]"), "{err}");
    assert!(err.contains("closer.sqlite3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
