use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::DataDir;
use crate::privacy::RedactingWriter;

/// Keeps the log file writer alive; drop it last.
#[derive(Debug)]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Logs to stderr and to a daily rolling file `logs/<program>.YYYY-MM-DD.log` in the data directory
/// (the last 14 kept). `RUST_LOG` overrides the default level (`info`). If the file cannot be
/// opened, logs go to stderr only. Every line is redacted ([`RedactingWriter`]): phones, e-mails,
/// WeChat IDs, resident IDs, bank cards and names are masked before they reach either.
pub fn init(data_dir: &DataDir, program: &str) -> LogGuard {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = std::fs::create_dir_all(data_dir.logs());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(RedactingWriter(std::io::stderr))
        .with_filter(filter());
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(program)
        .filename_suffix("log")
        .max_log_files(14)
        .build(data_dir.logs());
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(RedactingWriter(writer))
                .with_filter(filter());
            let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
            LogGuard { _file: Some(guard) }
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(error = %e, dir = %data_dir.logs().display(), "log file unavailable");
            LogGuard { _file: None }
        }
    }
}
