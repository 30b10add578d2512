//! The llama.cpp peer: llama-cpp-python in its own venv (the one `.ci/llama-cpp` installs), found
//! or installed the same way, and driven by `llama_cpp.py` with the prompts Closer used.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{BenchError, ColdRun, Samples, WarmRun};

/// The version `.ci/llama-cpp` pins.
pub const VERSION: &str = "0.3.36";
const SCRIPT: &str = include_str!("llama_cpp.py");
/// A native build segfaults on these VMs (the CPU reports AMX and AVX-512, which the VM does not
/// fully support), so the instruction sets are fixed, as in `.ci/llama-cpp`.
const CMAKE_ARGS: &str = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
     -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF";

/// `$CLOSER_CACHE`, else `~/.cache/closer` (as `.ci/env`).
fn closer_cache() -> PathBuf {
    match std::env::var_os("CLOSER_CACHE").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("closer"),
    }
}

/// `$CLOSER_LLAMA_CPP_VENV`, else `$CLOSER_CACHE/llama-cpp-venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("CLOSER_LLAMA_CPP_VENV").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => closer_cache().join("llama-cpp-venv"),
    }
}

/// The venv's python, after installing llama-cpp-python into it if it lacks version
/// [`VERSION`]. Cold, pip builds llama.cpp from source: 6–10 minutes on 2 cores.
pub fn ensure_installed(venv: &Path) -> Result<PathBuf, BenchError> {
    let python = venv.join("bin").join("python");
    if installed_version(&python).as_deref() == Some(VERSION) {
        return Ok(python);
    }
    let fail = |message: String| BenchError::Peer { message };
    if !python.is_file() {
        let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!("bench: creating the llama.cpp venv {} with {base}", venv.display());
        run_logged(
            Command::new(&base).arg("-m").arg("venv").arg(venv),
            &format!("{base} -m venv"),
        )?;
    }
    eprintln!(
        "bench: building llama-cpp-python[server]=={VERSION} from source into {} \
         (6–10 min cold on 2 cores; seconds when pip's cache holds the built wheel; \
         --skip-peer skips this)",
        venv.display()
    );
    let pip = |args: &[&str]| {
        let mut command = Command::new(&python);
        command
            .args(["-m", "pip"])
            .args(args)
            .env("PIP_CACHE_DIR", closer_cache().join("pip"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("CMAKE_ARGS", CMAKE_ARGS)
            .env(
                "CMAKE_BUILD_PARALLEL_LEVEL",
                std::env::var("CMAKE_BUILD_PARALLEL_LEVEL").unwrap_or_else(|_| "2".into()),
            );
        command
    };
    let requirement = format!("llama-cpp-python=={VERSION}");
    run_logged(&mut pip(&["install", "--quiet", "--upgrade", "pip"]), "pip install --upgrade pip")?;
    // --no-binary refuses a published wheel (built for other CPUs); pip still reuses the wheel it
    // built here before. --force-reinstall replaces another version.
    run_logged(
        &mut pip(&[
            "install",
            "--progress-bar",
            "off",
            "--no-binary",
            "llama-cpp-python",
            "--force-reinstall",
            "--no-deps",
            &requirement,
        ]),
        "pip install llama-cpp-python",
    )?;
    let with_server = format!("llama-cpp-python[server]=={VERSION}");
    run_logged(
        &mut pip(&["install", "--progress-bar", "off", &with_server]),
        "pip install llama-cpp-python[server]",
    )?;
    match installed_version(&python) {
        Some(v) if v == VERSION => Ok(python),
        other => Err(fail(format!(
            "after the install, {} imports llama_cpp at version {other:?}, not {VERSION}",
            python.display()
        ))),
    }
}

/// `llama_cpp.__version__` as the venv's python imports it, if it does.
fn installed_version(python: &Path) -> Option<String> {
    if !python.is_file() {
        return None;
    }
    let output = Command::new(python)
        .args(["-c", "import sys, llama_cpp; sys.stdout.write(llama_cpp.__version__)"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs `command` with its output on our stderr, saying every 30 s that it still runs.
fn run_logged(command: &mut Command, what: &str) -> Result<(), BenchError> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .stderr(std::io::stderr())
        .spawn()
        .map_err(|e| BenchError::Peer { message: format!("cannot run {what}: {e}") })?;
    let mut next_note = Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(BenchError::Peer { message: format!("{what} failed ({status})") });
            }
            Ok(None) => {}
            Err(e) => return Err(BenchError::Peer { message: format!("{what}: {e}") }),
        }
        if started.elapsed() >= next_note {
            eprintln!("bench: {what}: still running ({} s)", started.elapsed().as_secs());
            next_note += Duration::from_secs(30);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the script is given.
#[derive(Debug, Serialize)]
pub struct PeerInput<'a> {
    /// `tokenize` (vocabulary only: the prompts' ids, in seconds) or `measure`.
    pub mode: &'a str,
    pub model: &'a Path,
    pub threads: usize,
    pub n_ctx: usize,
    pub runs: usize,
    pub new_tokens: usize,
    pub warmup_prompt: &'a str,
    pub prefix_prompt: &'a str,
    pub warm_prompts: &'a [String],
    pub expected_prefix_tokens: usize,
    pub expected_warm_tokens: &'a [usize],
}

/// What the script answers.
#[derive(Debug, Deserialize)]
pub struct PeerOutput {
    pub version: String,
    pub load_ms: f64,
    pub prefix_ids: Vec<u32>,
    pub warm_prompt_tokens: Vec<usize>,
    /// Set when the script stopped after tokenizing (the counts differ).
    pub aborted: Option<String>,
    #[serde(default)]
    pub cold: Vec<ColdRun>,
    #[serde(default)]
    pub ttft_cold_ms: Vec<f64>,
    #[serde(default)]
    pub warm: Vec<WarmRun>,
    #[serde(default)]
    pub peak_rss_bytes: u64,
}

impl PeerOutput {
    pub fn samples(&self) -> Samples {
        Samples {
            load_ms: self.load_ms,
            cold: self.cold.clone(),
            ttft_cold_ms: self.ttft_cold_ms.clone(),
            warm: self.warm.clone(),
            peak_rss_bytes: self.peak_rss_bytes,
        }
    }
}

/// Runs the measuring script. Its progress lines pass through to our stderr; with `quiet` they
/// are kept, and shown only if it fails (llama.cpp warns about the missing hyper-parameters when
/// it loads only the vocabulary).
pub fn run(python: &Path, input: &PeerInput, quiet: bool) -> Result<PeerOutput, BenchError> {
    let fail = |message: String| BenchError::Peer { message };
    let stderr = if quiet { Stdio::piped() } else { Stdio::from(std::io::stderr()) };
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| fail(format!("cannot run {}: {e}", python.display())))?;
    let json = serde_json::to_vec(input).map_err(|e| fail(format!("encoding the input: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&json).map_err(|e| fail(format!("sending the prompts: {e}")))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(format!("waiting for it: {e}")))?;
    if !output.status.success() {
        let kept = String::from_utf8_lossy(&output.stderr);
        let error =
            if quiet { format!(":\n{}", tail(&kept)) } else { "; its error is above".into() };
        return Err(fail(format!("the llama.cpp script failed ({}){error}", output.status)));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        let text = String::from_utf8_lossy(&output.stdout);
        fail(format!("the llama.cpp script printed no result ({e}): {}", tail(&text)))
    })
}

/// The last 2000 characters of `text`.
fn tail(text: &str) -> &str {
    let start = text.char_indices().rev().nth(1999).map_or(0, |(i, _)| i);
    &text[start..]
}
