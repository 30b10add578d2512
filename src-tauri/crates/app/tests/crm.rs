//! CRM sync as the app wires it (the adapters and the relay are tested against a real BottleCRM
//! in the crm crate): a lead change is queued for the CRM in the same write, the status counts
//! it, a CRM that is down leaves it pending with the error shown, and credentials go to the OS
//! keyring or fail with a clear error — never anywhere else; values edited in a real BottleCRM
//! come back as CRM-sourced lead fields and are not queued back.

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

// --- values read back from a real BottleCRM ---------------------------------------------------

/// A running BottleCRM: `BOTTLECRM_ENV` (the file `.ci/bottlecrm` writes for the whole run), else
/// one brought up here with the crm crate's `bottlecrm/up` (cached venv and schema) and torn
/// down by its `down` (by PID) when dropped. Fails loudly: this test never passes by skipping.
struct BottleCrmServer {
    env: std::collections::BTreeMap<String, String>,
    ours: Option<(std::path::PathBuf, tempfile::TempDir)>,
}

impl BottleCrmServer {
    fn start() -> Self {
        let parse = |text: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect()
        };
        if let Ok(path) = std::env::var("BOTTLECRM_ENV") {
            let text = std::fs::read_to_string(&path).expect("BOTTLECRM_ENV readable");
            return Self { env: parse(&text), ours: None };
        }
        let up = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crm/bottlecrm/up");
        let dir = tempfile::Builder::new().prefix("bottlecrm-").tempdir().expect("tempdir");
        let out = std::process::Command::new(&up).arg(dir.path()).output().expect("bottlecrm/up");
        let server =
            Self { env: parse(&String::from_utf8_lossy(&out.stdout)), ours: Some((up, dir)) };
        assert!(
            out.status.success(),
            "BottleCRM could not be brought up (or set BOTTLECRM_ENV): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    fn get(&self, key: &str) -> String {
        self.env.get(key).cloned().unwrap_or_else(|| panic!("BottleCRM env lacks {key}"))
    }

    /// Rows of a statement run as the database superuser (a colleague's edit in the CRM).
    fn sql(&self, query: &str) -> Vec<Vec<String>> {
        let out = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.get("BOTTLECRM_PG_PORT"), "-U", "postgres"])
            .args(["-d", "crm", "-At", "-F", "\t", "-c", query])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }
}

impl Drop for BottleCrmServer {
    fn drop(&mut self) {
        if let Some((up, dir)) = &self.ours {
            let _ = std::process::Command::new(up.with_file_name("down")).arg(dir.path()).status();
        }
    }
}

fn field<'a>(
    view: &'a closer_app::dto::ConversationView,
    name: &str,
) -> &'a closer_app::dto::LeadFieldView {
    view.lead.fields.iter().find(|f| f.field == name).unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn values_edited_in_bottlecrm_come_back_crm_sourced_through_the_api() {
    use closer_app::args::ConversationArgs;
    use closer_crm::{BottleCrm, Credential, Crm, FieldMap, Relay, RelayConfig};
    use closer_dialogue::{Channel, Event, FieldSource};
    let server = BottleCrmServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let api = Api::open(Options {
        data_dir: DataDir::at(dir.path()),
        seed_demo: false,
        clock,
        models_dir: dir.path().join("models"),
    })
    .expect("api");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // Not configured: a typed error.
    let e = runtime.block_on(api.pull_crm_lead(1)).expect_err("no CRM");
    assert_eq!(e.code, ErrorCode::CrmNotConfigured);

    let tag = format!("app{}", clock());
    let email = format!("wang.{tag}@example.com");
    let conversation = api
        .store()
        .create_conversation(&closer_store::NewConversation {
            channel: Channel::Widget,
            customer_name: "王先生".into(),
            language: "zh".into(),
            at: clock(),
        })
        .expect("conversation");
    let set = |field: &str, value: &str, source: FieldSource| {
        let event = Event::FieldSet {
            field: field.into(),
            value: value.into(),
            source,
            confidence: if source == FieldSource::Ai { 0.8 } else { 1.0 },
            at: clock(),
        };
        api.store().record(conversation, &event, "test").expect("field");
    };
    set("name", "王先生", FieldSource::Salesperson);
    set("email", &email, FieldSource::Ai);
    set("company", "王氏机械", FieldSource::Ai);
    let crm = Crm::BottleCrm(BottleCrm::new(
        &server.get("BOTTLECRM_URL"),
        &server.get("BOTTLECRM_INTAKE_ID"),
        Credential::fixed(&server.get("BOTTLECRM_INTAKE_KEY")),
        Credential::fixed(&server.get("BOTTLECRM_TOKEN")),
        FieldMap::from_pairs([
            ("name", "first_name"),
            ("email", "email"),
            ("company", "company_name"),
        ]),
        Duration::from_secs(5),
    ));
    // Before delivery the lead is not in the CRM.
    let view = runtime.block_on(api.pull_crm_lead_with(&crm, conversation)).expect("pull");
    assert_eq!(view.status, closer_app::crm::CrmPullStatus::NotInCrm);
    // Deliver through the relay over the same database file.
    let store = std::sync::Arc::new(closer_store::Store::open(api.store().path()).expect("store"));
    let mut relay = Relay::new(
        std::sync::Arc::new(closer_app::crm::StoreOutbox(store)),
        crm.clone(),
        RelayConfig::for_crm(&crm),
    );
    let round = runtime.block_on(relay.round()).expect("round").expect("sent");
    assert_eq!(round.delivered, 1, "{round:?}");
    let open =
        || api.open_conversation(ConversationArgs { conversation_id: conversation }).expect("open");
    let crm_id = open().lead.crm_id.expect("crm id");

    // A colleague edits the lead in BottleCRM.
    server.sql(&format!(
        "UPDATE lead SET company_name = '王氏精密机械', first_name = 'Wang' WHERE id = '{crm_id}'"
    ));
    let events = api.subscribe();
    let view = runtime.block_on(api.pull_crm_lead_with(&crm, conversation)).expect("pull");
    assert_eq!(view.status, closer_app::crm::CrmPullStatus::Pulled, "{view:?}");
    assert_eq!(
        (view.applied.as_slice(), view.kept.as_slice()),
        (&["company".to_owned()][..], &["name".to_owned()][..])
    );
    let lead = open();
    assert_eq!(
        (field(&lead, "company").value.as_str(), field(&lead, "company").source),
        ("王氏精密机械", FieldSource::Crm)
    );
    assert_eq!(
        (field(&lead, "name").value.as_str(), field(&lead, "name").source),
        ("王先生", FieldSource::Salesperson)
    );
    assert_eq!(field(&lead, "email").source, FieldSource::Ai, "an echo keeps its source");
    assert_eq!(lead.lead.pending_sync, 0, "nothing queued back");
    assert_eq!(api.crm_status().expect("status").pending, 0);
    assert!(runtime.block_on(relay.round()).expect("round").is_none(), "nothing to send");
    let heard = events.recv_timeout(Duration::from_secs(5)).expect("an event");
    assert!(format!("{heard:?}").contains(&conversation.to_string()), "{heard:?}");
    let audit = api.store().audit_log(3).expect("audit");
    assert_eq!((audit[0].action.as_str(), audit[0].actor.as_str()), ("crm.pulled", "crm"));
    assert_eq!((audit[1].action.as_str(), audit[1].actor.as_str()), ("event.field_set", "crm"));

    // The sweep: another edit in the CRM is read back by the next pass.
    server.sql(&format!("UPDATE lead SET company_name = '王氏精密机械集团' WHERE id = '{crm_id}'"));
    let sweep = runtime.block_on(api.pull_crm_leads_with(&crm, 10)).expect("sweep");
    assert_eq!((sweep.pulled, sweep.applied, sweep.error.as_deref()), (1, 1, None));
    assert_eq!(field(&open(), "company").value, "王氏精密机械集团");
    // The CRM down: a status, not an error, and nothing changes.
    let down = Crm::BottleCrm(BottleCrm::new(
        "http://127.0.0.1:9",
        "x",
        Credential::fixed("x"),
        Credential::fixed("x"),
        FieldMap::from_pairs([("company", "company_name")]),
        Duration::from_secs(2),
    ));
    let view = runtime.block_on(api.pull_crm_lead_with(&down, conversation)).expect("pull");
    assert_eq!(view.status, closer_app::crm::CrmPullStatus::Failed);
    assert!(view.error.is_some());
    assert_eq!(field(&open(), "company").value, "王氏精密机械集团");
}
