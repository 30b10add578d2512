//! The app API against a real SQLite file in a temporary data directory.

use closer_app::args::{
    self, ConversationArgs, NoArgs, SendReplyArgs, SetLeadFieldArgs, SetModeArgs,
};
use closer_app::{Api, DataDir, ErrorCode, Options};
use closer_dialogue::{FieldSource, Mode, Role, Stage};

fn clock() -> i64 {
    1_790_000_000_000
}

fn open(dir: &std::path::Path, seed_demo: bool) -> Api {
    let models_dir = dir.join("models");
    Api::open(Options { data_dir: DataDir::at(dir), seed_demo, clock, models_dir })
        .expect("api opens")
}

mod bindings {
    use closer_app::bindings::{BINDINGS_PATH, typescript};

    /// Fails when ui/src/lib/bindings.ts no longer matches the Rust types.
    /// `UPDATE_BINDINGS=1 cargo test -p closer-app bindings` rewrites it.
    #[test]
    fn bindings_are_fresh() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let path = root.join(BINDINGS_PATH);
        let expected = typescript();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &expected).expect("write bindings");
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "{BINDINGS_PATH} is stale: run `UPDATE_BINDINGS=1 cargo test -p closer-app bindings`"
        );
        assert!(expected.contains("export type ConversationView"));
        assert!(expected.contains("export type ErrorCode"));
    }
}

mod demo {
    use super::*;

    #[test]
    fn first_run_seeds_and_second_run_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let inbox = api.list_conversations(NoArgs {}).expect("inbox");
        assert!(inbox.len() >= 6, "{} conversations", inbox.len());
        let languages: std::collections::BTreeSet<_> =
            inbox.iter().map(|c| c.language.as_str()).collect();
        assert_eq!(languages.into_iter().collect::<Vec<_>>(), ["en", "zh"]);
        let stages: std::collections::HashSet<_> = inbox.iter().map(|c| c.stage).collect();
        assert!(stages.len() >= 5, "stages {stages:?}");
        assert!(api.list_products(NoArgs {}).expect("products").len() >= 9);
        // Leads carry fields from all three sources.
        let mut sources = std::collections::BTreeSet::new();
        for c in &inbox {
            let view =
                api.open_conversation(ConversationArgs { conversation_id: c.id }).expect("open");
            sources.extend(view.lead.fields.iter().map(|f| f.source));
        }
        assert_eq!(sources.len(), 3, "{sources:?}");
        drop(api);
        let again = open(dir.path(), true);
        assert_eq!(again.list_conversations(NoArgs {}).expect("inbox").len(), inbox.len());
    }

    #[test]
    fn inbox_puts_handoffs_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let inbox = api.list_conversations(NoArgs {}).expect("inbox");
        assert!(inbox[0].handoff_requested, "{:?}", inbox[0]);
        assert_eq!(inbox[0].stage, Stage::HandedOff);
        // Then customers who wait, longest first.
        let waiting: Vec<_> = inbox.iter().skip(1).filter_map(|c| c.waiting_since).collect();
        assert!(waiting.windows(2).all(|w| w[0] <= w[1]), "{waiting:?}");
    }
}

mod commands {
    use super::*;

    fn first(api: &Api) -> i64 {
        api.list_conversations(NoArgs {}).expect("inbox")[0].id
    }

    #[test]
    fn reply_and_mode_and_field_edit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let id = first(&api);
        let view = api
            .send_reply(SendReplyArgs {
                conversation_id: id,
                text: "我是销售小张，马上为您处理".into(),
            })
            .expect("reply");
        let last = view.messages.last().expect("message");
        assert_eq!(
            (last.role, last.text.as_str()),
            (Role::Salesperson, "我是销售小张，马上为您处理")
        );
        assert_eq!(view.summary.waiting_since, None);
        let view =
            api.set_mode(SetModeArgs { conversation_id: id, mode: Mode::Off }).expect("mode");
        assert_eq!(view.summary.mode, Mode::Off);
        let saved = api
            .set_lead_field(SetLeadFieldArgs {
                conversation_id: id,
                field: "phone".into(),
                value: "13700000000".into(),
            })
            .expect("field");
        assert!(saved.changed);
        let phone =
            saved.conversation.lead.fields.iter().find(|f| f.field == "phone").expect("phone");
        assert_eq!((phone.value.as_str(), phone.source), ("13700000000", FieldSource::Salesperson));
        assert!(saved.conversation.lead.pending_sync >= 1);
    }

    #[test]
    fn unknown_conversation_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), false);
        let err =
            api.open_conversation(ConversationArgs { conversation_id: 999 }).expect_err("missing");
        assert_eq!(err.code, ErrorCode::NotFound);
    }

    /// Bad input through the same decoder the shell uses changes nothing.
    #[test]
    fn bad_arguments_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let id = first(&api);
        let before = api.open_conversation(ConversationArgs { conversation_id: id }).expect("open");
        let audit_before = api.store().audit_log(10_000).expect("audit").len();
        let big = "x".repeat(args::MAX_TEXT_BYTES + 1);
        let bodies: Vec<(Vec<u8>, ErrorCode)> = vec![
            (
                format!(r#"{{"conversationId":{id},"text":"{big}"}}"#).into_bytes(),
                ErrorCode::TooLarge,
            ),
            (
                format!(r#"{{"conversationId":{id},"text":"\udc00"}}"#).into_bytes(),
                ErrorCode::InvalidArgument,
            ),
            (
                format!(r#"{{"conversationId":{id},"text":"#).into_bytes(),
                ErrorCode::InvalidArgument,
            ),
            (
                format!(r#"{{"conversationId":{id},"text":"   "}}"#).into_bytes(),
                ErrorCode::InvalidArgument,
            ),
            (
                format!(r#"{{"conversationId":{id},"text":42}}"#).into_bytes(),
                ErrorCode::InvalidArgument,
            ),
        ];
        for (body, code) in bodies {
            let err = args::decode::<SendReplyArgs>(&body)
                .and_then(|a| api.send_reply(a))
                .expect_err("rejected");
            assert_eq!(err.code, code, "{}", err.message);
        }
        let after = api.open_conversation(ConversationArgs { conversation_id: id }).expect("open");
        assert_eq!(after.messages.len(), before.messages.len());
        assert_eq!(api.store().audit_log(10_000).expect("audit").len(), audit_before);
    }

    #[test]
    fn corrupt_database_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(closer_store::DB_FILE),
            b"this is not sqlite, it is a text file that is long enough to have a header and more",
        )
        .expect("write");
        let models_dir = dir.path().join("models");
        let err = Api::open(Options {
            data_dir: DataDir::at(dir.path()),
            seed_demo: true,
            clock,
            models_dir,
        })
        .expect_err("corrupt");
        assert_eq!(err.code, ErrorCode::CorruptDatabase);
        assert!(err.message.contains(closer_store::DB_FILE), "{}", err.message);
        // The damaged file is left as it was.
        assert!(
            std::fs::read(dir.path().join(closer_store::DB_FILE))
                .expect("read")
                .starts_with(b"this is not sqlite")
        );
    }
}

mod models {
    use super::*;
    use closer_app::args::ImportModelArgs;

    #[test]
    fn catalog_models_are_listed_before_anything_is_installed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), false);
        let models = api.list_models(NoArgs {}).expect("models");
        assert!(models.iter().any(|m| m.is_default && m.id == "qwen2.5-coder-0.5b-instruct"));
        assert!(models.iter().all(|m| !m.installed && m.source == "catalog" && m.size_bytes > 0));
    }

    /// The real SmolLM2 file (installed by the test command) is imported into an empty models
    /// directory through the API, and bad files are typed errors.
    #[test]
    fn importing_a_gguf_validates_it_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), false);
        let real = closer_llm::catalog::installed_model("smollm2-135m-instruct")
            .expect("run `closer models fetch smollm2-135m-instruct`");
        let imported =
            api.import_model(ImportModelArgs { path: real.display().to_string() }).expect("import");
        assert_eq!(
            (imported.source.as_str(), imported.architecture.as_str()),
            ("imported", "llama")
        );
        assert!(
            api.list_models(NoArgs {})
                .expect("models")
                .iter()
                .any(|m| m.id == imported.id && m.installed)
        );
        let junk = dir.path().join("junk.gguf");
        std::fs::write(&junk, b"GGUF but not really").expect("write");
        let err = api
            .import_model(ImportModelArgs { path: junk.display().to_string() })
            .expect_err("junk");
        assert_eq!(err.code, ErrorCode::InvalidModel, "{}", err.message);
        let bad = args::decode::<ImportModelArgs>(br#"{"path":"relative/model.gguf"}"#)
            .expect_err("relative");
        assert_eq!(bad.code, ErrorCode::InvalidArgument);
    }
}

/// The console's privacy commands: an export written as a file only its owner can read, an
/// erasure that needs the customer's name typed and takes the lead's export files with it, the
/// retention setting and a purge.
mod privacy_console {
    use super::*;
    use closer_app::args::EraseLeadConfirmedArgs;
    use closer_app::privacy::{ExportLeadArgs, SetRetentionArgs};

    fn first(api: &Api) -> (i64, String) {
        let c = api.list_conversations(NoArgs {}).expect("inbox").remove(0);
        (c.id, c.customer_name)
    }

    #[test]
    fn an_export_is_a_private_file_covering_every_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let (id, name) = first(&api);
        let plain = api
            .export_lead_file(ExportLeadArgs { conversation_id: id, redacted: false })
            .expect("export");
        let path = std::path::Path::new(&plain.path);
        assert!(path.starts_with(dir.path().join("exports")), "{}", plain.path);
        assert_eq!(plain.folder, api.exports_dir().display().to_string());
        let bytes = std::fs::read(path).expect("the file is there");
        assert_eq!(bytes.len() as u64, plain.bytes);
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert!(String::from_utf8_lossy(&bytes).contains(&name), "the customer is in it");
        let tables: Vec<&str> = plain.tables.iter().map(|t| t.table.as_str()).collect();
        for table in ["leads", "lead_fields", "conversations", "crm_outbox", "audit_log"] {
            assert!(tables.contains(&table), "{table} missing from {tables:?}");
            assert!(json["tables"][table].is_array(), "{table} in the file");
        }
        let messages =
            plain.tables.iter().find(|t| t.table == "conversation_events").map_or(0, |t| t.rows);
        assert!(messages > 0, "the conversation's events are exported: {:?}", plain.tables);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "only the user may read an export");
        }
        // A second export (redacted) is a second file, not an overwrite.
        let api_later = api.clone();
        let redacted = api_later
            .export_lead_file(ExportLeadArgs { conversation_id: id, redacted: true })
            .expect("redacted export");
        assert!(redacted.redacted && redacted.path.ends_with("-redacted.json"));
        assert_ne!(redacted.path, plain.path);
    }

    #[test]
    fn erasure_needs_the_name_and_removes_the_exports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let (id, name) = first(&api);
        let export = api
            .export_lead_file(ExportLeadArgs { conversation_id: id, redacted: false })
            .expect("export");
        let wrong = api
            .erase_lead_confirmed(EraseLeadConfirmedArgs {
                conversation_id: id,
                confirm: format!("{name}x"),
            })
            .expect_err("a wrong name erases nothing");
        assert_eq!(wrong.code, ErrorCode::InvalidArgument);
        assert!(api.open_conversation(ConversationArgs { conversation_id: id }).is_ok());
        assert!(std::path::Path::new(&export.path).exists());

        let erased = api
            .erase_lead_confirmed(EraseLeadConfirmedArgs {
                conversation_id: id,
                confirm: format!("  {}  ", name.to_uppercase()),
            })
            .expect("erased");
        assert_eq!(erased.conversation_id, Some(id));
        assert!(erased.rows.values().sum::<usize>() > 0, "{:?}", erased.rows);
        assert!(!std::path::Path::new(&export.path).exists(), "the export went with the lead");
        let gone = api.open_conversation(ConversationArgs { conversation_id: id });
        assert_eq!(gone.expect_err("erased").code, ErrorCode::NotFound);
    }

    #[test]
    fn retention_round_trip_and_purge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        assert_eq!(api.retention_view(NoArgs {}).expect("retention").days, None);
        let before = api.list_conversations(NoArgs {}).expect("inbox").len();
        // Nothing is due without a retention period.
        assert!(api.purge_now(NoArgs {}).expect("purge").erased.is_empty());
        let set = api.set_retention_view(SetRetentionArgs { days: Some(30) }).expect("set");
        assert_eq!(set.days, Some(30));
        assert!(set.exports_dir.ends_with("exports"));
        assert!(args::decode::<SetRetentionArgs>(br#"{"days":0}"#).is_err());
        // The demo's conversations are recent (the clock): a 30-day period erases none of them.
        let purge = api.purge_now(NoArgs {}).expect("purge");
        assert_eq!(purge.retention_days, Some(30));
        assert_eq!(
            api.list_conversations(NoArgs {}).expect("inbox").len(),
            before - purge.erased.len()
        );
        api.set_retention_view(SetRetentionArgs { days: None }).expect("unset");
        assert_eq!(api.retention_view(NoArgs {}).expect("retention").days, None);
    }
}

mod message_storage_console {
    use super::*;
    use closer_app::privacy::{MessageStorageMode, SetMessageStorageArgs};

    #[test]
    fn the_setting_round_trips_through_the_decoder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        assert_eq!(api.message_storage().expect("setting").mode, MessageStorageMode::Original);
        let set = args::decode::<SetMessageStorageArgs>(br#"{"mode":"redacted"}"#).expect("args");
        let view = api.set_message_storage_view(set).expect("set");
        assert_eq!(view.mode, MessageStorageMode::Redacted);
        assert_eq!(api.message_storage().expect("setting").mode, MessageStorageMode::Redacted);
        for bad in [&br#"{"mode":"hidden"}"#[..], br#"{"mode":"redacted","x":1}"#] {
            assert!(args::decode::<SetMessageStorageArgs>(bad).is_err());
        }
    }
}

/// The channels as the console runs them: saved settings start the chat server, a change
/// restarts it, disabling stops it, and a port in use is an error the settings page shows.
mod channels_console {
    use std::io::{Read, Write};

    use super::*;
    use closer_app::args::ConfigureChannelsArgs;

    fn get(url: &str) -> std::io::Result<String> {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn saved_settings_start_restart_and_stop_the_chat_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let off = api.channel_settings(NoArgs {}).expect("view");
        assert!(!off.running && !off.settings.enabled && !off.webhook_secret_stored);

        let on = args::decode::<ConfigureChannelsArgs>(br#"{"enabled":true,"port":0,"lan":false}"#)
            .expect("args");
        let view = api.configure_channels(on).expect("configured");
        assert!(view.running, "{view:?}");
        let url = view.url.clone().expect("a url");
        assert!(url.starts_with("http://127.0.0.1:"), "loopback only: {url}");
        assert!(get(&url).expect("the chat page answers").starts_with("HTTP/1.1 200"));

        // Another app holds a port: the error is kept for the settings page.
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = held.local_addr().expect("addr").port();
        let busy = format!(r#"{{"enabled":true,"port":{port},"lan":false}}"#);
        let view = api
            .configure_channels(args::decode(busy.as_bytes()).expect("args"))
            .expect("saved even if it cannot start");
        assert!(!view.running && view.error.is_some(), "{view:?}");
        assert!(get(&url).is_err(), "the old server stopped");

        let disable = br#"{"enabled":false,"port":0,"lan":false}"#;
        let view = api.configure_channels(args::decode(disable).expect("args")).expect("off");
        assert!(!view.running && view.error.is_none());
        assert_eq!(api.channel_settings(NoArgs {}).expect("view").settings.port, 0);
        api.stop_channels();
    }
}

/// The CRM as the console reaches it: settings go through the strict decoder, the status comes
/// back after each change, a dead letter is retried by id, and each lead shows its sync state.
mod crm_console {
    use super::*;
    use closer_app::args::{ConfigureCrmArgs, DeadLetterArgs, SetLeadFieldArgs};
    use closer_app::dto::LeadSyncView;

    #[test]
    fn configure_status_and_lead_sync_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        assert!(api.crm_settings().expect("settings").is_none());
        let body = br#"{"kind":"hubspot","baseUrl":" http://127.0.0.1:9/crm "}"#;
        let args = args::decode::<ConfigureCrmArgs>(body).expect("decoded");
        let status = api.configure_crm_relay(args).expect("configured");
        assert_eq!(status.crm.as_deref(), Some("hubspot"));
        assert!(!status.running, "no runtime attached in this test: the relay waits");
        match api.crm_settings().expect("settings") {
            Some(closer_app::crm::CrmSettings::Hubspot { base_url }) => {
                assert_eq!(base_url, "http://127.0.0.1:9/crm", "trimmed")
            }
            other => panic!("{other:?}"),
        }

        let id = api.list_conversations(NoArgs {}).expect("inbox")[0].id;
        let saved = api
            .set_lead_field(SetLeadFieldArgs {
                conversation_id: id,
                field: "email".into(),
                value: "lin@example.com".into(),
            })
            .expect("field");
        match &saved.conversation.lead.sync {
            LeadSyncView::Pending { attempts, .. } => assert_eq!(*attempts, 0),
            other => panic!("a changed lead waits for the relay: {other:?}"),
        }
        assert!(api.crm_status().expect("status").pending >= 1);
        let missing = api.retry_dead_letter(DeadLetterArgs { id: 999_999 });
        assert_eq!(missing.expect_err("no such dead letter").code, ErrorCode::NotFound);
        assert!(api.crm_dead_letters().expect("dead letters").is_empty());
    }

    #[test]
    fn a_relay_attached_at_start_up_restarts_with_new_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = open(dir.path(), true);
        let runtime =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        api.start_background(runtime.handle().clone());
        assert!(!api.crm_status().expect("status").running, "no CRM set up: nothing runs");
        let args =
            args::decode::<ConfigureCrmArgs>(br#"{"kind":"webhook","url":"http://127.0.0.1:9/h"}"#)
                .expect("decoded");
        let status = api.configure_crm_relay(args).expect("configured");
        assert!(status.running, "the relay starts on the attached runtime: {status:?}");
        assert_eq!(status.crm.as_deref(), Some("webhook"));
        // A published strategy (its CRM mapping) restarts the relay, which keeps running.
        let mut doc = api.strategy_overview(NoArgs {}).expect("overview").published;
        doc["lead_fields"][0]["crm_field"] = serde_json::json!("full_name");
        api.save_strategy_draft(closer_app::args::SaveStrategyDraftArgs {
            document: doc,
            note: "map the name".into(),
        })
        .expect("draft");
        api.publish_strategy(NoArgs {}).expect("publish");
        assert!(api.crm_status().expect("status").running);
        let published = api.strategy_document().expect("document");
        assert_eq!(published.lead_fields[0].crm_field.as_deref(), Some("full_name"));
        api.stop_crm_relay();
    }
}

/// Regenerating: the policy decides again on the stored reading of the last customer message,
/// the waiting suggestions are rejected as `regenerated`, and the new ones are offered and
/// streamed. (The model is one that is not installed, so the strategy's template writes.)
mod regenerate {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use closer_app::console::REGENERATED;
    use closer_app::engine::SuggestionStream;

    static NOW: AtomicI64 = AtomicI64::new(1_790_000_000_000);

    fn ticking() -> i64 {
        NOW.fetch_add(1_000, Ordering::SeqCst)
    }

    #[test]
    fn new_suggestions_replace_the_waiting_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = Api::open(Options {
            data_dir: DataDir::at(dir.path()),
            seed_demo: true,
            clock: ticking,
            models_dir: closer_app::default_models_dir(),
        })
        .expect("api");
        api.choose_model(closer_app::suggest::ModelChoice::Local(Some("not-installed".into())));
        api.wait_for_nlu(std::time::Duration::from_secs(1800)).expect("the NLU loads");
        let id = api.list_conversations(NoArgs {}).expect("inbox")[0].id;
        api.set_mode(SetModeArgs { conversation_id: id, mode: Mode::Draft }).expect("draft");
        let turn =
            api.receive_customer_message(id, "这款扫地机器人多少钱？", &mut |_| {}).expect("turn");
        let first: Vec<String> = turn.suggestions.iter().map(|s| s.id.clone()).collect();
        assert!(!first.is_empty());

        let mut streamed = Vec::new();
        let again = api
            .regenerate_suggestions(ConversationArgs { conversation_id: id }, &mut |s| {
                streamed.push(s)
            })
            .expect("regenerated");
        assert_eq!(again.replaced, first, "the waiting suggestions are replaced");
        assert!(!again.suggestions.is_empty());
        assert!(again.suggestions.iter().all(|s| !first.contains(&s.id)), "new ids");
        assert_eq!(again.decision.action, turn.decision.action, "same message, same policy");
        let done = streamed.iter().filter(|s| matches!(s, SuggestionStream::Done { .. })).count();
        assert_eq!(done, again.suggestions.len().max(1));

        let details =
            api.conversation_details(ConversationArgs { conversation_id: id }).expect("details");
        for s in &details.suggestions {
            if first.contains(&s.id) {
                assert_eq!(s.status, "rejected", "{s:?}");
            } else {
                assert_eq!(s.status, "offered", "{s:?}");
            }
        }
        let reasons = api.dashboard(NoArgs {}).expect("dashboard").reject_reasons;
        assert!(reasons.iter().any(|r| r.key == REGENERATED), "{reasons:?}");

        api.set_mode(SetModeArgs { conversation_id: id, mode: Mode::Off }).expect("off");
        let off = api.regenerate_suggestions(ConversationArgs { conversation_id: id }, &mut |_| {});
        assert_eq!(off.expect_err("the AI is off").code, ErrorCode::InvalidArgument);
    }
}
