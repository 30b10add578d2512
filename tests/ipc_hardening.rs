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
