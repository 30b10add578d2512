//! `closer serve`: the customer channels headless — the chat page and visitor WebSockets, the
//! webhook (with `--webhook-secret-env`), and with `--demo` the simulated customers answered by
//! the AI in auto mode. Prints the chat page's address and, every few seconds, what came in.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use closer_app::live::ChannelSettings;
use closer_app::{Api, ApiError, Options};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port of the chat page (0: any free one).
    #[arg(long, default_value_t = closer_app::live::DEMO_PORT)]
    port: u16,
    /// Listen on every interface so customers on the local network can chat (default: 127.0.0.1).
    #[arg(long)]
    lan: bool,
    /// Another origin allowed to open the chat (a site embedding it); repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Name of the environment variable holding the webhook's shared secret (enables the webhook).
    #[arg(long, value_name = "VAR")]
    webhook_secret_env: Option<String>,
    /// Where replies to a webhook platform's customers are posted, signed with the webhook
    /// secret (see the channels README); repeatable, one per platform.
    #[arg(long = "webhook-callback", value_name = "PLATFORM=URL", requires = "webhook_secret_env")]
    webhook_callbacks: Vec<String>,
    /// Demo mode: seed the demo data if the store is empty, and start the simulated customers.
    #[arg(long)]
    demo: bool,
    /// With --demo: simulated customers at test speed instead of a person's.
    #[arg(long, requires = "demo")]
    fast: bool,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long = "for", value_name = "SECS")]
    duration: Option<u64>,
}

pub fn main(args: ServeArgs, mut options: Options) -> Result<ExitCode, ApiError> {
    options.seed_demo = args.demo;
    let api = Api::open(options)?;
    api.start_nlu();
    let live = if args.demo {
        let pace = if args.fast {
            closer_app::live::Pace::fast()
        } else {
            closer_app::live::Pace::human()
        };
        api.start_demo_channels_with(pace)?
    } else {
        let webhook_secret = match &args.webhook_secret_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| ApiError::invalid(format!("${var} is not set")))?
                    .into_bytes(),
            ),
            None => None,
        };
        api.start_channels(ChannelSettings {
            port: args.port,
            lan: args.lan,
            allowed_origins: args.allow_origins,
            webhook_secret,
            webhook_callbacks: args
                .webhook_callbacks
                .iter()
                .map(|c| match c.split_once('=') {
                    Some((platform, url)) => Ok(closer_app::live::Callback {
                        platform: platform.trim().to_owned(),
                        url: url.trim().to_owned(),
                    }),
                    None => Err(ApiError::invalid(format!("--webhook-callback {c}: PLATFORM=URL"))),
                })
                .collect::<Result<_, _>>()?,
            ..ChannelSettings::default()
        })?
    };
    println!("chat page: {}", live.url());
    let started = Instant::now();
    let until = args.duration.map(Duration::from_secs);
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let s = live.stats();
        let mut line = format!(
            "[{:>4}s] messages queued {} handled {} failed {} duplicates {}",
            started.elapsed().as_secs(),
            s.queued.load(Ordering::Relaxed),
            s.handled.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            s.duplicates.load(Ordering::Relaxed),
        );
        if let Some(p) = live.simulator_progress() {
            line.push_str(&format!(
                "; simulated customers arrived {} sent {} answered {} unanswered {}",
                p.arrived.load(Ordering::Relaxed),
                p.sent.load(Ordering::Relaxed),
                p.replies.load(Ordering::Relaxed),
                p.timeouts.load(Ordering::Relaxed),
            ));
        }
        println!("{line}");
        if until.is_some_and(|u| started.elapsed() >= u) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
