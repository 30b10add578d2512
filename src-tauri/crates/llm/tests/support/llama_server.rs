//! The llama.cpp peer, as installed by `bash .ci/llama-cpp` (PyPI `llama-cpp-python[server]` in
//! its own venv): a real OpenAI-compatible server on loopback ([`LlamaServer`]) and raw greedy
//! generation ([`llama_cpp_greedy`]) to compare the local backend against.
//!
//! Nothing here skips: a missing venv or model file fails the test and says which command
//! provides it.
//!
//! A server is a child process that dies with its owner: [`LlamaServer`] kills it on drop, and
//! the child also exits by itself when the test process is gone (it watches its stdin, a pipe
//! whose other end only the test process holds), so a server kept in a `static` — which is never
//! dropped — does not outlive a test binary, even one killed by a timeout.

use std::env;
use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where the project's caches live: `$CLOSER_CACHE`, else `~/.cache/closer` (as `.ci/env`).
pub fn closer_cache() -> PathBuf {
    if let Some(dir) = env::var_os("CLOSER_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().expect("no home directory for ~/.cache").join("closer")
}

/// The Python of the llama.cpp venv: `$CLOSER_LLAMA_CPP_VENV`, else `$CLOSER_CACHE/llama-cpp-venv`,
/// else `~/.cache/closer/llama-cpp-venv`. Panics, naming the install command, when it is missing.
pub fn venv_python() -> PathBuf {
    let venv = match env::var_os("CLOSER_LLAMA_CPP_VENV").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => closer_cache().join("llama-cpp-venv"),
    };
    let python = venv.join("bin").join("python");
    assert!(
        python.is_file(),
        "the llama.cpp venv is missing ({} not found): run `bash .ci/llama-cpp` \
         (or point CLOSER_LLAMA_CPP_VENV at a venv with llama-cpp-python[server])",
        python.display()
    );
    python
}

/// The models folder: `$CLOSER_MODELS_DIR`, else `$CLOSER_CACHE/models` (as `.ci/env`).
pub fn models_dir() -> PathBuf {
    match env::var_os("CLOSER_MODELS_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => closer_cache().join("models"),
    }
}

/// The SmolLM2-135M-Instruct GGUF: `$CLOSER_TEST_SMOLLM2_GGUF` if set, else the installed model
/// `<models dir>/smollm2-135m-instruct/model.gguf`. Panics, naming the fetch command, when missing.
pub fn smollm2_gguf() -> PathBuf {
    if let Some(file) = env::var_os("CLOSER_TEST_SMOLLM2_GGUF").filter(|f| !f.is_empty()) {
        let file = PathBuf::from(file);
        assert!(file.is_file(), "CLOSER_TEST_SMOLLM2_GGUF={} is not a file", file.display());
        return file;
    }
    let file = models_dir().join("smollm2-135m-instruct").join("model.gguf");
    assert!(
        file.is_file(),
        "the SmolLM2 model is not installed ({} not found): run \
         `closer models fetch smollm2-135m-instruct`",
        file.display()
    );
    file
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound address").port()
}

/// How to start a [`LlamaServer`].
#[derive(Debug, Clone)]
pub struct LlamaServerOptions {
    pub n_ctx: usize,
    /// Threads for the prompt and for decoding. 1 by default: parallel test processes may each
    /// run a server on 2 cores.
    pub n_threads: usize,
    /// The name the server lists in `/v1/models` and accepts as `model`.
    pub model_alias: String,
    /// How long loading may take before the test fails.
    pub ready_timeout: Duration,
    /// A bearer token the server requires (`--api_key`), if any.
    pub api_key: Option<String>,
}

impl Default for LlamaServerOptions {
    fn default() -> Self {
        Self {
            n_ctx: 2048,
            n_threads: 1,
            model_alias: "test-model".to_owned(),
            ready_timeout: Duration::from_secs(120),
            api_key: None,
        }
    }
}

/// `python -m llama_cpp.server`, run by a wrapper that exits as soon as its stdin closes.
const SERVER_WRAPPER: &str = r#"
import os, runpy, sys, threading

def watch_parent():
    sys.stdin.buffer.read()  # returns at end of file: the test process has gone
    os._exit(0)

threading.Thread(target=watch_parent, daemon=True).start()
sys.argv = ["llama_cpp.server"] + sys.argv[1:]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"#;

/// A llama-cpp-python server on a free loopback port, ready to answer; killed on drop.
#[derive(Debug)]
pub struct LlamaServer {
    child: Child,
    /// Held only so that the child's stdin closes when this process ends.
    _stdin: ChildStdin,
    base_url: String,
    model: String,
    /// The server's stdout and stderr: an unnamed file, gone with the last handle.
    log: File,
}

impl LlamaServer {
    /// Serves `gguf` with the default options.
    pub fn start(gguf: &Path) -> Self {
        Self::start_with(gguf, &LlamaServerOptions::default())
    }

    pub fn start_with(gguf: &Path, options: &LlamaServerOptions) -> Self {
        assert!(gguf.is_file(), "{} is not a file", gguf.display());
        let python = venv_python();
        // The port is free when picked but may be taken before the server binds it: retry.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            match Self::try_start(&python, gguf, options) {
                Ok(server) => return server,
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!("the llama.cpp server did not start:\n{log}"),
            }
        }
        panic!("the llama.cpp server found no free port:\n{last_log}");
    }

    /// Starts and waits until `/v1/models` answers; on failure returns the server's log.
    fn try_start(python: &Path, gguf: &Path, options: &LlamaServerOptions) -> Result<Self, String> {
        let port = free_port();
        let log = tempfile::tempfile().expect("create the server log file");
        let stdout = log.try_clone().expect("share the server log");
        let stderr = log.try_clone().expect("share the server log");
        let mut command = Command::new(python);
        command.arg("-c").arg(SERVER_WRAPPER);
        if let Some(key) = &options.api_key {
            command.args(["--api_key", key]);
        }
        let mut child = command
            .arg("--model")
            .arg(gguf)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--n_ctx", &options.n_ctx.to_string()])
            .args(["--n_threads", &options.n_threads.to_string()])
            // The prompt too: llama.cpp's threads spin at barriers, which is ruinous when the
            // cores are busy (its default here is every core).
            .args(["--n_threads_batch", &options.n_threads.to_string()])
            .args(["--model_alias", &options.model_alias])
            // Queue concurrent requests (tests of one process share a server) instead of cutting
            // the running stream short, which is llama-cpp-python's default.
            .args(["--interrupt_requests", "False"])
            // f32 keys and values, no flash attention: the same numerics as `llama_cpp_greedy`.
            .args(["--type_k", "0", "--type_v", "0", "--flash_attn", "False"])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("the child's stdin is piped");
        let mut server = Self {
            child,
            _stdin: stdin,
            base_url: format!("http://127.0.0.1:{port}"),
            model: options.model_alias.clone(),
            log,
        };

        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let models = format!("{}/v1/models", server.base_url);
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("poll the server process") {
                return Err(format!("it exited with {status}; its log:\n{}", server.log()));
            }
            let mut request = probe.get(&models);
            if let Some(key) = &options.api_key {
                request = request.bearer_auth(key);
            }
            if request.send().is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if started.elapsed() > options.ready_timeout {
                return Err(format!(
                    "it was not ready after {:?}; its log:\n{}",
                    options.ready_timeout,
                    server.log()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`, without `/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The model name to send (the alias it was started with).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The server's output so far (its last 8 KiB), for failure messages.
    pub fn log(&self) -> String {
        // Positioned reads: the server writes through the same file offset.
        let len = self.log.metadata().map_or(0, |m| m.len());
        let start = len.saturating_sub(8 * 1024);
        let mut text = vec![0; (len - start) as usize];
        let read = self.log.read_at(&mut text, start).unwrap_or(0);
        String::from_utf8_lossy(&text[..read]).into_owned()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What llama.cpp generates greedily (argmax of its own logits at every step).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GreedyOutput {
    /// The prompt as llama.cpp tokenizes it: specials such as `<|im_start|>` parsed, BOS added
    /// only when the GGUF asks for it.
    pub prompt_ids: Vec<u32>,
    /// The generated tokens, without the end-of-generation token.
    pub token_ids: Vec<u32>,
    pub text: String,
    /// At each step, the top logit minus the runner-up: a near tie (say < 0.05) is where two
    /// correct implementations may legitimately pick different tokens.
    pub margins: Vec<f32>,
    /// Whether generation ended on an end-of-generation token before `max_tokens`.
    pub hit_eog: bool,
}

const GREEDY_SCRIPT: &str = r#"
import json, sys
import numpy as np
import llama_cpp
from llama_cpp import Llama

args = json.load(sys.stdin)
# f32 keys and values and no flash attention, like the local runtime: llama.cpp's default f16
# KV cache moves logits by a few hundredths, enough to flip a near tie.
llm = Llama(model_path=args["model"], n_ctx=args["n_ctx"], n_threads=args["n_threads"],
            n_threads_batch=args["n_threads"], type_k=llama_cpp.GGML_TYPE_F32,
            type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False, verbose=False)
prompt = llm.tokenize(args["prompt"].encode("utf-8"), add_bos=True, special=True)
llm.eval(prompt)
ids, margins, hit_eog = [], [], False
for _ in range(args["max_tokens"]):
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()
    best = int(np.argmax(logits))
    top = float(logits[best])
    logits[best] = -np.inf
    margins.append(top - float(np.max(logits)))
    if llama_cpp.llama_vocab_is_eog(llm._model.vocab, best):
        hit_eog = True
        break
    ids.append(best)
    llm.eval([best])
text = llm.detokenize(ids).decode("utf-8", errors="replace")
json.dump({"prompt_ids": prompt, "token_ids": ids, "text": text, "margins": margins,
           "hit_eog": hit_eog}, sys.stdout)
"#;

/// Greedy generation by llama.cpp itself (no server, no sampler: the argmax of the logits),
/// of at most `max_tokens` tokens after `prompt` — a raw string, chat template already applied.
pub fn llama_cpp_greedy(gguf: &Path, prompt: &str, max_tokens: usize) -> GreedyOutput {
    assert!(gguf.is_file(), "{} is not a file", gguf.display());
    let python = venv_python();
    let input = serde_json::json!({
        "model": gguf,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "n_ctx": 2048,
        // One thread: llama.cpp's threads spin at barriers, and tests run beside other work.
        "n_threads": 1,
    });
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(GREEDY_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .expect("the child's stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("send the prompt to llama.cpp");
    let output = child.wait_with_output().expect("wait for llama.cpp");
    assert!(
        output.status.success(),
        "llama.cpp greedy generation failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("llama.cpp printed no result ({e}):\n{}", String::from_utf8_lossy(&output.stdout))
    })
}
