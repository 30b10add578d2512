//! `closer models …`: the model catalogs and the models directory. The language models
//! (`models/catalog.toml`, through `closer-llm`) and the sentence encoders (`models/encoders.toml`,
//! through `closer-nlu`) share the directory, the `downloads/` folder and these commands. Progress
//! goes to stderr as bars (hidden when stderr is not a terminal); results go to stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use closer_llm::LlmError;
use closer_llm::catalog::{self, CatalogModel, Installed};
use closer_llm::fetch::{self, FetchOptions, Phase, Progress};
use closer_llm::gguf;
use closer_nlu::NluError;
use closer_nlu::encoder::InstalledEncoder;
use closer_nlu::encoder::catalog::{self as encoders, EncoderModel};
use closer_nlu::encoder::fetch as encoder_fetch;
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
    /// The catalogs and the installed models and encoders: state, size, sha256 prefix, path.
    List,
    /// Download, verify, re-quantize or convert, and install catalog models and encoders
    /// (default: the demo model).
    Fetch {
        /// Language-model or encoder ids (see `closer models list`).
        #[arg(value_name = "ID", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every language model and every encoder in the catalogs.
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

/// What a models command can fail with: a language model's error or an encoder's.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Nlu(#[from] NluError),
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

/// A catalog entry of either kind.
enum Entry<'a> {
    Model(&'a CatalogModel),
    Encoder(&'a EncoderModel),
}

fn run(command: ModelsCommand, dir: &Path) -> Result<(), ModelsError> {
    match command {
        ModelsCommand::List => list(dir),
        ModelsCommand::Fetch { ids, all, verify } => {
            let catalog = catalog::catalog();
            let encoder_catalog = encoders::catalog();
            let entries: Vec<Entry> = if all {
                let models = catalog.models.iter().map(Entry::Model);
                models.chain(encoder_catalog.encoders.iter().map(Entry::Encoder)).collect()
            } else if ids.is_empty() {
                vec![Entry::Model(catalog.default_model())]
            } else {
                // Unknown ids fail before anything is downloaded.
                ids.iter()
                    .map(|id| match (catalog.get(id), encoder_catalog.get(id)) {
                        (Ok(model), _) => Ok(Entry::Model(model)),
                        (_, Ok(encoder)) => Ok(Entry::Encoder(encoder)),
                        (Err(e), Err(_)) => Err(e),
                    })
                    .collect::<Result<_, _>>()?
            };
            for entry in entries {
                match entry {
                    Entry::Model(model) => fetch_one(model, dir, verify)?,
                    Entry::Encoder(encoder) => fetch_encoder(encoder, dir, verify)?,
                }
            }
            Ok(())
        }
        ModelsCommand::Import { path } => {
            let started = Instant::now();
            let mut bar = Bar::default();
            let installed = fetch::import_with(&path, dir, &mut |p| bar.update(&llm_step(&p)));
            bar.finish();
            let installed = installed?;
            println!("imported {} as {}", path.display(), installed.id);
            describe(&installed, started.elapsed());
            Ok(())
        }
        ModelsCommand::Inspect { path } => Ok(inspect(&path)?),
    }
}

fn list(dir: &Path) -> Result<(), ModelsError> {
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
    println!();
    println!("sentence encoders (models/encoders.toml):");
    println!("{:<32} {:<14} {:>10}  {:<12}  PATH", "ID", "STATE", "SIZE", "SHA256");
    let default = &encoders::catalog().default;
    for (encoder, installed) in encoder_fetch::list(dir)? {
        let id =
            if encoder.id == *default { format!("{} *", encoder.id) } else { encoder.id.clone() };
        let folder = encoders::encoder_dir(dir, &encoder.id);
        let state = match &installed {
            Some(_) => "installed",
            None if folder.join(encoders::MANIFEST_FILE).is_file() => "stale",
            None => "not installed",
        };
        match installed {
            Some(installed) => {
                let size = BinaryBytes(installed.size()).to_string();
                let sha = weights_sha(&encoder, &installed);
                println!("{id:<32} {state:<14} {size:>10}  {sha:<12}  {}", folder.display());
            }
            None => println!("{id:<32} {state:<14} {:>10}  {:<12}  -", "-", "-"),
        }
    }
    println!("(* the NLU's default; SIZE is every installed file, SHA256 the weights')");
    Ok(())
}

/// The first 12 hex digits of the installed weights' sha256.
fn weights_sha(encoder: &EncoderModel, installed: &InstalledEncoder) -> String {
    let weights = encoder.weights_file();
    let file = installed.manifest.files.iter().find(|f| f.file == weights);
    file.map(|f| f.sha256.chars().take(12).collect()).unwrap_or_default()
}

fn row(id: &str, state: &str, installed: &Installed) {
    let size = BinaryBytes(installed.manifest.size).to_string();
    let sha = installed.manifest.sha256.get(..12).unwrap_or_default();
    println!("{id:<32} {state:<14} {size:>10}  {sha:<12}  {}", installed.path.display());
}

fn fetch_one(model: &CatalogModel, dir: &Path, verify: bool) -> Result<(), LlmError> {
    let started = Instant::now();
    let mut bar = Bar::default();
    let options = FetchOptions { verify, ..Default::default() };
    let installed = fetch::fetch_with(&model.id, dir, &options, &mut |p| bar.update(&llm_step(&p)));
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

fn fetch_encoder(encoder: &EncoderModel, dir: &Path, verify: bool) -> Result<(), ModelsError> {
    let started = Instant::now();
    let mut bar = Bar::default();
    let options = encoder_fetch::FetchOptions { verify };
    let installed =
        encoder_fetch::fetch_model(dir, encoder, &options, &mut |p| bar.update(&encoder_step(&p)));
    bar.finish();
    let installed = installed?;
    if bar.worked() {
        println!("installed {} ({})", encoder.id, encoder.name);
        println!("  folder:  {}", installed.dir.display());
        for file in &installed.manifest.files {
            println!("  {:<18} {:>10} bytes  sha256 {}", file.file, file.size, file.sha256);
        }
        let conversion = installed.manifest.conversion.as_deref().unwrap_or("none");
        println!("  convert: {conversion}");
        println!("  took:    {:.1} s", started.elapsed().as_secs_f64());
        println!("  phases: {}", bar.timings());
    } else {
        let how = if verify { "verified by hashing" } else { "sizes and manifest checked" };
        println!("{} is already installed ({how}): {}", encoder.id, installed.dir.display());
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

/// One step of an install, from either kind of fetch: the phase's name, whether it counts bytes,
/// and how far it is.
struct Step {
    phase: &'static str,
    bytes: bool,
    item: String,
    done: u64,
    total: u64,
}

fn llm_step(p: &Progress) -> Step {
    let (phase, bytes) = match p.phase {
        Phase::Hash => ("hash", true),
        Phase::Download => ("download", false),
        Phase::Assemble => ("assemble", true),
        Phase::Requantize => ("requantize", false),
        Phase::Copy => ("copy", true),
    };
    Step { phase, bytes, item: p.item.clone(), done: p.done, total: p.total }
}

fn encoder_step(p: &encoder_fetch::Progress) -> Step {
    let (phase, bytes) = match p.phase {
        encoder_fetch::Phase::Hash => ("hash", true),
        encoder_fetch::Phase::Download => ("download", false),
        encoder_fetch::Phase::Extract => ("extract", true),
        encoder_fetch::Phase::Convert => ("convert", false),
    };
    Step { phase, bytes, item: p.item.clone(), done: p.done, total: p.total }
}

/// One progress bar at a time, replaced when the phase changes; remembers how long each phase
/// took.
#[derive(Debug, Default)]
struct Bar {
    current: Option<(&'static str, ProgressBar, Instant)>,
    timings: Vec<(&'static str, Duration)>,
}

impl Bar {
    fn update(&mut self, p: &Step) {
        if self.current.as_ref().is_none_or(|(phase, _, _)| *phase != p.phase) {
            self.end_phase();
            let bar = ProgressBar::new(p.total);
            let template = if p.bytes {
                "{spinner} {prefix:<10} [{bar:24}] {binary_bytes}/{binary_total_bytes} \
                 ({bytes_per_sec})"
            } else {
                "{spinner} {prefix:<10} [{bar:24}] {pos}/{len} {wide_msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(p.phase);
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
        self.timings.iter().any(|(phase, _)| *phase != "hash")
    }

    fn timings(&self) -> String {
        let parts: Vec<_> = self
            .timings
            .iter()
            .map(|(phase, took)| format!("{phase} {:.1} s", took.as_secs_f64()))
            .collect();
        parts.join(", ")
    }
}

/// The stable code printed in `error [code]`.
fn error_code(e: &ModelsError) -> &'static str {
    match e {
        ModelsError::Llm(e) => llm_error_code(e),
        ModelsError::Nlu(e) => match e {
            NluError::UnknownEncoder(_) => "unknown_model",
            NluError::EncoderNotInstalled { .. } => "not_installed",
            NluError::HashMismatch { .. } => "hash_mismatch",
            NluError::TruncatedFile { .. } => "truncated",
            NluError::CorruptFile { .. } => "corrupt",
            NluError::Registry(closer_registry::RegistryError::Io { .. }) | NluError::Io { .. } => {
                "io"
            }
            NluError::Registry(_) => "fetch",
            _ => "encoder",
        },
    }
}

fn llm_error_code(e: &LlmError) -> &'static str {
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
fn exit_code(e: &ModelsError) -> u8 {
    match e {
        ModelsError::Llm(
            LlmError::NotGguf { .. }
            | LlmError::Truncated { .. }
            | LlmError::HashMismatch { .. }
            | LlmError::UnsupportedArchitecture { .. }
            | LlmError::MissingMetadata { .. },
        )
        | ModelsError::Nlu(
            NluError::HashMismatch { .. }
            | NluError::TruncatedFile { .. }
            | NluError::CorruptFile { .. },
        ) => 3,
        _ => 2,
    }
}
