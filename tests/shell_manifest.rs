//! Every app command must be listed once, handled, allowed by the capability and called by the
//! console, and nothing else may be. A command that is registered but not permitted fails only
//! at run time, so the lists are checked here. Also checks the window's security settings.

use std::collections::BTreeSet;
use std::path::Path;

include!("../src-tauri/command_list.rs");

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn listed() -> BTreeSet<String> {
    let set: BTreeSet<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    assert_eq!(set.len(), COMMANDS.len(), "command_list.rs lists a command twice");
    set
}

/// Names of `#[tauri::command] pub fn NAME` in the shell's commands module.
#[test]
fn every_listed_command_has_a_handler_function() {
    let source = read("src-tauri/commands.rs");
    let mut defined = BTreeSet::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        if line.trim().starts_with("#[tauri::command") {
            let next = lines.next().expect("a fn after #[tauri::command]");
            let name = next
                .trim()
                .strip_prefix("pub fn ")
                .and_then(|rest| rest.split('(').next())
                .unwrap_or_else(|| panic!("unexpected command line: {next}"));
            defined.insert(name.to_string());
        }
    }
    assert_eq!(defined, listed());
}

#[test]
fn every_listed_command_is_registered_in_the_invoke_handler() {
    let source = read("src-tauri/lib.rs");
    let start = source.find("generate_handler![").expect("invoke handler");
    let end = start + source[start..].find(']').expect("end of handler list");
    let registered: BTreeSet<String> = source[start + "generate_handler![".len()..end]
        .split(',')
        .map(|s| s.trim().trim_start_matches("commands::").to_string())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(registered, listed());
}

#[test]
fn the_capability_allows_exactly_the_listed_commands() {
    let capability: serde_json::Value =
        serde_json::from_str(&read("src-tauri/capabilities/default.json"))
            .expect("capability json");
    assert_eq!(capability["windows"], serde_json::json!(["main"]));
    let permissions: Vec<String> = capability["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| p.as_str().expect("permission name").to_string())
        .collect();
    let app: BTreeSet<String> = permissions
        .iter()
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    assert_eq!(app, listed());
    // The only other grant is the core event plugin's default set; no fs, shell, http, etc.
    let others: Vec<&String> = permissions.iter().filter(|p| !p.starts_with("allow-")).collect();
    assert_eq!(others, ["core:event:default"]);
}

#[test]
fn the_console_calls_every_command_and_only_those() {
    let api = read("ui/src/lib/api.ts");
    for command in COMMANDS {
        assert!(api.contains(&format!("'{command}'")), "ui/src/lib/api.ts never calls '{command}'");
    }
    assert!(!api.contains("__TAURI__"), "the console must not use the global Tauri object");
}

#[test]
fn the_window_is_locked_down() {
    let conf: serde_json::Value =
        serde_json::from_str(&read("tauri.conf.json")).expect("tauri.conf.json");
    assert_eq!(conf["app"]["withGlobalTauri"], false);
    let csp = conf["app"]["security"]["csp"].as_object().expect("a CSP object");
    assert_eq!(csp["script-src"], "'self'");
    assert_eq!(csp["default-src"], "'self'");
    assert_eq!(csp["object-src"], "'none'");
    for (directive, sources) in csp {
        let sources = sources.as_str().expect("directive string");
        for banned in ["unsafe-eval", "unsafe-inline", "http://*", "https:", "*"] {
            assert!(
                !sources.split_whitespace().any(|s| s.trim_matches('\'') == banned || s == banned),
                "CSP {directive} allows {banned}"
            );
        }
        for source in sources.split_whitespace() {
            if let Some(host) = source.strip_prefix("http://") {
                assert_eq!(host, "ipc.localhost", "CSP {directive} names a remote origin {source}");
            }
            assert!(
                !source.starts_with("https://"),
                "CSP {directive} names a remote origin {source}"
            );
        }
    }
}
