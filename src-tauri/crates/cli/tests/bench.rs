//! `closer bench llm` on the real SmolLM2 (installed in the default models directory by
//! `closer models fetch smollm2-135m-instruct`, which the test command runs first), without the
//! llama.cpp peer: a short run must write a report whose figures are all measured, the bandwidth
//! before each cold run (a child process's pass) included.

use std::process::Command;

#[test]
fn bench_llm_without_the_peer_writes_positive_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_closer"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["bench", "llm", "--model", "smollm2-135m-instruct", "--runs", "1"])
        .args(["--new-tokens", "8", "--prefix-tokens", "120", "--skip-peer"])
        // A small bandwidth buffer: this is the unoptimised test build.
        .args(["--bandwidth-mib", "64", "--json"])
        .arg(&json)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run closer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("targets") && stdout.contains("decode, greedy (tok/s)"), "{stdout}");
    assert!(stdout.contains("bandwidth before each run"), "the paired roofline target: {stdout}");

    let text = std::fs::read_to_string(&json).expect("the JSON report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let number = |pointer: &str| -> f64 {
        report.pointer(pointer).and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("no {pointer}"))
    };
    for figure in [
        "/closer/load_ms",
        "/closer/prefill_tok_s",
        "/closer/decode_tok_s",
        "/closer/ttft_cold_ms_p50",
        "/closer/ttft_warm_ms_p50",
        "/closer/ttft_warm_ms_p90",
        "/closer/peak_rss_bytes",
        "/closer/roofline_fraction",
        "/closer/roofline_fraction_paired",
        "/closer/samples/cold/0/bandwidth_gb_s",
        "/roofline/tokens_per_s",
        "/roofline/bytes_per_token",
        "/roofline/bandwidth/bytes_per_s",
        "/weights/file_bytes",
        "/machine/cores",
    ] {
        assert!(number(figure) > 0.0, "{figure} = {} in {text}", number(figure));
    }
    let prefix = number("/prompts/prefix_tokens");
    assert!((100.0..=120.0).contains(&prefix), "the conversation is {prefix} tokens");
    // The warm run reused the cached conversation and prefilled only the new message.
    let warm = &report["closer"]["samples"]["warm"][0];
    let cached = warm["cached_tokens"].as_f64().expect("cached_tokens");
    assert!(cached >= prefix - 16.0, "only {cached} of the {prefix} conversation tokens cached");
    assert!(report["llama_cpp"].is_null(), "the peer was skipped");
    assert!(!report["machine"]["closer_cpu"].as_str().unwrap_or_default().is_empty());
}
