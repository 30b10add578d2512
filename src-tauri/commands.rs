//! The IPC commands. Each takes the API from state and its decoded arguments, and makes one call.
//! Arguments arrive as raw bytes (the console sends `Uint8Array` bodies) and are decoded by
//! `closer_app::args`, so malformed, oversized or invalid-Unicode input becomes a typed
//! `{ code, message }` error instead of a string from the IPC layer.

use closer_app::args::{
    self, AddIntentExampleArgs, AdoptIntentHeadArgs, AnalyzeMessageArgs, ChooseModelArgs,
    ConfigureChannelsArgs, ConfigureCrmArgs, ConfigureRemoteModelArgs, ConversationArgs,
    CustomerMessageArgs, DeadLetterArgs, EraseLeadConfirmedArgs, FetchModelArgs, ImportModelArgs,
    NoArgs, RejectSuggestionArgs, RollbackStrategyArgs, SaveStrategyDraftArgs, SendReplyArgs,
    SendSuggestionArgs, SetCrmCredentialArgs, SetLeadFieldArgs, SetModeArgs, SetRemoteModelKeyArgs,
    SetWebhookSecretArgs, TestStrategyArgs, Validate,
};
use closer_app::console::{
    ChannelsView, ConversationDetails, DashboardView, ModelStatusView, RegeneratedView,
    StrategyOverview, StrategyTestSample,
};
use closer_app::crm::{CrmSettings, CrmStatusView, DeadLetterView};
use closer_app::dto::{
    AnalysisView, AppInfo, ConversationSummary, ConversationView, IntentExampleAdded,
    IntentHeadView, IntentsView, LeadExportView, LeadFieldSaved, ModelView, ProductView,
    RetentionView, RetrainResult,
};
use closer_app::engine::TurnView;
use closer_app::privacy::{
    ErasureView, ExportLeadArgs, MessageStorageView, PurgeView, SetMessageStorageArgs,
    SetRetentionArgs,
};
use closer_app::search::{SearchHitView, SearchMessagesArgs};
use closer_app::{Api, ApiError};
use serde::de::DeserializeOwned;
use tauri::ipc::{CommandArg, CommandItem, InvokeBody, InvokeError};
use tauri::{Runtime, State};

/// A command's arguments, decoded and validated by the app crate.
pub struct Args<T>(T);

impl<'de, R: Runtime, T: DeserializeOwned + Validate> CommandArg<'de, R> for Args<T> {
    fn from_command(command: CommandItem<'de, R>) -> Result<Self, InvokeError> {
        let decoded = match command.message.payload() {
            InvokeBody::Raw(bytes) if bytes.is_empty() => args::decode(b"{}"),
            InvokeBody::Raw(bytes) => args::decode(bytes),
            InvokeBody::Json(value) => args::decode_value(value.clone()),
        };
        decoded.map(Args).map_err(InvokeError::from)
    }
}

type Reply<T> = Result<T, ApiError>;

#[tauri::command]
pub fn app_info(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<AppInfo> {
    api.app_info(args.0)
}

#[tauri::command]
pub fn list_conversations(
    api: State<'_, Api>,
    args: Args<NoArgs>,
) -> Reply<Vec<ConversationSummary>> {
    api.list_conversations(args.0)
}

#[tauri::command]
pub fn open_conversation(
    api: State<'_, Api>,
    args: Args<ConversationArgs>,
) -> Reply<ConversationView> {
    api.open_conversation(args.0)
}

#[tauri::command]
pub fn send_reply(api: State<'_, Api>, args: Args<SendReplyArgs>) -> Reply<ConversationView> {
    api.send_reply(args.0)
}

#[tauri::command]
pub fn set_lead_field(api: State<'_, Api>, args: Args<SetLeadFieldArgs>) -> Reply<LeadFieldSaved> {
    api.set_lead_field(args.0)
}

#[tauri::command]
pub fn set_mode(api: State<'_, Api>, args: Args<SetModeArgs>) -> Reply<ConversationView> {
    api.set_mode(args.0)
}

#[tauri::command]
pub fn list_products(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<Vec<ProductView>> {
    api.list_products(args.0)
}

// Models touch the disk (an import copies and may re-quantize hundreds of megabytes): these run
// off the main thread so the window stays responsive.

#[tauri::command(async)]
pub fn list_models(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<Vec<ModelView>> {
    api.list_models(args.0)
}

#[tauri::command(async)]
pub fn import_model(api: State<'_, Api>, args: Args<ImportModelArgs>) -> Reply<ModelView> {
    api.import_model(args.0)
}

// The NLU embeds text (milliseconds to tens of milliseconds) and trains heads (seconds): off the
// main thread too. While it loads, analysis answers `nlu_not_ready` instead of waiting.

#[tauri::command(async)]
pub fn analyze_message(api: State<'_, Api>, args: Args<AnalyzeMessageArgs>) -> Reply<AnalysisView> {
    api.analyze_message(args.0)
}

#[tauri::command(async)]
pub fn list_intents(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<IntentsView> {
    api.list_intents(args.0)
}

#[tauri::command(async)]
pub fn add_intent_example(
    api: State<'_, Api>,
    args: Args<AddIntentExampleArgs>,
) -> Reply<IntentExampleAdded> {
    api.add_intent_example(args.0)
}

#[tauri::command(async)]
pub fn retrain_intents(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<RetrainResult> {
    api.retrain_intents(args.0)
}

#[tauri::command(async)]
pub fn adopt_intent_head(
    api: State<'_, Api>,
    args: Args<AdoptIntentHeadArgs>,
) -> Reply<IntentHeadView> {
    api.adopt_intent_head(args.0)
}

// The live path. A customer message runs the NLU and the model (seconds): off the main thread.
// Its suggestions stream to the window as `AppEvent`s (see `lib.rs`), like those of a message
// that came in through a channel.

#[tauri::command(async)]
pub fn receive_customer_message(
    api: State<'_, Api>,
    args: Args<CustomerMessageArgs>,
) -> Reply<TurnView> {
    api.receive_customer_message(args.0.conversation_id, &args.0.text, &mut |_| {})
}

#[tauri::command]
pub fn send_suggestion(
    api: State<'_, Api>,
    args: Args<SendSuggestionArgs>,
) -> Reply<ConversationView> {
    api.send_suggestion(args.0.conversation_id, &args.0.id, &args.0.text)
}

#[tauri::command]
pub fn reject_suggestion(
    api: State<'_, Api>,
    args: Args<RejectSuggestionArgs>,
) -> Reply<ConversationView> {
    api.reject_suggestion(args.0.conversation_id, &args.0.id, &args.0.reason)
}

#[tauri::command]
pub fn conversation_details(
    api: State<'_, Api>,
    args: Args<ConversationArgs>,
) -> Reply<ConversationDetails> {
    api.conversation_details(args.0)
}

#[tauri::command]
pub fn take_over(api: State<'_, Api>, args: Args<ConversationArgs>) -> Reply<ConversationDetails> {
    api.take_over(args.0)
}

#[tauri::command]
pub fn hand_back(api: State<'_, Api>, args: Args<ConversationArgs>) -> Reply<ConversationDetails> {
    api.hand_back(args.0)
}

// The strategy editor.

#[tauri::command]
pub fn strategy_overview(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<StrategyOverview> {
    api.strategy_overview(args.0)
}

#[tauri::command]
pub fn save_strategy_draft(
    api: State<'_, Api>,
    args: Args<SaveStrategyDraftArgs>,
) -> Reply<StrategyOverview> {
    api.save_strategy_draft(args.0)
}

#[tauri::command]
pub fn publish_strategy(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<StrategyOverview> {
    api.publish_strategy(args.0)
}

#[tauri::command]
pub fn rollback_strategy(
    api: State<'_, Api>,
    args: Args<RollbackStrategyArgs>,
) -> Reply<StrategyOverview> {
    api.rollback_strategy(args.0)
}

#[tauri::command(async)]
pub fn test_strategy_draft(
    api: State<'_, Api>,
    args: Args<TestStrategyArgs>,
) -> Reply<Vec<StrategyTestSample>> {
    api.test_strategy_draft(args.0)
}

// Dashboards replay every conversation: off the main thread.

#[tauri::command(async)]
pub fn dashboard(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<DashboardView> {
    api.dashboard(args.0)
}

#[tauri::command]
pub fn model_status(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<ModelStatusView> {
    api.model_status(args.0)
}

#[tauri::command(async)]
pub fn choose_model(api: State<'_, Api>, args: Args<ChooseModelArgs>) -> Reply<ModelStatusView> {
    api.choose_local_model(args.0)
}

// Fetching runs on a thread of its own; the status reports its progress.
#[tauri::command(async)]
pub fn fetch_model(api: State<'_, Api>, args: Args<FetchModelArgs>) -> Reply<ModelStatusView> {
    api.fetch_model(args.0)
}

// Sets the running fetch's stop flag; the fetch thread stops and reports `cancelled`.
#[tauri::command(async)]
pub fn cancel_fetch(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<ModelStatusView> {
    api.cancel_fetch(args.0)
}

// Connecting to the server is checked on the loader's thread; the status says how it went.
#[tauri::command(async)]
pub fn configure_remote_model(
    api: State<'_, Api>,
    args: Args<ConfigureRemoteModelArgs>,
) -> Reply<ModelStatusView> {
    api.configure_remote_model(args.0)
}

// The key goes one way, into the OS keyring: no command returns it.
#[tauri::command(async)]
pub fn set_remote_model_key(
    api: State<'_, Api>,
    args: Args<SetRemoteModelKeyArgs>,
) -> Reply<ModelStatusView> {
    api.set_remote_model_key(args.0)
}

// The CRM connection. Credentials go one way, into the OS keyring: no command returns one.

#[tauri::command]
pub fn crm_settings(api: State<'_, Api>, _args: Args<NoArgs>) -> Reply<Option<CrmSettings>> {
    api.crm_settings()
}

#[tauri::command]
pub fn configure_crm(api: State<'_, Api>, args: Args<ConfigureCrmArgs>) -> Reply<CrmStatusView> {
    api.configure_crm_relay(args.0)
}

// The keyring may ask the desktop to unlock it: off the main thread.
#[tauri::command(async)]
pub fn set_crm_credential(
    api: State<'_, Api>,
    args: Args<SetCrmCredentialArgs>,
) -> Reply<CrmStatusView> {
    api.store_crm_credential(args.0)
}

#[tauri::command]
pub fn crm_status(api: State<'_, Api>, _args: Args<NoArgs>) -> Reply<CrmStatusView> {
    api.crm_status()
}

#[tauri::command]
pub fn crm_dead_letters(api: State<'_, Api>, _args: Args<NoArgs>) -> Reply<Vec<DeadLetterView>> {
    api.crm_dead_letters()
}

#[tauri::command]
pub fn retry_crm_dead_letter(
    api: State<'_, Api>,
    args: Args<DeadLetterArgs>,
) -> Reply<Vec<DeadLetterView>> {
    api.retry_dead_letter(args.0)
}

// Privacy: a customer's export and erasure, retention. These write files and rewrite tables
// (erasure checkpoints the WAL): off the main thread.

#[tauri::command(async)]
pub fn export_lead(api: State<'_, Api>, args: Args<ExportLeadArgs>) -> Reply<LeadExportView> {
    api.export_lead_file(args.0)
}

#[tauri::command(async)]
pub fn erase_lead(api: State<'_, Api>, args: Args<EraseLeadConfirmedArgs>) -> Reply<ErasureView> {
    api.erase_lead_confirmed(args.0)
}

#[tauri::command]
pub fn retention(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<RetentionView> {
    api.retention_view(args.0)
}

#[tauri::command]
pub fn set_retention(api: State<'_, Api>, args: Args<SetRetentionArgs>) -> Reply<RetentionView> {
    api.set_retention_view(args.0)
}

#[tauri::command(async)]
pub fn purge_now(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<PurgeView> {
    api.purge_now(args.0)
}

#[tauri::command]
pub fn message_storage(api: State<'_, Api>, _args: Args<NoArgs>) -> Reply<MessageStorageView> {
    api.message_storage()
}

#[tauri::command]
pub fn set_message_storage(
    api: State<'_, Api>,
    args: Args<SetMessageStorageArgs>,
) -> Reply<MessageStorageView> {
    api.set_message_storage_view(args.0)
}

// New suggestions for the current customer message: the model writes (seconds), streamed to
// the window as `AppEvent`s like any turn's.

#[tauri::command(async)]
pub fn regenerate_suggestions(
    api: State<'_, Api>,
    args: Args<ConversationArgs>,
) -> Reply<RegeneratedView> {
    api.regenerate_suggestions(args.0, &mut |_| {})
}

// Full-text search over the messages (the inbox's search box). A short query scans with LIKE:
// off the main thread.

#[tauri::command(async)]
pub fn search_messages(
    api: State<'_, Api>,
    args: Args<SearchMessagesArgs>,
) -> Reply<Vec<SearchHitView>> {
    api.search_messages(args.0)
}

// The customer channels (chat widget and webhook) run from the saved settings. Starting and
// stopping a server joins its threads: off the main thread.

#[tauri::command]
pub fn channel_settings(api: State<'_, Api>, args: Args<NoArgs>) -> Reply<ChannelsView> {
    api.channel_settings(args.0)
}

#[tauri::command(async)]
pub fn configure_channels(
    api: State<'_, Api>,
    args: Args<ConfigureChannelsArgs>,
) -> Reply<ChannelsView> {
    api.configure_channels(args.0)
}

#[tauri::command(async)]
pub fn set_webhook_secret(
    api: State<'_, Api>,
    args: Args<SetWebhookSecretArgs>,
) -> Reply<ChannelsView> {
    api.set_webhook_secret(args.0)
}
