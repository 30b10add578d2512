//! IPC hardening (issue 9), beyond `shell_manifest.rs`'s list agreement: every command's input
//! goes through `closer_app::args::decode` (an `Args<T>` parameter is the only argument besides
//! the API state, so no command takes typed arguments Tauri would deserialize itself, without the
//! size limits and the Unicode check); commands stay one call deep; the capability set cannot
//! reach a command any other way (one capability file, the main window only, no remote URLs, no
//! plugin grants); and the window settings have no escape hatch (no dev CSP, no dangerous flags,
//! no asset protocol, prototype frozen).

use std::path::Path;

include!("../src-tauri/command_list.rs");

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Each `#[tauri::command]` function: its name, its parameter list and its body.
fn commands() -> Vec<(String, String, String)> {
    let source = read("src-tauri/commands.rs");
    let mut out = Vec::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find("#[tauri::command") {
        rest = &rest[at..];
        let sig = rest.find("pub fn ").expect("a fn after #[tauri::command]");
        let after = &rest[sig + "pub fn ".len()..];
        let name = after.split('(').next().unwrap_or_default().trim().to_owned();
        let open = after.find('(').expect("params");
        let close = after.find(") ->").or_else(|| after.find(')')).expect("end of params");
        let params = after[open + 1..close].to_owned();
        let body_start = after.find('{').expect("body");
        // Bodies are short: up to the first line that is exactly "}".
        let body_end =
            after[body_start..].find("\n}").map(|i| body_start + i).expect("end of body");
        let body = after[body_start + 1..body_end].to_owned();
        out.push((name, params, body));
        rest = &after[body_end..];
    }
    out
}

/// A parameter list split at the commas outside `<…>`.
fn top_level(params: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0i32;
    for c in params.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
}

#[test]
fn every_command_takes_only_the_api_and_decoded_args() {
    let commands = commands();
    assert_eq!(commands.len(), COMMANDS.len(), "one handler per listed command");
    for (name, params, _) in &commands {
        let params = top_level(params);
        assert!(
            params.first().is_some_and(|p| p.starts_with("api: State<'_, Api>")),
            "{name}: the first parameter is the API state ({params:?})"
        );
        for p in &params[1..] {
            let ty = p.split_once(':').map(|(_, t)| t.trim()).unwrap_or_default();
            assert!(
                ty.starts_with("Args<"),
                "{name}: parameter {p:?} is not decoded by closer_app::args (use Args<T>)"
            );
        }
        assert!(params.len() <= 2, "{name}: one Args<T> at most ({params:?})");
    }
}

#[test]
fn the_args_extractor_decodes_every_body_through_the_app() {
    let source = read("src-tauri/commands.rs");
    let start = source.find("fn from_command").expect("the Args extractor");
    let body = &source[start..start + source[start..].find("\n    }").expect("end")];
    assert!(body.contains("args::decode(bytes)"), "raw bodies go through args::decode");
    assert!(body.contains("args::decode_value("), "JSON bodies go through args::decode_value");
    assert!(!body.contains("serde_json::from"), "no decoding around the app's checks");
}

#[test]
fn commands_are_one_call_deep() {
    for (name, _, body) in commands() {
        let statements = body.matches(';').count();
        assert!(statements <= 1, "{name}: {statements} statements; move logic into closer_app");
        assert!(body.contains("api."), "{name}: calls the API");
        for banned in ["std::fs", "File::", "thread::spawn", "loop", "for ", "while "] {
            assert!(!body.contains(banned), "{name}: {banned} in a command body");
        }
    }
}

#[test]
fn one_capability_for_the_main_window_and_no_remote_access() {
    let files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/capabilities"))
            .expect("capabilities dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(files, ["default.json"], "another capability file could grant commands elsewhere");
    let capability: serde_json::Value =
        serde_json::from_str(&read("src-tauri/capabilities/default.json")).expect("json");
    assert!(capability.get("remote").is_none(), "no remote origin may call commands");
    assert!(capability.get("webviews").is_none(), "granted by window label only");
    assert_eq!(capability["windows"], serde_json::json!(["main"]));
    for p in capability["permissions"].as_array().expect("permissions") {
        let p = p.as_str().expect("a permission name, not an object with scopes");
        assert!(!p.contains('*'), "wildcard permission {p}");
        assert!(p.starts_with("allow-") || p == "core:event:default", "grant {p}");
    }
}

#[test]
fn no_escape_hatches_in_the_window_settings() {
    let text = read("tauri.conf.json");
    let conf: serde_json::Value = serde_json::from_str(&text).expect("tauri.conf.json");
    let security = &conf["app"]["security"];
    assert_eq!(security["freezePrototype"], true);
    assert!(security.get("devCsp").is_none(), "a dev CSP would loosen the policy");
    assert!(security.get("assetProtocol").is_none(), "no asset protocol (file access)");
    assert!(security.get("capabilities").is_none(), "capabilities live in src-tauri/capabilities");
    assert!(!text.contains("dangerous"), "no dangerous* settings");
    for w in conf["app"]["windows"].as_array().expect("windows") {
        assert!(
            w.get("url").is_none_or(|u| !u.as_str().unwrap_or("").starts_with("http")),
            "a window on a remote URL"
        );
    }
    assert_eq!(conf["app"]["withGlobalTauri"], false);
}

/// Set inside the private D-Bus session the test below starts (its data directory).
const KEYRING_CHILD: &str = "CLOSER_IPC_KEYRING_CHILD";
const CANARY: &str = "crm_tok_IPC_CANARY_9d41e2";

/// A CRM token goes one way. It enters through the IPC decoder into the real Secret Service
/// (gnome-keyring in a private D-Bus session), and then appears in no reply the window can get:
/// every command with a reply is called as the shell calls it and its JSON searched; the
/// arguments' Debug form and the errors about a bad credential do not echo it either.
#[test]
fn a_crm_token_never_comes_back_over_ipc() {
    let exe = std::env::current_exe().expect("exe");
    let script = format!(
        "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; \
         exec '{}' --exact ipc_keyring_child --nocapture",
        exe.display()
    );
    let home = tempfile::tempdir().expect("home");
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env(KEYRING_CHILD, home.path())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("xdg"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("dbus-run-session (apt: dbus, gnome-keyring)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("IPC-CANARY-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(CANARY), "the token was printed");
}

#[test]
fn ipc_keyring_child() {
    use closer_app::args::{self, ConversationArgs, NoArgs, SetCrmCredentialArgs};
    let Some(home) = std::env::var_os(KEYRING_CHILD) else {
        return; // the work happens in the D-Bus session started above
    };
    let data = Path::new(&home).join("data");
    let api = closer_app::Api::open(closer_app::Options {
        data_dir: closer_app::DataDir::at(&data),
        seed_demo: true,
        clock: closer_app::system_clock,
        models_dir: data.join("models"),
    })
    .expect("api");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    api.start_background(runtime.handle().clone());

    // As the window sends them: raw JSON bodies through the app's decoder.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    let configure = format!(r#"{{"kind":"webhook","url":"http://{port}/hook"}}"#);
    let mut replies = vec![json(
        api.configure_crm_relay(args::decode(configure.as_bytes()).expect("configure args")),
    )];
    let body = format!(r#"{{"secret":"webhook_secret","value":"{CANARY}"}}"#);
    let credential: SetCrmCredentialArgs = args::decode(body.as_bytes()).expect("credential args");
    assert!(!format!("{credential:?}").contains(CANARY), "Debug prints the token");
    let stored = api.store_crm_credential(credential).expect("the keyring takes the token");
    replies.push(json(Ok(stored)));
    for bad in [format!("{CANARY}\\u0007"), format!("{CANARY}{}", "x".repeat(5000))] {
        let body = format!(r#"{{"secret":"webhook_secret","value":"{bad}"}}"#);
        let err = args::decode::<SetCrmCredentialArgs>(body.as_bytes()).expect_err("refused");
        replies.push(serde_json::to_string(&err).expect("json"));
    }

    // The webhook's shared secret goes the same one way.
    let body = format!(r#"{{"value":"{CANARY}-webhook"}}"#);
    let webhook: args::SetWebhookSecretArgs = args::decode(body.as_bytes()).expect("secret args");
    assert!(!format!("{webhook:?}").contains(CANARY), "Debug prints the secret");
    let channels = api.set_webhook_secret(webhook).expect("the keyring takes the secret");
    assert!(channels.webhook_secret_stored);
    replies.push(json(Ok(channels)));

    // The remote model server's API key goes the same one way.
    let body = format!(r#"{{"value":"{CANARY}-model"}}"#);
    let key: args::SetRemoteModelKeyArgs = args::decode(body.as_bytes()).expect("key args");
    assert!(!format!("{key:?}").contains(CANARY), "Debug prints the key");
    let status = api.set_remote_model_key(key).expect("the keyring takes the key");
    assert!(status.remote.as_ref().is_some_and(|r| r.key_stored));
    replies.push(json(Ok(status)));
    let remote = format!(r#"{{"baseUrl":"http://{port}/v1","model":"m"}}"#);
    replies
        .push(json(api.configure_remote_model(args::decode(remote.as_bytes()).expect("remote"))));

    // Every reply the window can ask for, with the relay running and using the token.
    let id = api.list_conversations(NoArgs {}).expect("inbox")[0].id;
    let conversation = || ConversationArgs { conversation_id: id };
    api.set_lead_field(
        args::decode(
            format!(r#"{{"conversationId":{id},"field":"email","value":"a@example.com"}}"#)
                .as_bytes(),
        )
        .expect("field args"),
    )
    .expect("field");
    std::thread::sleep(std::time::Duration::from_secs(2));
    replies.extend([
        json(api.app_info(NoArgs {})),
        json(api.list_conversations(NoArgs {})),
        json(api.open_conversation(conversation())),
        json(api.conversation_details(conversation())),
        json(api.crm_settings()),
        json(api.crm_status()),
        json(api.crm_dead_letters()),
        json(api.retention_view(NoArgs {})),
        json(api.channel_settings(NoArgs {})),
        json(api.message_storage()),
        json(api.strategy_overview(NoArgs {})),
        json(api.model_status(NoArgs {})),
        json(api.list_products(NoArgs {})),
        json(api.dashboard(NoArgs {})),
        json(api.export_lead_file(
            args::decode(format!(r#"{{"conversationId":{id}}}"#).as_bytes()).expect("export"),
        )),
    ]);
    for reply in &replies {
        assert!(!reply.contains(CANARY), "an IPC reply holds the token: {reply}");
    }
    let status: serde_json::Value =
        serde_json::from_str(&json(api.crm_status())).expect("status json");
    assert_eq!(status["crm"], "webhook", "the relay was configured: {status}");
    // The export file itself, written for the user.
    for entry in std::fs::read_dir(data.join("exports")).expect("exports").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("export");
        assert!(!text.contains(CANARY), "the export holds the token");
    }
    api.stop_crm_relay();
    drop(runtime);
    println!("IPC-CANARY-OK ({} replies)", replies.len());
}

/// A reply as the shell sends it: the value's JSON, or the error's `{code, message}`.
fn json<T: serde::Serialize>(reply: Result<T, closer_app::ApiError>) -> String {
    match reply {
        Ok(v) => serde_json::to_string(&v).expect("json"),
        Err(e) => serde_json::to_string(&e).expect("json"),
    }
}
