// The app's IPC commands, in one list shared by build.rs (which generates an `allow-<command>`
// permission for each) and the shell's invoke handler. tests/shell_manifest.rs checks that this
// list, the #[tauri::command] functions, the capability and the console's api.ts agree.
pub const COMMANDS: &[&str] = &[
    "app_info",
    "list_conversations",
    "open_conversation",
    "send_reply",
    "set_lead_field",
    "set_mode",
    "list_products",
    "list_models",
    "import_model",
    "analyze_message",
    "list_intents",
    "add_intent_example",
    "retrain_intents",
    "adopt_intent_head",
];
