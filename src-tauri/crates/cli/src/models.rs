//! `closer models …`: the model catalog and the models directory. Progress goes to stderr as
//! bars (hidden when stderr is not a terminal); results go to stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use closer_llm::LlmError;
use closer_llm::catalog::{self, CatalogModel, Installed};
use closer_llm::fetch::{self, FetchOptions, Phase, Progress};
use closer_llm::gguf;
use indicatif::{BinaryBytes, ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Models directory (default: $CLOSER_MODELS_DIR, else ~/.cache/closer/models).
    #[arg(long, global = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// The catalog and the installed models: state, size, sha256 prefix, path.
    List,
    /// Download, verify, re-quantize and install catalog models (default: the demo model).
    Fetch {
        /// Catalog ids (see `closer models list`).
        #[arg(value_name = "ID", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every model in the catalog.
        #[arg(long)]
        all: bool,
        /// Re-hash installed files instead of trusting their size and manifest.
        #[arg(long)]
        verify: bool,
    },
    /// Install a GGUF file you have: validated, re-quantized if it has slow tensor types.
    Import { path: PathBuf },
    /// Validate a GGUF file and print what its header says.
    Inspect { path: PathBuf },
}

/// Runs a `models` command; errors print as `error [code]: message`.
pub fn main(args: ModelsArgs) -> ExitCode {
    let dir = args.models_dir.unwrap_or_else(catalog::models_dir);
    match run(args.command, &dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [{}]: {e}", error_code(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

fn run(command: ModelsCommand, dir: &Path) -> Result<(), LlmError> {
    match command {
        ModelsCommand::List => list(dir),
        ModelsCommand::Fetch { ids, all, verify } => {
            let catalog = catalog::catalog();
            let ids: Vec<String> = if all {
                catalog.models.iter().map(|m| m.id.clone()).collect()
            } else if ids.is_empty() {
                vec![catalog.default.clone()]
            } else {
                ids
            };
            // Unknown ids fail before anything is downloaded.
            let models = ids.iter().map(|id| catalog.get(id)).collect::<Result<Vec<_>, _>>()?;
            for model in models {
                fetch_one(model, dir, verify)?;
            }
            Ok(())
        }
        ModelsCommand::Import { path } => {
            let started = Instant::now();
            let mut bar = Bar::default();
            let installed = fetch::import_with(&path, dir, &mut |p| bar.update(&p));
            bar.finish();
            let installed = installed?;
            println!("imported {} as {}", path.display(), installed.id);
            describe(&installed, started.elapsed());
            Ok(())
        }
        ModelsCommand::Inspect { path } => inspect(&path),
    }
}

fn list(dir: &Path) -> Result<(), LlmError> {
    let catalog = catalog::catalog();
    let installed = catalog::list_installed(dir)?;
    println!("models directory: {}", dir.display());
    println!("{:<32} {:<14} {:>10}  {:<12}  PATH", "ID", "STATE", "SIZE", "SHA256");
    for model in &catalog.models {
        let id =
            if model.id == catalog.default { format!("{} *", model.id) } else { model.id.clone() };
        let found = installed.iter().find(|i| i.id == model.id);
        match (found, fetch::check_installed(model, dir, false, &mut |_| {})?) {
            (_, Some(ok)) => row(&id, "installed", &ok),
            (Some(stale), None) => row(&id, "stale", stale),
            (None, None) => {
                println!("{id:<32} {:<14} {:>10}  {:<12}  -", "not installed", "-", "-")
            }
        }
    }
    for other in installed.iter().filter(|i| catalog.get(&i.id).is_err()) {
        row(&other.id, "imported", other);
    }
    println!("(* the default; `closer models fetch [ID]` installs, `--all` installs every one)");
    Ok(())
}

fn row(id: &str, state: &str, installed: &Installed) {
    let size = BinaryBytes(installed.manifest.size).to_string();
    let sha = installed.manifest.sha256.get(..12).unwrap_or_default();
    println!("{id:<32} {state:<14} {size:>10}  {sha:<12}  {}", installed.path.display());
}

fn fetch_one(model: &CatalogModel, dir: &Path, verify: bool) -> Result<(), LlmError> {
    let started = Instant::now();
    let mut bar = Bar::default();
    let options = FetchOptions { verify };
    let installed = fetch::fetch_with(&model.id, dir, &options, &mut |p| bar.update(&p));
    bar.finish();
    let installed = installed?;
    if bar.worked() {
        println!("installed {} ({})", model.id, model.name);
        describe(&installed, started.elapsed());
        println!("  phases: {}", bar.timings());
    } else {
        let how = if verify { "verified by hashing" } else { "size and manifest checked" };
        println!("{} is already installed ({how}): {}", model.id, installed.path.display());
    }
    Ok(())
}

fn describe(installed: &Installed, took: Duration) {
    let m = &installed.manifest;
    println!("  file:    {}", installed.path.display());
    println!("  size:    {} bytes ({})", m.size, BinaryBytes(m.size));
    println!("  sha256:  {}", m.sha256);
    let requant = m.requantization.as_deref().unwrap_or("none");
    println!("  requant: {requant}");
    println!("  took:    {:.1} s", took.as_secs_f64());
}

fn inspect(path: &Path) -> Result<(), LlmError> {
    let info = gguf::inspect(path)?;
    println!("file:         {}", info.path.display());
    println!("name:         {}", info.name);
    println!("architecture: {}", info.arch);
    println!("parameters:   {} ({:.1} M)", info.parameters, info.parameters as f64 / 1e6);
    println!("layers:       {}", info.layers);
    println!("embedding:    {}", info.embedding_length);
    println!("heads:        {}", info.head_count);
    println!("context:      {}", info.context_length);
    println!("tokenizer:    {} ({} tokens)", info.tokenizer_model, info.vocab_size);
    println!("tensors:      {}: {}", info.tensor_count, info.tensor_types_summary());
    println!("size:         {} bytes ({})", info.file_size, BinaryBytes(info.file_size));
    Ok(())
}

/// One progress bar at a time, replaced when the phase changes; remembers how long each phase
/// took.
#[derive(Debug, Default)]
struct Bar {
    current: Option<(Phase, ProgressBar, Instant)>,
    timings: Vec<(Phase, Duration)>,
}

impl Bar {
    fn update(&mut self, p: &Progress) {
        if self.current.as_ref().is_none_or(|(phase, _, _)| *phase != p.phase) {
            self.end_phase();
            let bar = ProgressBar::new(p.total);
            let template = match p.phase {
                Phase::Download | Phase::Requantize => {
                    "{spinner} {prefix:<10} [{bar:24}] {pos}/{len} {wide_msg}"
                }
                Phase::Hash | Phase::Assemble | Phase::Copy => {
                    "{spinner} {prefix:<10} [{bar:24}] {binary_bytes}/{binary_total_bytes} \
                     ({bytes_per_sec})"
                }
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(phase_name(p.phase));
            bar.enable_steady_tick(Duration::from_millis(120));
            self.current = Some((p.phase, bar, Instant::now()));
        }
        if let Some((_, bar, _)) = &self.current {
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(p.item.clone());
        }
    }

    fn end_phase(&mut self) {
        if let Some((phase, bar, started)) = self.current.take() {
            bar.finish_and_clear();
            self.timings.push((phase, started.elapsed()));
        }
    }

    fn finish(&mut self) {
        self.end_phase();
    }

    /// Whether anything beyond checking an installed file happened.
    fn worked(&self) -> bool {
        self.timings.iter().any(|(phase, _)| *phase != Phase::Hash)
    }

    fn timings(&self) -> String {
        let parts: Vec<_> = self
            .timings
            .iter()
            .map(|(phase, took)| format!("{} {:.1} s", phase_name(*phase), took.as_secs_f64()))
            .collect();
        parts.join(", ")
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Hash => "hash",
        Phase::Download => "download",
        Phase::Assemble => "assemble",
        Phase::Requantize => "requantize",
        Phase::Copy => "copy",
    }
}

/// The stable code printed in `error [code]`.
fn error_code(e: &LlmError) -> &'static str {
    match e {
        LlmError::NotGguf { .. } => "not_gguf",
        LlmError::Truncated { .. } => "truncated",
        LlmError::HashMismatch { .. } => "hash_mismatch",
        LlmError::UnsupportedArchitecture { .. } => "unsupported_architecture",
        LlmError::MissingMetadata { .. } => "missing_metadata",
        LlmError::Io { .. } => "io",
        LlmError::Fetch { .. } => "fetch",
        LlmError::UnknownModel(_) => "unknown_model",
        LlmError::NotInstalled(_) => "not_installed",
        LlmError::Requantize { .. } => "requantize",
        _ => "model",
    }
}

/// 3 for a file that is not a usable model (like a corrupt database), 2 for everything else.
fn exit_code(e: &LlmError) -> u8 {
    match e {
        LlmError::NotGguf { .. }
        | LlmError::Truncated { .. }
        | LlmError::HashMismatch { .. }
        | LlmError::UnsupportedArchitecture { .. }
        | LlmError::MissingMetadata { .. } => 3,
        _ => 2,
    }
}
