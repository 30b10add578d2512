//! CRM sync as the app wires it (the adapters and the relay are tested against a real BottleCRM
//! in the crm crate): a lead change is queued for the CRM in the same write, the status counts
//! it, a CRM that is down leaves it pending with the error shown, and credentials go to the OS
//! keyring or fail with a clear error — never anywhere else.

use std::time::Duration;

use closer_app::args::SetLeadFieldArgs;
use closer_app::crm::{CrmSecret, CrmSettings};
use closer_app::{Api, DataDir, ErrorCode, Options};

fn clock() -> i64 {
    closer_app::system_clock()
}

fn open(dir: &std::path::Path) -> Api {
    Api::open(Options {
        data_dir: DataDir::at(dir),
        seed_demo: true,
        clock,
        models_dir: dir.join("models"),
    })
    .expect("api opens")
}

#[test]
fn a_lead_change_waits_in_the_outbox_while_the_crm_is_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = open(dir.path());
    assert_eq!(api.crm_status().expect("status").crm, None);
    let bad = api.configure_crm(CrmSettings::Webhook { url: "ftp://example".into() });
    assert_eq!(bad.expect_err("not http").code, ErrorCode::InvalidArgument);

    // Nothing listens on this port: every delivery fails and is retried later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    api.configure_crm(CrmSettings::Webhook { url: format!("http://127.0.0.1:{port}/hook") })
        .expect("configure");
    assert_eq!(
        api.crm_settings().expect("settings").map(|s| matches!(s, CrmSettings::Webhook { .. })),
        Some(true)
    );

    let conversation = api.store().list_conversations().expect("list")[0].id;
    api.set_lead_field(SetLeadFieldArgs {
        conversation_id: conversation,
        field: "email".into(),
        value: "buyer@example.com".into(),
    })
    .expect("set");
    let queued = api.crm_status().expect("status");
    // (A lead's waiting upsert is replaced by the newer one: one row per lead at most.)
    assert!(queued.pending >= 1, "the change is queued with the lead write");

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    assert!(api.start_crm_relay(runtime.handle()).expect("relay starts"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let status = api.crm_status().expect("status");
        if status.last_error.is_some() || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.running);
    assert_eq!(status.crm.as_deref(), Some("webhook"));
    assert!(status.last_error.is_some(), "the failure is shown: {status:?}");
    assert!(status.pending >= queued.pending, "nothing is lost while the CRM is down");
    assert_eq!(status.dead, 0, "a CRM that is down is retried, not dead-lettered");
    api.stop_crm_relay();
}

#[test]
fn a_credential_goes_to_the_keyring_or_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = open(dir.path());
    assert_eq!(
        api.set_crm_credential(CrmSecret::WebhookSecret, "  ").expect_err("empty").code,
        ErrorCode::InvalidArgument
    );
    match api.set_crm_credential(CrmSecret::WebhookSecret, "s3cret-canary-token") {
        // A Secret Service is running (a desktop session): the secret is there and nowhere else.
        Ok(()) => {
            let db = std::fs::read(dir.path().join(closer_store::DB_FILE)).expect("the database");
            assert!(!String::from_utf8_lossy(&db).contains("s3cret-canary-token"));
        }
        // No Secret Service (CI has no D-Bus session here): a typed error, no fallback store.
        Err(e) => {
            assert!(matches!(e.code, ErrorCode::Keyring | ErrorCode::CrmNotConfigured), "{e:?}")
        }
    }
}

/// Set inside the private D-Bus session the test below starts.
const KEYRING_CHILD: &str = "CLOSER_APP_KEYRING_CHILD";
const CANARY: &str = "bcrm_pat_CANARY_7f3a9c";

/// The canary token goes into the real Secret Service (gnome-keyring in a private D-Bus session)
/// and appears 0 times in the database file, its WAL, the log files, and every IPC reply the
/// console can get about the CRM — while the relay runs and uses it.
#[test]
fn a_crm_token_lives_only_in_the_keyring() {
    let exe = std::env::current_exe().expect("exe");
    let script = format!(
        "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; \
         exec '{}' --exact keyring_child --nocapture",
        exe.display()
    );
    let home = tempfile::tempdir().expect("home");
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env(KEYRING_CHILD, home.path())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("xdg"))
        .env("RUST_LOG", "debug")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("dbus-run-session (apt: dbus, gnome-keyring)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CANARY-CHILD-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(CANARY) && !String::from_utf8_lossy(&out.stderr).contains(CANARY));
    // Everything the child wrote to disk (database, WAL, logs) is under its data directory.
    let mut scanned = 0;
    let mut stack = vec![home.path().join("data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(CANARY),
                    "the token is in {}",
                    path.display()
                );
                scanned += 1;
            }
        }
    }
    assert!(scanned >= 2, "the database and a log file were scanned ({scanned})");
}

#[test]
fn keyring_child() {
    let Some(home) = std::env::var_os(KEYRING_CHILD) else {
        return; // the work happens in the D-Bus session started above
    };
    let data = std::path::Path::new(&home).join("data");
    let data_dir = DataDir::at(&data);
    let _logs = closer_app::logging::init(&data_dir, "closer-test");
    let api = open(&data);
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    api.configure_crm(CrmSettings::Webhook { url: format!("http://{port}/hook") })
        .expect("configure");
    api.set_crm_credential(CrmSecret::WebhookSecret, CANARY).expect("the keyring takes the token");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    assert!(api.start_crm_relay(runtime.handle()).expect("relay"));
    let conversation = api.store().list_conversations().expect("list")[0].id;
    api.set_lead_field(SetLeadFieldArgs {
        conversation_id: conversation,
        field: "email".into(),
        value: "canary@example.com".into(),
    })
    .expect("set");
    std::thread::sleep(Duration::from_secs(2));
    // The IPC replies about the CRM.
    let replies = [
        serde_json::to_string(&api.crm_status().expect("status")).expect("json"),
        serde_json::to_string(&api.crm_settings().expect("settings")).expect("json"),
        serde_json::to_string(&api.crm_dead_letters().expect("dead")).expect("json"),
    ];
    for reply in &replies {
        assert!(!reply.contains(CANARY), "{reply}");
    }
    api.stop_crm_relay();
    drop(runtime);
    println!("CANARY-CHILD-OK");
}
