//! Facts about the machine and the model file: memory bandwidth, peak RSS, CPU, git commit, and
//! the bytes of weights a decode step reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use closer_llm::LlmError;
use closer_llm::gguf::dtype_name;
use serde::Serialize;

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct MachineFacts {
    pub cpu_model: String,
    pub cores: usize,
    /// `closer_llm::cpu::describe()`: the kernels this build uses and what the CPU offers.
    pub closer_cpu: String,
    pub memory_bytes: u64,
    pub kernel: String,
    /// 1-minute load average when the benchmark started (it still counts a run that just ended).
    pub load_average_at_start: f64,
    /// The share of all cores busy during the second before the benchmark started: other work
    /// running now.
    pub cpu_busy_at_start: f64,
    /// HEAD of the source tree this binary was built from, read when the benchmark runs (a
    /// binary older than the tree reports the tree's commit: compare `binary_modified_unix`).
    pub git_commit: Option<String>,
    /// Whether tracked files differed from that commit.
    pub git_dirty: Option<bool>,
    /// When the running binary was last written, in seconds since the Unix epoch.
    pub binary_modified_unix: Option<u64>,
}

impl MachineFacts {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split(':').nth(1)))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = proc_kib(&meminfo, "MemTotal:").unwrap_or(0) * 1024;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let (git_commit, git_dirty) = git_state();
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            closer_cpu: closer_llm::cpu::describe(),
            memory_bytes,
            kernel,
            load_average_at_start: load_average(),
            cpu_busy_at_start: cpu_busy(Duration::from_secs(1)),
            git_commit,
            git_dirty,
            binary_modified_unix: std::env::current_exe()
                .and_then(|exe| exe.metadata())
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        }
    }
}

/// The 1-minute load average (0 when unknown).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// The fraction of CPU time (all cores) not idle over `window`, from /proc/stat (0 when unknown).
pub fn cpu_busy(window: Duration) -> f64 {
    // `cpu  user nice system idle iowait irq softirq steal …`: idle and iowait are idle time.
    let sample = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let idle = fields.get(3)? + fields.get(4)?;
        Some((fields.iter().sum(), idle))
    };
    let Some((total0, idle0)) = sample() else { return 0.0 };
    std::thread::sleep(window);
    let Some((total1, idle1)) = sample() else { return 0.0 };
    let total = total1.saturating_sub(total0);
    if total == 0 { 0.0 } else { 1.0 - idle1.saturating_sub(idle0) as f64 / total as f64 }
}

/// The commit of the source tree this binary was built from, and whether it had local changes.
fn git_state() -> (Option<String>, Option<bool>) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let dirty = commit
        .as_ref()
        .and(git(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (commit, dirty)
}

/// `VmHWM` of this process: its peak resident set, in bytes.
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    proc_kib(&status, "VmHWM:").unwrap_or(0) * 1024
}

/// `Key:   1234 kB` from a /proc file, in KiB.
fn proc_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Memory read bandwidth, measured by summing a buffer of `mib` MiB of u64 with `threads`
/// threads (one contiguous slice each); best of `passes`.
#[derive(Debug, Clone, Serialize)]
pub struct Bandwidth {
    pub bytes_per_s: f64,
    pub buffer_bytes: u64,
    pub threads: usize,
    /// Each pass, in GB/s.
    pub passes_gb_s: Vec<f64>,
}

impl Bandwidth {
    /// The passes of another measurement, on the same buffer size and threads, join these; the
    /// best of all counts.
    pub fn add(&mut self, other: Bandwidth) {
        self.passes_gb_s.extend(other.passes_gb_s);
        self.bytes_per_s = self.bytes_per_s.max(other.bytes_per_s);
    }
}

/// One pass of [`measure_bandwidth`] in a child process (`closer bench bandwidth`), so its
/// buffer does not count in this process's peak memory; GB/s, or `None` (said on stderr) when
/// the child cannot run.
pub fn bandwidth_in_child(mib: usize, threads: usize) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let args = ["bench", "bandwidth", "--mib", &mib.to_string(), "--threads", &threads.to_string()];
    match std::process::Command::new(exe).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().parse().ok(),
        Ok(out) => {
            eprintln!("bench: bandwidth pass failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
        Err(e) => {
            eprintln!("bench: bandwidth pass could not start: {e}");
            None
        }
    }
}

pub fn measure_bandwidth(mib: usize, threads: usize, passes: usize) -> Bandwidth {
    let words = (mib.max(1) << 20) / 8;
    // Written, not zeroed: untouched zero pages would all map to one page and read from cache.
    let buffer: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads.max(1));
    let mut passes_gb_s = Vec::new();
    for _ in 0..passes.max(1) {
        let started = Instant::now();
        let total = std::thread::scope(|scope| {
            let handles: Vec<_> = buffer
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().fold(0u64, |sum, &x| sum.wrapping_add(x)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0u64, u64::wrapping_add)
        });
        std::hint::black_box(total);
        let seconds = started.elapsed().as_secs_f64();
        passes_gb_s.push((words * 8) as f64 / seconds / 1e9);
    }
    let best = passes_gb_s.iter().copied().fold(0.0, f64::max);
    Bandwidth { bytes_per_s: best * 1e9, buffer_bytes: (words * 8) as u64, threads, passes_gb_s }
}

/// The model file's tensors, as a decode step reads them.
#[derive(Debug, Clone, Serialize)]
pub struct WeightFacts {
    pub file_bytes: u64,
    pub tensor_types: BTreeMap<String, usize>,
    /// Bytes per tensor type, over all tensors.
    pub bytes_by_type: BTreeMap<String, u64>,
    pub tensor_bytes: u64,
    pub token_embedding_bytes: u64,
    /// No `output.weight`: the token embedding is also the output projection.
    pub tied_embeddings: bool,
    /// The bytes of weights one decode step reads: every tensor, except the token embedding
    /// table when the model has its own output matrix (one row of the table is gathered per token).
    pub bytes_per_token: u64,
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Reads the tensor directory of a GGUF file.
pub fn weight_facts(path: &Path) -> Result<WeightFacts, LlmError> {
    use candle_core::quantized::gguf_file::Content;
    let io = |source| LlmError::Io { path: path.to_path_buf(), source };
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let file_bytes = file.get_ref().metadata().map_err(io)?.len();
    let content = Content::read(&mut file)
        .map_err(|e| LlmError::NotGguf { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut facts = WeightFacts {
        file_bytes,
        tensor_types: BTreeMap::new(),
        bytes_by_type: BTreeMap::new(),
        tensor_bytes: 0,
        token_embedding_bytes: 0,
        tied_embeddings: !content.tensor_infos.contains_key("output.weight"),
        bytes_per_token: 0,
        layers: 0,
        kv_heads: 0,
        head_dim: 0,
    };
    for (name, info) in &content.tensor_infos {
        let dtype = info.ggml_dtype;
        let bytes = (info.shape.elem_count() / dtype.block_size() * dtype.type_size()) as u64;
        let type_name = dtype_name(dtype).to_owned();
        *facts.tensor_types.entry(type_name.clone()).or_insert(0) += 1;
        *facts.bytes_by_type.entry(type_name).or_insert(0) += bytes;
        facts.tensor_bytes += bytes;
        if name == "token_embd.weight" {
            facts.token_embedding_bytes = bytes;
        }
    }
    facts.bytes_per_token = if facts.tied_embeddings {
        facts.tensor_bytes
    } else {
        facts.tensor_bytes - facts.token_embedding_bytes
    };
    let arch = match content.metadata.get("general.architecture") {
        Some(candle_core::quantized::gguf_file::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let number = |key: &str| {
        content
            .metadata
            .get(&format!("{arch}.{key}"))
            .and_then(|v| v.to_u64().ok())
            .map_or(0, |n| n as usize)
    };
    facts.layers = number("block_count");
    let heads = number("attention.head_count");
    facts.kv_heads = match number("attention.head_count_kv") {
        0 => heads,
        n => n,
    };
    facts.head_dim = match number("attention.key_length") {
        0 => number("embedding_length").checked_div(heads).unwrap_or(0),
        n => n,
    };
    Ok(facts)
}

/// Reads a file through once, so that both runtimes load it from the page cache.
pub fn warm_page_cache(path: &Path) -> Result<(), LlmError> {
    let io = |source| LlmError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    std::io::copy(&mut file, &mut std::io::sink()).map_err(io)?;
    Ok(())
}
