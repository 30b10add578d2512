//! The live path end to end with real parts: a real SQLite file, the real encoder and heads, the
//! real default language model (`closer models fetch` installs them; the README test command does).
//! A customer message yields N streamed suggestions whose amounts all come from the catalog; a
//! strategy edit changes the next suggestion; a model that cannot run gives the template reply.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use closer_app::engine::{SuggestionStream, TurnView};
use closer_app::suggest::ModelChoice;
use closer_app::{Api, DataDir, Options};
use closer_dialogue::Channel;
use closer_dialogue::composer;
use closer_store::NewConversation;

/// A channel that keeps what it is asked to deliver.
#[derive(Debug, Default)]
struct Outbox(std::sync::Mutex<Vec<closer_app::deliver::Outgoing>>);

impl closer_app::deliver::CustomerSink for Outbox {
    fn deliver(&self, outgoing: &closer_app::deliver::Outgoing) {
        self.0.lock().expect("lock").push(outgoing.clone());
    }
}

static NOW: AtomicI64 = AtomicI64::new(1_790_000_000_000);

/// A clock that moves one second per reading, so ids made from it never collide.
fn clock() -> i64 {
    NOW.fetch_add(1_000, Ordering::SeqCst)
}

fn open(dir: &std::path::Path) -> Api {
    let api = Api::open(Options {
        data_dir: DataDir::at(dir),
        seed_demo: true,
        clock,
        models_dir: closer_app::default_models_dir(),
    })
    .expect("api opens");
    api.wait_for_nlu(Duration::from_secs(1800)).expect("the NLU loads (fetch its encoder)");
    api
}

fn conversation(api: &Api, language: &str) -> i64 {
    api.store()
        .create_conversation(&NewConversation {
            channel: Channel::Simulator,
            customer_name: "Test".into(),
            language: language.into(),
            at: clock(),
        })
        .expect("conversation")
}

fn receive(api: &Api, id: i64, text: &str) -> (TurnView, Vec<SuggestionStream>) {
    let mut streamed = Vec::new();
    let turn = api
        .receive_customer_message(id, text, &mut |e| streamed.push(e))
        .expect("the message is handled");
    (turn, streamed)
}

/// Every money amount in `text` is a catalog price (in yuan) or a promotion's amount.
fn amounts_come_from_the_catalog(api: &Api, text: &str) {
    let prices: Vec<f64> = api
        .store()
        .products()
        .expect("products")
        .iter()
        .map(|p| p.price_cents as f64 / 100.0)
        .collect();
    for (shown, value) in composer::money_amounts(text) {
        assert!(
            prices.iter().any(|p| (p - value).abs() < 0.01),
            "{shown} ({value}) in {text:?} is not a catalog price"
        );
    }
}

#[test]
fn a_message_streams_checked_suggestions_and_a_strategy_edit_changes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = open(dir.path());
    api.wait_for_model(Duration::from_secs(300)).expect("the default model loads");

    let outbox = std::sync::Arc::new(Outbox::default());
    api.deliveries().register(Channel::Simulator, outbox.clone());
    let id = conversation(&api, "zh");
    let (turn, streamed) =
        receive(&api, id, "性价比高的云服务器，还要支持异地备份，最好能对接ERP，大概多少钱？");
    assert!(
        !turn.suggestions.is_empty() && turn.suggestions.len() <= closer_app::engine::SUGGESTIONS
    );
    let pieces = streamed.iter().filter(|e| matches!(e, SuggestionStream::Piece { .. })).count();
    let done = streamed.iter().filter(|e| matches!(e, SuggestionStream::Done { .. })).count();
    assert!(pieces > 2, "the model's text streams in pieces ({pieces})");
    assert_eq!(done, closer_app::engine::SUGGESTIONS, "every suggestion is finalised once");
    for s in &turn.suggestions {
        eprintln!("suggestion ({}, {:?}): {}", s.source, s.replaced_because, s.text);
        assert!(!s.text.trim().is_empty());
        amounts_come_from_the_catalog(&api, &s.text);
        assert_eq!(s.source == "template", s.replaced_because.is_some(), "{s:?}");
    }
    // Draft mode: nothing went to the customer; the suggestions are recorded as offered.
    assert_eq!(turn.auto_sent, None);
    let state = api.store().state(id).expect("state");
    assert_eq!(state.suggestions.len(), turn.suggestions.len());
    assert!(state.messages.iter().all(|m| m.role != closer_dialogue::Role::Ai));
    assert!(
        outbox.0.lock().expect("lock").is_empty(),
        "nothing reaches the customer in draft mode"
    );

    // The salesperson edits and sends the first one; the thread shows the edited text.
    let first = &turn.suggestions[0];
    let edited = format!("{}（已编辑）", first.text);
    let view = api.send_suggestion(id, &first.id, &edited).expect("sent");
    assert_eq!(view.messages.last().map(|m| m.text.as_str()), Some(edited.as_str()));
    let delivered = outbox.0.lock().expect("lock").clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!((delivered[0].conversation_id, delivered[0].text.as_str()), (id, edited.as_str()));

    // A strategy edit (a new persona, published) changes the next suggestion for the same
    // message in the same situation.
    let before = conversation(&api, "en");
    let text = "Hi, do you have cloud servers for a small team?";
    let (a, _) = receive(&api, before, text);
    let mut document = api.strategy_document().expect("published strategy");
    document.persona.en =
        "Mia, a cheerful cloud specialist who always signs her replies 'Mia'".into();
    document.persona.zh = "Mia，一位爱笑的云计算顾问，每条回复都署名 Mia".into();
    api.store()
        .save_strategy_draft("default", &document, "persona", "test", clock())
        .expect("draft");
    api.store().publish_strategy_draft("default", "test", clock()).expect("publish");
    assert_eq!(api.strategy_document().expect("strategy").persona.en, document.persona.en);
    let after = conversation(&api, "en");
    let (b, _) = receive(&api, after, text);
    let texts = |t: &TurnView| t.suggestions.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
    eprintln!("before: {:?}\nafter: {:?}", a.suggestions, b.suggestions);
    assert_ne!(texts(&a), texts(&b), "the edited strategy writes differently");
}

#[test]
fn a_model_that_cannot_run_gives_the_strategy_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = open(dir.path());
    api.choose_model(ModelChoice::Local(Some("no-such-model".into())));
    assert!(api.wait_for_model(Duration::from_secs(30)).is_err());

    let id = conversation(&api, "zh");
    let (turn, streamed) = receive(&api, id, "你们的云服务器怎么卖？");
    assert_eq!(turn.suggestions.len(), 1);
    let s = &turn.suggestions[0];
    assert_eq!(s.source, "template");
    assert_eq!(s.replaced_because.as_deref(), Some("model_not_ready"));
    assert!(
        s.text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "a Chinese reply: {}",
        s.text
    );
    amounts_come_from_the_catalog(&api, &s.text);
    assert!(matches!(streamed.as_slice(), [SuggestionStream::Done { index: 0, .. }]));

    // The AI switched off: the message is understood and tracked, but nothing is suggested.
    api.set_mode(closer_app::args::SetModeArgs {
        conversation_id: id,
        mode: closer_dialogue::Mode::Off,
    })
    .expect("mode off");
    let (off, streamed) = receive(&api, id, "预算大概一万左右");
    assert!(off.suggestions.is_empty() && streamed.is_empty());
    assert!(
        api.store().state(id).expect("state").lead.fields.contains_key("budget"),
        "the budget was still taken"
    );
}

/// A hand-off is a person's to answer: whatever model is loaded, the one suggestion is the
/// strategy's holding message in the customer's language, and no model text streams.
#[test]
fn a_hand_off_suggests_the_holding_message_not_a_model_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = open(dir.path());
    api.wait_for_model(Duration::from_secs(600)).expect("the default model loads");
    for (language, text, colleague) in [
        ("en", "I want to speak to a real person right now, not a bot.", "colleague"),
        ("zh", "太差劲了！我要投诉，马上找你们的人工客服！", "同事"),
    ] {
        let id = conversation(&api, language);
        let (turn, streamed) = receive(&api, id, text);
        assert_eq!(turn.decision.action, "hand_off", "{language}: {:?}", turn.decision);
        assert_eq!(turn.suggestions.len(), 1);
        let s = &turn.suggestions[0];
        assert_eq!(
            (s.source.as_str(), s.replaced_because.as_deref()),
            ("template", Some("hand_off"))
        );
        assert!(s.text.contains(colleague), "{language}: a holding message: {}", s.text);
        assert!(
            streamed.iter().all(|e| !matches!(e, SuggestionStream::Piece { .. })),
            "{language}: the model wrote nothing"
        );
    }
}
