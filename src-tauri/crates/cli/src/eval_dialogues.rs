//! `closer eval dialogues DIR [--json]`: scripted multi-turn dialogues replayed through the NLU,
//! the tracker and the policy, turn by turn, against what a competent salesperson engine should
//! have understood and decided (the format is in `dialogue/data/dialogues/README.md`).
//!
//! Key decisions:
//! - **The app's pieces, not copies.** The NLU is the app's (`closer_app::Api` on a throw-away
//!   data directory seeded with the demo data: the encoder and the default heads from the models
//!   directory), the catalog is `closer_app::catalog::dialogue_catalog` over the demo products,
//!   and each customer message goes through `closer_dialogue::turn::customer_message`.
//! - **The strategy** is the demo strategy's lead fields (each field the demo lists without cue
//!   words takes the type and cues of the same key in the default schema, so `name` is read from
//!   "我叫…"), its proactivity, and `strategy.json` in DIR for what the demo strategy does not
//!   say yet (objection playbook, promotions).
//! - **Every decided reply is sent** (by the salesperson; by the AI when auto mode may send it)
//!   except a hand-off, which leaves the reply to a person. Expectations are checked after the
//!   reply, so `stage` is where the funnel stands when the customer's next message comes.
//! - **A fixed clock** (2026-01-05 10:00 +08:00, a minute per turn) makes relative dates and the
//!   figures reproducible.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use closer_app::args::AnalyzeMessageArgs;
use closer_app::{Api, ApiError, DataDir, Options};
use closer_dialogue::turn::{self, TurnInput};
use closer_dialogue::{
    Action, Annotation, Catalog, ConversationState, Event, FieldSpec, Millis, Mode, Proactivity,
    Promotion, Role, Stage, StrategyView,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Args)]
pub struct DialoguesArgs {
    /// Directory of dialogue files (`*.json`) and an optional `strategy.json`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the NLU's reading of every customer message to FILE (JSON), to replay later
    /// with `--readings`.
    #[arg(long, value_name = "FILE", conflicts_with = "readings")]
    save_readings: Option<PathBuf>,
    /// Replay the NLU readings recorded in FILE by `--save-readings` instead of running the NLU:
    /// measures the tracker, stages and policy alone, against a fixed reading.
    #[arg(long, value_name = "FILE")]
    readings: Option<PathBuf>,
}

/// The NLU's reading of one customer message written at `at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    at: Millis,
    text: String,
    annotation: Annotation,
}

/// Why the dialogues could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum DialogueError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}, column {column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}, turn {turn}, {field}: {message}")]
    Invalid { path: PathBuf, turn: usize, field: String, message: String },
    #[error("{0}: no dialogue files (*.json other than strategy.json)")]
    Empty(PathBuf),
    #[error(
        "{path}: no recorded reading of {text:?} at {at} (record them again with --save-readings)"
    )]
    NoReading { path: PathBuf, text: String, at: Millis },
    #[error("{}", .0.message)]
    App(ApiError),
}

impl From<ApiError> for DialogueError {
    fn from(e: ApiError) -> Self {
        DialogueError::App(e)
    }
}

/// One scripted dialogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialogue {
    pub id: String,
    /// For people reading the file.
    #[serde(default, rename = "title")]
    pub _title: String,
    /// `zh` or `en`.
    pub language: String,
    /// The seed scenario it covers (`cloud_combined`, `angry_complaint`, …).
    #[serde(default)]
    pub scenario: String,
    /// The conversation's mode (draft unless given).
    #[serde(default)]
    pub mode: Mode,
    pub turns: Vec<DialogueTurn>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// One customer message and what should hold after it and its reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogueTurn {
    pub customer: String,
    #[serde(default)]
    pub expect: Expect,
}

/// Expectations for one turn; each one given is checked, the others are not.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Lead fields after the turn: a value (exact), `"*"` (known, any value) or `null` (unknown).
    #[serde(default)]
    pub fields: BTreeMap<String, Option<String>>,
    /// The focus after the turn: `PRODUCT` (any plan), `PRODUCT/plan`, or `null` (none).
    #[serde(default, deserialize_with = "present")]
    pub focus: Option<Option<String>>,
    pub stage: Option<Stage>,
    pub action: Option<Action>,
    /// The one field the reply asks for (`null`: none).
    #[serde(default, deserialize_with = "present")]
    pub ask: Option<Option<String>>,
}

/// Tells `"focus": null` (must be none) from an absent key (not checked).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What DIR/strategy.json may set on top of the demo strategy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategyOverlay {
    proactivity: Option<Proactivity>,
    confidence_threshold: Option<f32>,
    misunderstanding_limit: Option<u32>,
    #[serde(default)]
    playbook: Vec<String>,
    #[serde(default)]
    promotions: Vec<Promotion>,
    max_promotions: Option<u32>,
    auto_send_objections: Option<bool>,
}

/// Loads every dialogue file in `dir` (sorted by name), checking expectations against the
/// catalog and the schema.
pub fn load_dir(
    dir: &Path,
    catalog: &Catalog,
    schema: &[FieldSpec],
) -> Result<Vec<Dialogue>, DialogueError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DialogueError::Io { path, source }
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_none_or(|n| n != "strategy.json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(DialogueError::Empty(dir.to_path_buf()));
    }
    let mut dialogues = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let mut dialogue: Dialogue = parse(&path, &text)?;
        dialogue.path = path;
        validate(&dialogue, catalog, schema)?;
        dialogues.push(dialogue);
    }
    let mut ids: Vec<&str> = dialogues.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        let path = dialogues.iter().rfind(|d| d.id == w[0]).map(|d| d.path.clone());
        return Err(DialogueError::Invalid {
            path: path.unwrap_or_default(),
            turn: 0,
            field: "id".into(),
            message: format!("dialogue id {:?} is used twice", w[0]),
        });
    }
    Ok(dialogues)
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, DialogueError> {
    serde_json::from_str(text).map_err(|e| DialogueError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

fn validate(d: &Dialogue, catalog: &Catalog, schema: &[FieldSpec]) -> Result<(), DialogueError> {
    let invalid = |turn: usize, field: &str, message: String| DialogueError::Invalid {
        path: d.path.clone(),
        turn,
        field: field.to_owned(),
        message,
    };
    if d.id.trim().is_empty() {
        return Err(invalid(0, "id", "empty".into()));
    }
    if !matches!(d.language.as_str(), "zh" | "en") {
        return Err(invalid(0, "language", format!("{:?} is neither zh nor en", d.language)));
    }
    if d.turns.is_empty() {
        return Err(invalid(0, "turns", "a dialogue needs at least one turn".into()));
    }
    for (i, t) in d.turns.iter().enumerate() {
        let n = i + 1;
        if t.customer.trim().is_empty() {
            return Err(invalid(n, "customer", "empty message".into()));
        }
        for key in t.expect.fields.keys() {
            if !schema.iter().any(|f| &f.key == key) {
                return Err(invalid(n, "expect.fields", format!("{key:?} is not a lead field")));
            }
        }
        if let Some(Some(ask)) = &t.expect.ask
            && !schema.iter().any(|f| &f.key == ask)
        {
            return Err(invalid(n, "expect.ask", format!("{ask:?} is not a lead field")));
        }
        if let Some(Some(focus)) = &t.expect.focus {
            let (product, plan) = split_focus(focus);
            let Some(p) = catalog.products.iter().find(|p| p.id == product) else {
                return Err(invalid(n, "expect.focus", format!("no product {product:?}")));
            };
            if let Some(plan) = plan
                && !p.plans.iter().any(|k| k.id == plan)
            {
                return Err(invalid(n, "expect.focus", format!("{product} has no plan {plan:?}")));
            }
        }
    }
    Ok(())
}

fn split_focus(focus: &str) -> (&str, Option<&str>) {
    match focus.split_once('/') {
        Some((product, plan)) => (product, Some(plan)),
        None => (focus, None),
    }
}

/// One expectation that did not hold.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub dialogue: String,
    pub scenario: String,
    pub turn: usize,
    pub customer: String,
    /// `fields.budget`, `focus`, `stage`, `action`, `ask`.
    pub slot: String,
    pub expected: String,
    pub got: String,
    /// What the NLU read: the top intent and the sentiment, with confidences.
    pub nlu: String,
}

/// Hits and checks for one slot.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SlotScore {
    pub checked: usize,
    pub matched: usize,
}

impl SlotScore {
    fn add(&mut self, ok: bool) {
        self.checked += 1;
        self.matched += usize::from(ok);
    }

    pub fn accuracy(&self) -> f64 {
        if self.checked == 0 { 1.0 } else { self.matched as f64 / self.checked as f64 }
    }
}

/// The evaluation's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub n_dialogues: usize,
    pub n_turns: usize,
    pub dialogues_completed: usize,
    pub turns_matched: usize,
    pub fields: SlotScore,
    pub focus: SlotScore,
    pub stage: SlotScore,
    pub action: SlotScore,
    /// Turns whose recorded events, replayed from nothing, did not give the live state.
    pub replay_mismatches: usize,
    pub mismatches: Vec<Mismatch>,
    pub mean_nlu_ms: f64,
}

impl Report {
    /// Dialogues whose every turn matched.
    pub fn completion(&self) -> f64 {
        ratio(self.dialogues_completed, self.n_dialogues)
    }

    /// Turns where every expectation given held.
    pub fn joint_accuracy(&self) -> f64 {
        ratio(self.turns_matched, self.n_turns)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// When the first turn of every dialogue is written: 2026-01-05 10:00 +08:00.
const START: Millis = 1_767_578_400_000;
const TURN_GAP: Millis = 60_000;

fn eval_clock() -> Millis {
    START
}

/// Reads one message written at a time: its annotation and the milliseconds it took.
pub type Analyzer<'a> = dyn FnMut(&str, Millis) -> Result<(Annotation, f64), DialogueError> + 'a;

/// Replays every dialogue; `analyze` reads one message written at a time.
pub fn run(
    dialogues: &[Dialogue],
    catalog: &Catalog,
    strategy: &StrategyView,
    analyze: &mut Analyzer<'_>,
) -> Result<Report, DialogueError> {
    let mut report = Report { n_dialogues: dialogues.len(), ..Report::default() };
    let mut nlu_ms = 0.0;
    for d in dialogues {
        let mut state = ConversationState::default();
        let mut log: Vec<Event> = Vec::new();
        let record = |state: &mut ConversationState, log: &mut Vec<Event>, events: Vec<Event>| {
            for e in &events {
                state.apply(e);
            }
            log.extend(events);
        };
        if d.mode != Mode::default() {
            record(&mut state, &mut log, vec![Event::ModeChanged { mode: d.mode, at: START - 1 }]);
        }
        let mut all_matched = true;
        for (i, t) in d.turns.iter().enumerate() {
            let at = START + TURN_GAP * i as Millis;
            let (annotation, ms) = analyze(&t.customer, at)?;
            nlu_ms += ms;
            let nlu = reading(&annotation);
            let input = TurnInput {
                id: format!("{}#{}", d.id, i + 1),
                text: t.customer.clone(),
                at,
                annotation,
            };
            let outcome = turn::customer_message(&state, &input, catalog, strategy);
            let decision = outcome.decision.clone();
            record(&mut state, &mut log, outcome.events);
            if decision.action != Action::HandOff {
                let reply_at = at + TURN_GAP / 2;
                let id = format!("{}#{}-reply", d.id, i + 1);
                let text = format!("[{}]", decision.action.as_str());
                let by = if decision.may_auto_send { Role::Ai } else { Role::Salesperson };
                let offered = decision.offered(&id, &text, reply_at);
                record(&mut state, &mut log, vec![offered]);
                let sent = turn::reply_sent(&state, &id, &text, by, reply_at);
                record(&mut state, &mut log, sent.events);
            }
            report.replay_mismatches += usize::from(ConversationState::replay(&log) != state);

            let mut turn_ok = true;
            let mut check = |slot: &str, ok: bool, expected: String, got: String| {
                if !ok {
                    turn_ok = false;
                    report.mismatches.push(Mismatch {
                        dialogue: d.id.clone(),
                        scenario: d.scenario.clone(),
                        turn: i + 1,
                        customer: t.customer.clone(),
                        slot: slot.to_owned(),
                        expected,
                        got,
                        nlu: nlu.clone(),
                    });
                }
                ok
            };
            let e = &t.expect;
            for (key, want) in &e.fields {
                let got = state.lead.fields.get(key).map(|v| v.value.clone());
                let ok = match (want.as_deref(), got.as_deref()) {
                    (None, got) => got.is_none_or(|g| g.trim().is_empty()),
                    (Some("*"), got) => got.is_some_and(|g| !g.trim().is_empty()),
                    (Some(want), got) => got == Some(want),
                };
                let shown = |v: Option<&str>| v.map_or("(none)".to_owned(), str::to_owned);
                let ok = check(
                    &format!("fields.{key}"),
                    ok,
                    shown(want.as_deref()),
                    shown(got.as_deref()),
                );
                report.fields.add(ok);
            }
            if let Some(want) = &e.focus {
                let got = state.focus.as_ref().map(|f| match &f.plan {
                    Some(plan) => format!("{}/{plan}", f.product),
                    None => f.product.clone(),
                });
                let ok = match (want, &got) {
                    (None, got) => got.is_none(),
                    (Some(want), Some(got)) => {
                        let (wp, wk) = split_focus(want);
                        let (gp, gk) = split_focus(got);
                        wp == gp && wk.is_none_or(|wk| Some(wk) == gk)
                    }
                    (Some(_), None) => false,
                };
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                let ok = check("focus", ok, shown(want), shown(&got));
                report.focus.add(ok);
            }
            if let Some(want) = e.stage {
                let ok = check(
                    "stage",
                    state.stage == want,
                    want.as_str().to_owned(),
                    state.stage.as_str().to_owned(),
                );
                report.stage.add(ok);
            }
            if e.action.is_some() || e.ask.is_some() {
                let mut ok = true;
                if let Some(want) = e.action {
                    let got =
                        format!("{} ({})", decision.action.as_str(), decision.reason.as_str());
                    ok &= check("action", decision.action == want, want.as_str().to_owned(), got);
                }
                if let Some(want) = &e.ask {
                    let shown = |v: Option<&str>| v.unwrap_or("(none)").to_owned();
                    let got = decision.field_to_ask.as_deref();
                    ok &= check("ask", got == want.as_deref(), shown(want.as_deref()), shown(got));
                }
                report.action.add(ok);
            }
            report.n_turns += 1;
            report.turns_matched += usize::from(turn_ok);
            all_matched &= turn_ok;
        }
        report.dialogues_completed += usize::from(all_matched);
    }
    report.mean_nlu_ms = nlu_ms / report.n_turns.max(1) as f64;
    Ok(report)
}

/// `price_inquiry 0.91 + feature_question 0.85 (top 0.91), hesitant 0.62`.
fn reading(a: &Annotation) -> String {
    let intents: Vec<String> =
        a.intents.iter().map(|i| format!("{} {:.2}", i.label, i.confidence)).collect();
    let top = a
        .top_intent
        .as_ref()
        .map_or("none".to_owned(), |t| format!("{} {:.2}", t.label, t.confidence));
    format!(
        "[{}] top {top}, {} {:.2}",
        intents.join(" + "),
        a.sentiment.label.as_str(),
        a.sentiment.confidence
    )
}

/// The demo strategy's lead fields, each listed without cue words completed from the default
/// schema's field of the same key (its type too, when the demo says only `text`).
fn completed_fields(document: &serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let defaults = closer_app::nlu::default_lead_fields()?;
    let mut document = document.clone();
    if let Some(entries) = document.get_mut("lead_fields").and_then(|v| v.as_array_mut()) {
        for entry in entries.iter_mut() {
            let Some(obj) = entry.as_object_mut() else { continue };
            let key = obj.get("key").and_then(|k| k.as_str()).unwrap_or_default();
            let Some(default) = defaults.iter().find(|d| d.key == key) else { continue };
            let has_cues =
                obj.get("cues").and_then(|c| c.as_array()).is_some_and(|c| !c.is_empty());
            if has_cues {
                continue;
            }
            obj.insert("cues".into(), json!(default.cues));
            let kind = obj.get("type").or(obj.get("field_type")).and_then(|t| t.as_str());
            if kind.is_none_or(|k| k == "text") {
                obj.remove("type");
                obj.insert("field_type".into(), json!(default.field_type.as_str()));
            }
        }
    }
    Ok(document)
}

/// The NLU, catalog and strategy the evaluation runs with, on a throw-away data directory.
struct Setup {
    api: Api,
    catalog: Catalog,
    strategy: StrategyView,
    _data: tempfile::TempDir,
}

fn setup(models_dir: &Path, dir: &Path) -> Result<Setup, DialogueError> {
    let data = tempfile::tempdir()
        .map_err(|source| DialogueError::Io { path: std::env::temp_dir(), source })?;
    let api = Api::open(Options {
        data_dir: DataDir::resolve(Some(data.path().to_path_buf())),
        seed_demo: true,
        clock: eval_clock,
        models_dir: models_dir.to_path_buf(),
    })?;
    let store = api.store();
    let demo = store.published_strategy(closer_app::nlu::STRATEGY).map_err(ApiError::from)?;
    let document = completed_fields(&demo.document)?;
    store
        .save_strategy_version(
            closer_app::nlu::STRATEGY,
            &document,
            "demo lead fields with the default cues",
            closer_store::VersionStatus::Published,
            "eval",
            START,
        )
        .map_err(ApiError::from)?;
    let fields = closer_app::nlu::lead_schema(store)?;
    let overlay_path = dir.join("strategy.json");
    let overlay: StrategyOverlay = match std::fs::read_to_string(&overlay_path) {
        Ok(text) => parse(&overlay_path, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StrategyOverlay::default(),
        Err(source) => return Err(DialogueError::Io { path: overlay_path, source }),
    };
    let base = StrategyView::default();
    let proactivity = overlay.proactivity.or_else(|| {
        document.get("proactivity").and_then(|p| p.as_str()).and_then(Proactivity::parse)
    });
    let strategy = StrategyView {
        proactivity: proactivity.unwrap_or_default(),
        confidence_threshold: overlay.confidence_threshold.unwrap_or(base.confidence_threshold),
        misunderstanding_limit: overlay
            .misunderstanding_limit
            .unwrap_or(base.misunderstanding_limit),
        fields,
        playbook: overlay.playbook,
        promotions: overlay.promotions,
        max_promotions: overlay.max_promotions.unwrap_or(base.max_promotions),
        auto_send_objections: overlay.auto_send_objections.unwrap_or(base.auto_send_objections),
    };
    let catalog = closer_app::catalog::dialogue_catalog(&store.products().map_err(ApiError::from)?);
    Ok(Setup { api, catalog, strategy, _data: data })
}

pub fn main(models_dir: &Path, args: DialoguesArgs) -> ExitCode {
    match evaluate(models_dir, &args) {
        Ok(report) => {
            if args.json {
                print_json(&report);
            } else {
                print_table(&report);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn evaluate(models_dir: &Path, args: &DialoguesArgs) -> Result<Report, DialogueError> {
    let setup = setup(models_dir, &args.dir)?;
    let dialogues = load_dir(&args.dir, &setup.catalog, &setup.strategy.fields)?;
    if let Some(path) = &args.readings {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DialogueError::Io { path: path.clone(), source })?;
        let recorded: Vec<Reading> = parse(path, &text)?;
        let recorded: BTreeMap<(Millis, &str), &Annotation> =
            recorded.iter().map(|r| ((r.at, r.text.as_str()), &r.annotation)).collect();
        let mut analyze = |text: &str, at: Millis| match recorded.get(&(at, text)) {
            Some(annotation) => Ok(((*annotation).clone(), 0.0)),
            None => Err(DialogueError::NoReading { path: path.clone(), text: text.into(), at }),
        };
        return run(&dialogues, &setup.catalog, &setup.strategy, &mut analyze);
    }
    setup.api.wait_for_nlu(Duration::from_secs(900))?;
    let api = &setup.api;
    let mut readings: Vec<Reading> = Vec::new();
    let mut analyze = |text: &str, at: Millis| -> Result<(Annotation, f64), DialogueError> {
        let a = api.analyze_message(AnalyzeMessageArgs { text: text.to_owned() })?;
        let annotation = Annotation {
            intents: a.intents,
            top_intent: a.top_intent,
            sentiment: a.sentiment,
            entities: a.entities,
            fields: a.fields,
            language: a.language,
        };
        readings.push(Reading { at, text: text.to_owned(), annotation: annotation.clone() });
        Ok((annotation, a.elapsed_ms))
    };
    let report = run(&dialogues, &setup.catalog, &setup.strategy, &mut analyze)?;
    if let Some(path) = &args.save_readings {
        let json = serde_json::to_string_pretty(&readings).expect("readings serialize");
        std::fs::write(path, json + "\n")
            .map_err(|source| DialogueError::Io { path: path.clone(), source })?;
    }
    Ok(report)
}

fn print_json(r: &Report) {
    let slot = |s: &SlotScore| json!({ "accuracy": s.accuracy(), "checked": s.checked });
    let out = json!({
        "completion": r.completion(),
        "joint_accuracy": r.joint_accuracy(),
        "n_dialogues": r.n_dialogues,
        "n_turns": r.n_turns,
        "dialogues_completed": r.dialogues_completed,
        "turns_matched": r.turns_matched,
        "slots": {
            "fields": slot(&r.fields),
            "focus": slot(&r.focus),
            "stage": slot(&r.stage),
            "action": slot(&r.action),
        },
        "replay_mismatches": r.replay_mismatches,
        "mean_nlu_ms": r.mean_nlu_ms,
        "mismatches": r.mismatches,
    });
    println!("{out}");
}

fn print_table(r: &Report) {
    println!(
        "dialogues: {} ({} turns), NLU {:.1} ms per message",
        r.n_dialogues, r.n_turns, r.mean_nlu_ms
    );
    println!(
        "completion       {:.3}  ({} of {} dialogues matched on every turn)",
        r.completion(),
        r.dialogues_completed,
        r.n_dialogues
    );
    println!(
        "joint accuracy   {:.3}  ({} of {} turns)",
        r.joint_accuracy(),
        r.turns_matched,
        r.n_turns
    );
    for (name, s) in
        [("fields", &r.fields), ("focus", &r.focus), ("stage", &r.stage), ("action", &r.action)]
    {
        println!("  {name:<14} {:.3}  ({} of {})", s.accuracy(), s.matched, s.checked);
    }
    if r.replay_mismatches > 0 {
        println!(
            "replay mismatches: {} (the replayed state differed from the live one)",
            r.replay_mismatches
        );
    }
    if !r.mismatches.is_empty() {
        println!("mismatches:");
    }
    for m in &r.mismatches {
        println!(
            "  {} turn {} {:<14} expected {:<24} got {}   ({} | NLU {})",
            m.dialogue, m.turn, m.slot, m.expected, m.got, m.customer, m.nlu
        );
    }
}
