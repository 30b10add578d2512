//! Privacy at the API with a real data directory: a canary phone number and e-mail appear 0 times
//! in the log file, in a redacted export and in a request bound for a remote model server, and
//! 0 times in the database file, its WAL and the search index after erasure; the message-storage
//! setting masks what is stored; the retention job purges at start and then periodically;
//! message search through the API.

use closer_app::privacy::{
    EraseLeadArgs, ExportLeadArgs, MessageStorageMode, SetMessageStorageArgs, SetRetentionArgs,
    redact_for_remote,
};
use closer_app::search::SearchMessagesArgs;
use closer_app::{Api, DataDir, Options};
use closer_dialogue::{Channel, Event, FieldSource, Role};
use closer_store::NewConversation;

const PHONE: &str = "18617094523";
const EMAIL: &str = "canary.zhou@example.com";
const ID: &str = "11010519491231002X";

fn count(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count()
}

fn clock() -> i64 {
    1_790_000_000_000
}

fn api(dir: &std::path::Path) -> Api {
    Api::open(Options {
        data_dir: DataDir::at(dir),
        seed_demo: false,
        clock,
        models_dir: dir.join("models"),
    })
    .expect("api")
}

fn seeded(api: &Api) -> i64 {
    let store = api.store();
    let id = store
        .create_conversation(&NewConversation {
            channel: Channel::Widget,
            customer_name: "周先生".into(),
            language: "zh".into(),
            at: 1_000,
        })
        .expect("conversation");
    let events = [
        Event::Message {
            role: Role::Customer,
            text: format!("电话{PHONE}，邮箱{EMAIL}，身份证{ID}"),
            at: 1_001,
        },
        Event::FieldSet {
            field: "phone".into(),
            value: PHONE.into(),
            source: FieldSource::Ai,
            confidence: 0.9,
            at: 1_002,
        },
    ];
    store.record_all(id, &events, "test").expect("recorded");
    id
}

#[test]
fn log_lines_are_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::at(dir.path());
    let guard = closer_app::logging::init(&data, "privacy-test");
    tracing::info!(phone = PHONE, email = EMAIL, "customer wrote 电话{PHONE} 身份证{ID}");
    tracing::warn!("the model failed on: 我的手机是 {} 微信 wxid_canary01", PHONE);
    tracing::info!("an ordinary line, 4999 yuan, 12 months");
    drop(guard);
    let mut all = Vec::new();
    for entry in std::fs::read_dir(data.logs()).expect("logs") {
        all.extend(std::fs::read(entry.expect("entry").path()).expect("log file"));
    }
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("customer wrote"), "the lines were written: {text}");
    assert!(text.contains("4999 yuan"), "{text}");
    for canary in [PHONE, EMAIL, ID, "wxid_canary01"] {
        assert_eq!(count(&all, canary), 0, "{canary} in the log: {text}");
    }
}

#[test]
fn redacted_export_has_no_canary_and_erasure_leaves_none_in_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = api(dir.path());
    let id = seeded(&api);
    let raw =
        api.export_lead(ExportLeadArgs { conversation_id: id, redacted: false }).expect("raw");
    assert!(count(raw.to_string().as_bytes(), PHONE) >= 3, "the raw export holds the data");
    let redacted =
        api.export_lead(ExportLeadArgs { conversation_id: id, redacted: true }).expect("export");
    let text = redacted.to_string();
    for canary in [PHONE, EMAIL, ID] {
        assert_eq!(count(text.as_bytes(), canary), 0, "{canary} in {text}");
    }
    assert_eq!(redacted["redacted"], true);
    assert!(text.contains("周"), "redaction keeps the shape: {text}");

    assert_eq!(search(&api, PHONE).len(), 1, "the message is searchable before");
    assert_eq!(search(&api, "身份证").len(), 1);
    let erased = api.erase_lead(EraseLeadArgs { conversation_id: id }).expect("erase");
    assert!(erased.wal_truncated && erased.rows["conversation_events"] == 2, "{erased:?}");
    assert_eq!(erased.rows["message_fts"], 1, "{erased:?}");
    for q in [PHONE, EMAIL, ID, "身份证", "电话"] {
        assert!(search(&api, q).is_empty(), "{q} still found after erasure");
    }
    // (The raw scan below covers the index: its shadow tables live in the same file.)
    let db = std::fs::read(api.store().path()).expect("db");
    let wal = std::fs::read(api.store().path().with_extension("sqlite3-wal")).unwrap_or_default();
    for canary in [PHONE, EMAIL, ID, "身份证"] {
        assert_eq!(count(&db, canary) + count(&wal, canary), 0, "{canary} after erasure");
    }
    let e = api.export_lead(ExportLeadArgs { conversation_id: id, redacted: false });
    assert_eq!(e.expect_err("gone").code, closer_app::ErrorCode::NotFound);
}

fn search(api: &Api, query: &str) -> Vec<closer_app::search::SearchHitView> {
    let body = serde_json::json!({ "query": query }).to_string();
    let args: SearchMessagesArgs = closer_app::args::decode(body.as_bytes()).expect("args");
    api.search_messages(args).expect("search")
}

#[test]
fn search_through_the_api_finds_zh_and_en_and_refuses_bad_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = api(dir.path());
    let id = seeded(&api);
    api.store()
        .record(
            id,
            &Event::Message {
                role: Role::Salesperson,
                text: "The Pro plan is 499 per month".into(),
                at: 1_003,
            },
            "test",
        )
        .expect("reply");
    let hits = search(&api, "pro PLAN");
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].conversation_id, hits[0].message_index, hits[0].role),
        (id, 1, Role::Salesperson)
    );
    let json = serde_json::to_value(&hits[0]).expect("json");
    assert_eq!(json["snippet"][1], serde_json::json!({ "text": "Pro", "hit": true }), "{json}");
    assert_eq!(json["messageIndex"], 1);
    // One and two Chinese characters.
    assert_eq!(search(&api, "邮").len(), 1);
    assert_eq!(search(&api, "邮箱").len(), 1);
    // FTS syntax is text.
    assert!(search(&api, "\"NEAR(\" OR *").is_empty());
    // Refused: empty, too long, bad limit, unknown fields.
    use closer_app::ErrorCode;
    for (body, code) in [
        (r#"{"query":"   "}"#.to_owned(), ErrorCode::InvalidArgument),
        (serde_json::json!({ "query": "价".repeat(201) }).to_string(), ErrorCode::TooLarge),
        (r#"{"query":"price","limit":0}"#.to_owned(), ErrorCode::InvalidArgument),
        (r#"{"query":"price","limit":100000}"#.to_owned(), ErrorCode::InvalidArgument),
        (r#"{"query":"price","sql":"x"}"#.to_owned(), ErrorCode::InvalidArgument),
        (r#"{"query":"price","channel":"fax"}"#.to_owned(), ErrorCode::InvalidArgument),
    ] {
        let e = closer_app::args::decode::<SearchMessagesArgs>(body.as_bytes()).expect_err(&body);
        assert_eq!(e.code, code, "{body}: {e:?}");
    }
    // 200 characters are fine; filters and order parse.
    let ok = serde_json::json!({ "query": "价".repeat(200), "limit": 5, "order": "relevance",
        "channel": "widget", "stage": "new", "mode": "draft" });
    let args: SearchMessagesArgs = closer_app::args::decode(ok.to_string().as_bytes()).expect("ok");
    assert!(api.search_messages(args).expect("search").is_empty());
    let filtered: SearchMessagesArgs =
        closer_app::args::decode(br#"{"query":"plan","channel":"webhook"}"#).expect("args");
    assert!(api.search_messages(filtered).expect("search").is_empty());
}

#[test]
fn message_storage_masks_customer_text_when_set_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("我的电话是{PHONE}，邮箱{EMAIL}，要3台");
    {
        let api = api(dir.path());
        assert_eq!(api.message_storage().expect("setting").mode, MessageStorageMode::Original);
        assert_eq!(api.stored_customer_text(&text), text, "the default keeps the original");
        let args: SetMessageStorageArgs =
            closer_app::args::decode(br#"{"mode":"redacted"}"#).expect("decoded");
        api.set_message_storage(args).expect("set");
        let stored = api.stored_customer_text(&text);
        for canary in [PHONE, EMAIL] {
            assert_eq!(count(stored.as_bytes(), canary), 0, "{canary} in {stored}");
        }
        assert!(stored.contains("要3台") && stored.starts_with("我的电话是"), "{stored}");
        assert!(closer_app::args::decode::<SetMessageStorageArgs>(br#"{"mode":"none"}"#).is_err());
    }
    // A new process reads the same setting from the file.
    let api = api(dir.path());
    assert_eq!(api.message_storage().expect("setting").mode, MessageStorageMode::Redacted);
    assert_ne!(api.stored_customer_text(&text), text);
    let audit = api.store().audit_log(5).expect("audit");
    assert!(audit.iter().any(|a| a.action == "privacy.message_storage_set"), "{audit:?}");
    api.set_message_storage(SetMessageStorageArgs { mode: MessageStorageMode::Original })
        .expect("set");
    assert_eq!(api.stored_customer_text(&text), text);
}

#[test]
fn the_retention_job_purges_at_start_and_then_every_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = api(dir.path());
    let first = seeded(&api); // last active at 1_001, long before the clock
    api.set_retention(SetRetentionArgs { days: Some(30) }).expect("set");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let gone = |id: i64| api.store().conversation(id).is_err();
    let wait = |id: i64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !gone(id) {
            assert!(std::time::Instant::now() < deadline, "conversation {id} was not purged");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    // An export file of the lead the job will purge.
    let export = |id: i64| {
        let args = closer_app::privacy::ExportLeadArgs { conversation_id: id, redacted: false };
        std::path::PathBuf::from(api.export_lead_file(args).expect("export").path)
    };
    let first_export = export(first);
    assert!(first_export.exists());
    let job =
        api.start_retention_job_every(runtime.handle(), std::time::Duration::from_millis(300));
    wait(first);
    // The job deletes the erased lead's export file, which would otherwise keep it all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while first_export.exists() {
        assert!(std::time::Instant::now() < deadline, "the purged lead's export was kept");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A conversation that became due after the first purge goes at a later run.
    let second = seeded(&api);
    assert!(!gone(second));
    wait(second);
    // Within the period: a recent conversation stays.
    let recent = api
        .store()
        .create_conversation(&NewConversation {
            channel: Channel::Widget,
            customer_name: "新客户".into(),
            language: "zh".into(),
            at: clock(),
        })
        .expect("recent");
    let recent_export = export(recent);
    std::thread::sleep(std::time::Duration::from_millis(900));
    assert!(!gone(recent), "a recent conversation was purged");
    assert!(recent_export.exists(), "a kept lead's export was deleted");
    job.abort();
    let audit = api.store().audit_log(50).expect("audit");
    assert_eq!(audit.iter().filter(|a| a.action == "lead.erased").count(), 2);
}

#[test]
fn retention_is_validated_and_purge_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = api(dir.path());
    let id = seeded(&api); // last active at 1_001, long before the clock
    use closer_app::args::Validate;
    assert!(SetRetentionArgs { days: Some(0) }.validate().is_err());
    assert!(SetRetentionArgs { days: Some(99_999) }.validate().is_err());
    let args: SetRetentionArgs = closer_app::args::decode(br#"{"days":30}"#).expect("decoded");
    api.set_retention(args).expect("set");
    assert_eq!(api.retention().expect("days"), Some(30));
    let purge = api.purge().expect("purge");
    assert_eq!(purge.erased.len(), 1);
    assert_eq!(purge.erased[0].conversation_id, Some(id));
}

#[test]
fn remote_requests_carry_placeholders_not_pii() {
    let mut request = closer_llm::GenerateRequest {
        messages: vec![
            closer_llm::ChatMessage::system(format!("Lead profile: phone {PHONE}, email {EMAIL}")),
            closer_llm::ChatMessage::user(format!(
                "<customer>我的身份证{ID}，电话{PHONE}</customer>"
            )),
        ],
        params: closer_llm::SamplingParams::default(),
        n: 1,
        cache_key: None,
    };
    redact_for_remote(&mut request);
    let wire = format!("{:?}", request.messages);
    for canary in [PHONE, EMAIL, ID] {
        assert_eq!(count(wire.as_bytes(), canary), 0, "{canary} in {wire}");
    }
    assert!(wire.contains("[phone]") && wire.contains("[resident_id]"), "{wire}");
    assert!(wire.contains("<customer>"), "the delimiters stay");
}

/// A loopback OpenAI-compatible stub that records every request body it receives and answers
/// with a short streamed reply.
fn stub_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            log.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{request_line}{body}"));
            let mut stream = stream;
            let reply = if request_line.starts_with("GET /v1/models") {
                let b = r#"{"object":"list","data":[{"id":"stub"}]}"#;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                    b.len()
                )
            } else {
                let chunk = |delta: &str, finish: &str| {
                    format!(
                        "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
                    )
                };
                let b = format!(
                    "{}{}data: [DONE]\n\n",
                    chunk(r#"{"content":"您好，请问您想了解哪个方案？"}"#, "null"),
                    chunk("{}", "\"stop\"")
                );
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                    b.len()
                )
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, seen)
}

/// The live path with a remote model server: the customer's phone, e-mail and ID reach the
/// server 0 times (the prompt is redacted in `suggest.rs` before it leaves).
#[test]
fn the_live_path_sends_no_pii_to_a_remote_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = Api::open(Options {
        data_dir: DataDir::at(dir.path()),
        seed_demo: true,
        clock: || closer_app::system_clock(),
        models_dir: closer_app::default_models_dir(),
    })
    .expect("api");
    api.wait_for_nlu(std::time::Duration::from_secs(1800)).expect("the NLU loads");
    let (url, seen) = stub_server();
    api.choose_model(closer_app::suggest::ModelChoice::Remote(
        closer_llm::remote::RemoteConfig::new(url, "stub"),
    ));
    api.wait_for_model(std::time::Duration::from_secs(30)).expect("the stub answers");
    let id = api
        .store()
        .create_conversation(&NewConversation {
            channel: Channel::Simulator,
            customer_name: "周".into(),
            language: "zh".into(),
            at: closer_app::system_clock(),
        })
        .expect("conversation");
    for text in
        [format!("你好，我想买企业版，电话{PHONE}"), format!("邮箱{EMAIL}，身份证{ID}，多少钱？")]
    {
        let turn = api.receive_customer_message(id, &text, &mut |_| {}).expect("handled");
        assert!(!turn.suggestions.is_empty());
    }
    let requests = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let completions: Vec<&String> =
        requests.iter().filter(|r| r.starts_with("POST /v1/chat/completions")).collect();
    assert!(completions.len() >= 2, "the remote model was asked: {requests:?}");
    let wire = requests.concat();
    for canary in [PHONE, EMAIL, ID] {
        assert_eq!(count(wire.as_bytes(), canary), 0, "{canary} sent to the remote model");
    }
    assert!(wire.contains("[phone]"), "the customer's turn arrives, redacted: {wire}");
    eprintln!(
        "remote: {} chat requests, {} bytes, 0 canary occurrences",
        completions.len(),
        wire.len()
    );
}
