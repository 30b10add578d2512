//! `closer`: the headless command line. It calls the same `closer-app` API as the desktop shell
//! and is what tests, evaluation and benchmarks drive. No window, no webview. `closer models …`
//! (in `models.rs`) manages the local language models through `closer-llm`; `closer bench …`
//! (in `bench.rs`) measures the local model runtime against llama.cpp.

mod bench;
mod data;
mod eval;
mod eval_dialogues;
mod models;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use closer_app::{Api, ApiError, DataDir, ErrorCode, Options};

#[derive(Debug, Parser)]
#[command(
    name = "closer",
    version,
    about = "Closer, the offline-first AI sales console (headless)"
)]
struct Cli {
    /// Data directory (default: $CLOSER_DATA_DIR, else the OS app-data directory).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The local database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Demo data.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Local language models: the catalog, fetching, importing, inspecting.
    Models(models::ModelsArgs),
    /// Benchmarks: the local model runtime side by side with llama.cpp; the sentence encoder.
    Bench(bench::BenchArgs),
    /// The evaluation harness: intents, sentiment, lead fields, scripted dialogues.
    Eval(eval::EvalArgs),
    /// Public evaluation datasets from the package registries.
    Data(data::DataArgs),
    /// The customer channels headless: chat page, webhook; `--demo` adds simulated customers.
    Serve(serve::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Open (and migrate) the database, run SQLite's integrity check, print the schema version and
    /// row counts. Exits 1 if the file is damaged or not current.
    Check,
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Seed the demo catalog, strategy and conversations into an empty database.
    Seed {
        /// Also add this many synthetic conversations (for measuring the console at scale).
        #[arg(long, default_value_t = 0)]
        conversations: usize,
        /// Messages in each synthetic conversation.
        #[arg(long, default_value_t = 100)]
        messages: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before logging starts its writer thread: this sets an environment variable.
    closer_llm::cpu::pin_threads(match &cli.command {
        Command::Bench(args) => args.threads(),
        _ => None,
    });
    let data_dir = DataDir::resolve(cli.data_dir);
    let _logs = closer_app::logging::init(&data_dir, "closer-cli");
    let options = Options {
        data_dir,
        seed_demo: false,
        clock: closer_app::system_clock,
        models_dir: closer_app::default_models_dir(),
    };
    let result = match cli.command {
        Command::Db { command: DbCommand::Check } => db_check(options),
        Command::Demo { command: DemoCommand::Seed { conversations, messages } } => {
            demo_seed(options, conversations, messages)
        }
        Command::Models(args) => return models::main(args),
        Command::Bench(args) => return bench::main(args),
        Command::Eval(args) => return eval::main(args),
        Command::Data(args) => return data::main(args),
        Command::Serve(args) => serve::main(args, options),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error [{}]: {}", code_name(e.code), e.message);
            match e.code {
                ErrorCode::CorruptDatabase | ErrorCode::DatabaseTooNew => ExitCode::from(3),
                _ => ExitCode::from(2),
            }
        }
    }
}

fn db_check(options: Options) -> Result<ExitCode, ApiError> {
    let api = Api::open(options)?;
    let health = api.store().health()?;
    println!("database:       {}", api.store().path().display());
    println!("schema version: {} (latest {})", health.schema_version, health.latest_schema_version);
    println!("journal mode:   {}", health.journal_mode);
    println!("foreign keys:   {}", if health.foreign_keys { "on" } else { "off" });
    println!("integrity:      {}", health.integrity.join("; "));
    for (table, n) in &health.counts {
        println!("  {table:<20} {n}");
    }
    Ok(if health.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn demo_seed(
    options: Options,
    conversations: usize,
    messages: usize,
) -> Result<ExitCode, ApiError> {
    let api = Api::open(options)?;
    if !api.store().is_empty()? {
        println!("{} already holds data; nothing seeded", api.store().path().display());
        return Ok(ExitCode::SUCCESS);
    }
    let report = closer_app::demo::seed(api.store(), closer_app::system_clock())?;
    println!(
        "seeded {} products, {} conversations ({} events) into {}",
        report.products,
        report.conversations,
        report.events,
        api.store().path().display()
    );
    if conversations > 0 {
        let started = std::time::Instant::now();
        let scale = closer_app::demo::seed_scale(
            api.store(),
            conversations,
            messages,
            closer_app::system_clock(),
        )?;
        println!(
            "added {} synthetic conversations ({} messages) in {:.1} s",
            scale.conversations,
            scale.events,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
