//! The desktop shell: a thin Tauri 2 layer over `closer-app`. It parses the command line, starts
//! logging, opens the API, and registers the IPC commands.
//!
//! Key decision: commands are one call deep (see `commands.rs`); everything that can be tested
//! without a window lives in the engine crates, which know nothing of Tauri.

mod commands;

include!("command_list.rs");

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use closer_app::{Api, DataDir, Options};

/// Closer, the offline-first AI sales console.
#[derive(Debug, Parser)]
#[command(name = "closer-desktop", version)]
struct Cli {
    /// Data directory (default: $CLOSER_DATA_DIR, else the OS app-data directory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Do not seed the demo data into an empty database.
    #[arg(long)]
    no_demo: bool,
    /// Demo: start the chat-widget server and simulated customers who chat in by themselves
    /// (their conversations in auto mode), so the inbox comes alive without a network.
    #[arg(long)]
    simulate: bool,
}

/// Starts the app; returns when the window closes.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // Before logging starts its writer thread: this sets an environment variable.
    closer_app::console::pin_compute_threads(None);
    let data_dir = DataDir::resolve(cli.data_dir);
    let _logs = closer_app::logging::init(&data_dir, "closer");
    tracing::info!(data_dir = %data_dir.path().display(), "starting Closer");
    let api = match Api::open(Options {
        data_dir,
        seed_demo: !cli.no_demo,
        clock: closer_app::system_clock,
        models_dir: closer_app::default_models_dir(),
    }) {
        Ok(api) => api,
        Err(e) => {
            // A damaged database must not take the user's data down with a panic: say what and
            // where, and leave the file alone.
            tracing::error!(code = ?e.code, "cannot open the store: {}", e.message);
            eprintln!("Closer cannot start: {}", e.message);
            return ExitCode::from(3);
        }
    };
    if cfg!(target_os = "linux") && !has_display() {
        eprintln!(
            "Closer needs a display (X11 or Wayland). On a headless machine run `bash .ci/demo`, \
             which starts a virtual one, or use the `closer` command line."
        );
        return ExitCode::from(4);
    }
    // Load the encoder and the intent and sentiment heads in the background, so the first
    // message does not wait for them.
    api.start_nlu();
    // And the model that writes suggestions (the template stands in until it is loaded).
    api.start_models();
    // The CRM relay (and the retention job) on Tauri's async runtime.
    api.start_background(tauri::async_runtime::handle().inner().clone());
    // Kept until the window closes: dropping it stops the channels.
    let _live = if cli.simulate {
        match api.start_demo_channels() {
            Ok(live) => {
                tracing::info!(url = %live.url(), "demo channels and simulated customers started");
                Some(live)
            }
            Err(e) => {
                tracing::error!(code = ?e.code, "the demo channels cannot start: {}", e.message);
                None
            }
        }
    } else {
        None
    };
    let events = api.subscribe();
    let result = tauri::Builder::default()
        .manage(api)
        .setup(move |app| {
            forward_events(app.handle().clone(), events);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_conversations,
            commands::open_conversation,
            commands::send_reply,
            commands::set_lead_field,
            commands::set_mode,
            commands::list_products,
            commands::list_models,
            commands::import_model,
            commands::analyze_message,
            commands::list_intents,
            commands::add_intent_example,
            commands::retrain_intents,
            commands::adopt_intent_head,
            commands::receive_customer_message,
            commands::send_suggestion,
            commands::reject_suggestion,
            commands::conversation_details,
            commands::take_over,
            commands::hand_back,
            commands::strategy_overview,
            commands::save_strategy_draft,
            commands::publish_strategy,
            commands::rollback_strategy,
            commands::test_strategy_draft,
            commands::dashboard,
            commands::model_status,
            commands::choose_model,
            commands::fetch_model,
            commands::cancel_fetch,
            commands::configure_remote_model,
            commands::set_remote_model_key,
            commands::crm_settings,
            commands::configure_crm,
            commands::set_crm_credential,
            commands::crm_status,
            commands::crm_dead_letters,
            commands::retry_crm_dead_letter,
            commands::export_lead,
            commands::erase_lead,
            commands::retention,
            commands::set_retention,
            commands::purge_now,
            commands::regenerate_suggestions,
            commands::search_messages,
            commands::message_storage,
            commands::set_message_storage,
            commands::channel_settings,
            commands::configure_channels,
            commands::set_webhook_secret,
        ])
        .run(tauri::generate_context!("tauri.conf.json"));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the window system failed");
            ExitCode::FAILURE
        }
    }
}

/// The event the window listens to for [`closer_app::events::AppEvent`]s.
pub const APP_EVENT: &str = "closer://app-event";

/// Forwards the engine's events (conversation updated, suggestions streaming) to the window on a
/// thread of its own, until the app exits.
fn forward_events(
    handle: tauri::AppHandle,
    events: std::sync::mpsc::Receiver<closer_app::events::AppEvent>,
) {
    use tauri::Emitter;
    let spawned = std::thread::Builder::new().name("app-events".into()).spawn(move || {
        for event in events {
            if let Err(e) = handle.emit(APP_EVENT, &event) {
                tracing::debug!(error = %e, "an event did not reach the window");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot forward events to the window: it will poll");
    }
}

fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}
