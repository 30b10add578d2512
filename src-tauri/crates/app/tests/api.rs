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
