//! Outbound call scripts: marketing, payment reminder and satisfaction survey calls, each walked
//! opening → need confirmation → objection handling → result logging, ending in an outcome code
//! that maps to a lead status (and through it to a CRM status).
//!
//! Key decision: a script is part of the strategy document (the manager edits its words and
//! outcome codes), and [`ScriptRun`] is a pure walker over it. The caller feeds it what the
//! customer said — the NLU's [`Annotation`] when there is one, else the transcript text, matched
//! against the script's cue words — and gets the next step and its line back. An objection is
//! answered from the script's own entries or the strategy's playbook, and the walk then returns to
//! the step it interrupted.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::document::{Bilingual, DocumentIssue, Language, PlaybookEntry};
use crate::nlu::intents;
use crate::{Annotation, Stage};

/// What an outbound call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Marketing,
    PaymentReminder,
    SatisfactionSurvey,
}

stable_names!(Scenario {
    Marketing => "marketing",
    PaymentReminder => "payment_reminder",
    SatisfactionSurvey => "satisfaction_survey",
});

/// A step of a call, in the order they are walked.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    #[default]
    Opening,
    NeedConfirmation,
    ObjectionHandling,
    ResultLogging,
}

stable_names!(StepKind {
    Opening => "opening",
    NeedConfirmation => "need_confirmation",
    ObjectionHandling => "objection_handling",
    ResultLogging => "result_logging",
});

/// The lead status an outcome sets (the CRM relay maps it to the CRM's own status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Interested: qualified for a proposal.
    Qualified,
    /// Call again at an agreed time.
    Callback,
    /// Not interested: the lead is lost.
    Lost,
    /// Asked not to be called again (lost, and never called).
    DoNotCall,
    /// Payment made.
    Paid,
    /// Payment promised by a date.
    PromisedToPay,
    /// A person follows up: a disputed bill, a complaint in a survey.
    Escalated,
    /// Reached, nothing to change (a survey declined).
    Contacted,
    /// Survey answered.
    SurveyCompleted,
    /// Nobody reached, or the customer could not talk.
    Unreachable,
}

stable_names!(LeadStatus {
    Qualified => "qualified",
    Callback => "callback",
    Lost => "lost",
    DoNotCall => "do_not_call",
    Paid => "paid",
    PromisedToPay => "promised_to_pay",
    Escalated => "escalated",
    Contacted => "contacted",
    SurveyCompleted => "survey_completed",
    Unreachable => "unreachable",
});

impl LeadStatus {
    /// The funnel stage the status moves the conversation to, if it moves it.
    pub fn stage(self) -> Option<Stage> {
        match self {
            LeadStatus::Qualified => Some(Stage::Qualified),
            LeadStatus::Lost | LeadStatus::DoNotCall => Some(Stage::Lost),
            _ => None,
        }
    }
}

/// One step's line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    pub kind: StepKind,
    /// What the caller says at this step. For objection handling it is the fallback when neither
    /// the script nor the playbook has an answer to the objection.
    pub text: Bilingual,
}

/// A result of the call and the lead status it sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeCode {
    /// Stable code (`interested`, `promised_to_pay`, …).
    pub code: String,
    pub lead_status: LeadStatus,
    /// What the caller says to end the call with this outcome.
    pub closing: Bilingual,
}

/// An outbound call script (part of the strategy document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallScript {
    /// Stable id, unique in the document.
    pub id: String,
    pub scenario: Scenario,
    #[serde(default)]
    pub name: Bilingual,
    /// The steps, one of each kind, in walking order.
    pub steps: Vec<ScriptStep>,
    /// Answers to objections specific to this call; the strategy's playbook is the fallback.
    #[serde(default)]
    pub objections: Vec<PlaybookEntry>,
    /// Words that mean the customer wants to end the call ("不需要", "not interested"), for
    /// transcripts without an annotation.
    #[serde(default)]
    pub decline_cues: Vec<String>,
    /// The outcome suggested when the customer declines.
    #[serde(default)]
    pub decline_outcome: Option<String>,
    /// Objections answered before the call moves to result logging (2).
    #[serde(default = "default_max_objections")]
    pub max_objections: u32,
    pub outcomes: Vec<OutcomeCode>,
}

fn default_max_objections() -> u32 {
    2
}

impl CallScript {
    /// The step of a kind.
    pub fn step(&self, kind: StepKind) -> Option<&ScriptStep> {
        self.steps.iter().find(|s| s.kind == kind)
    }

    /// An outcome by code.
    pub fn outcome(&self, code: &str) -> Option<&OutcomeCode> {
        self.outcomes.iter().find(|o| o.code == code)
    }

    /// What is wrong with the script (see [`crate::document::StrategyDocument::validate`]).
    pub fn issues(&self) -> Vec<DocumentIssue> {
        let mut issues = Vec::new();
        let script = || self.id.clone();
        for kind in StepKind::ALL {
            if self.step(*kind).is_none() {
                issues.push(DocumentIssue::MissingScriptStep { script: script(), step: *kind });
            }
        }
        if !self.steps.windows(2).all(|w| w[0].kind < w[1].kind) {
            issues.push(DocumentIssue::ScriptStepsOutOfOrder { script: script() });
        }
        for step in &self.steps {
            for language in Language::ALL {
                if step.text.is_blank(*language) {
                    issues.push(DocumentIssue::EmptyScriptText {
                        script: script(),
                        step: step.kind,
                        language: *language,
                    });
                }
            }
        }
        if self.outcomes.is_empty() {
            issues.push(DocumentIssue::NoOutcomes { script: script() });
        }
        for (i, outcome) in self.outcomes.iter().enumerate() {
            if self.outcomes[..i].iter().any(|o| o.code == outcome.code) {
                issues.push(DocumentIssue::DuplicateOutcome {
                    script: script(),
                    code: outcome.code.clone(),
                });
            }
            for language in Language::ALL {
                if outcome.closing.is_blank(*language) {
                    issues.push(DocumentIssue::EmptyScriptText {
                        script: script(),
                        step: StepKind::ResultLogging,
                        language: *language,
                    });
                }
            }
        }
        if let Some(code) = &self.decline_outcome
            && self.outcome(code).is_none()
        {
            issues.push(DocumentIssue::UnknownOutcome { script: script(), code: code.clone() });
        }
        for entry in &self.objections {
            if !intents::is_objection(&entry.objection) {
                issues.push(DocumentIssue::NotAnObjection { label: entry.objection.clone() });
            }
        }
        issues
    }
}

/// What the customer said, as the walker reads it.
#[derive(Debug, Clone, Copy)]
pub enum Heard<'a> {
    /// The NLU's reading: objection intents, `not_interested` / `goodbye`.
    Annotation(&'a Annotation),
    /// A transcript line without a reading: matched against cue words.
    Text(&'a str),
}

impl<'a> From<&'a Annotation> for Heard<'a> {
    fn from(a: &'a Annotation) -> Self {
        Heard::Annotation(a)
    }
}

impl<'a> From<&'a str> for Heard<'a> {
    fn from(s: &'a str) -> Self {
        Heard::Text(s)
    }
}

/// Where a run is; plain data, so the caller can keep it between turns and
/// [`ScriptRun::resume`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPosition {
    pub step: StepKind,
    /// The step an objection interrupted, to return to.
    pub interrupted: Option<StepKind>,
    pub objections_handled: u32,
    /// The outcome the walk suggests (the customer declined).
    pub suggested_outcome: Option<String>,
}

/// The next thing to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptLine {
    pub step: StepKind,
    pub text: String,
    /// The objection answered, at [`StepKind::ObjectionHandling`].
    pub objection: Option<String>,
    /// An outcome the walk suggests for result logging (the person confirms it).
    pub suggested_outcome: Option<String>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOutcome {
    pub code: String,
    pub lead_status: LeadStatus,
    /// The closing line.
    pub text: String,
}

/// Why a run cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("call script {script:?} has no outcome {code:?}")]
    UnknownOutcome { script: String, code: String },
}

impl ScriptError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ScriptError::UnknownOutcome { .. } => "unknown_outcome",
        }
    }
}

/// A walk through a call script.
#[derive(Debug, Clone)]
pub struct ScriptRun<'a> {
    script: &'a CallScript,
    playbook: &'a [PlaybookEntry],
    language: Language,
    position: ScriptPosition,
}

impl<'a> ScriptRun<'a> {
    /// Starts a call; the opening line is [`ScriptRun::line`].
    pub fn start(script: &'a CallScript, language: Language) -> Self {
        Self::resume(
            script,
            language,
            ScriptPosition {
                step: StepKind::Opening,
                interrupted: None,
                objections_handled: 0,
                suggested_outcome: None,
            },
        )
    }

    /// Continues a call from a kept position.
    pub fn resume(script: &'a CallScript, language: Language, position: ScriptPosition) -> Self {
        ScriptRun { script, playbook: &[], language, position }
    }

    /// Answers objections the script does not cover from the strategy's playbook.
    pub fn with_playbook(mut self, playbook: &'a [PlaybookEntry]) -> Self {
        self.playbook = playbook;
        self
    }

    pub fn position(&self) -> &ScriptPosition {
        &self.position
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The line for the current step (the opening line right after [`ScriptRun::start`]).
    pub fn line(&self) -> ScriptLine {
        self.step_line(self.position.step, None)
    }

    /// The customer answered: returns the next step and its line.
    ///
    /// - an objection (an `objection_*` intent, or a cue word of an entry) is answered, then the
    ///   next answer returns the walk to the step the objection interrupted; past
    ///   `max_objections` the call goes to result logging;
    /// - a decline (`not_interested` / `goodbye`, or a decline cue) goes to result logging with
    ///   the script's decline outcome suggested;
    /// - anything else moves on one step (opening → need confirmation → result logging).
    pub fn on_customer<'h>(&mut self, heard: impl Into<Heard<'h>>) -> ScriptLine {
        let heard = heard.into();
        if self.position.step == StepKind::ResultLogging {
            return self.line();
        }
        if self.declines(heard) {
            self.position.suggested_outcome.clone_from(&self.script.decline_outcome);
            return self.go(StepKind::ResultLogging);
        }
        if let Some(objection) = self.objection(heard) {
            if self.position.objections_handled >= self.script.max_objections {
                return self.go(StepKind::ResultLogging);
            }
            self.position.objections_handled += 1;
            if self.position.step != StepKind::ObjectionHandling {
                self.position.interrupted = Some(self.position.step);
            }
            self.position.step = StepKind::ObjectionHandling;
            return self.step_line(StepKind::ObjectionHandling, Some(objection));
        }
        let from = self.position.interrupted.take().unwrap_or(self.position.step);
        let next = match from {
            StepKind::Opening => StepKind::NeedConfirmation,
            _ => StepKind::ResultLogging,
        };
        self.go(next)
    }

    /// Ends the call with an outcome code: the lead status it sets and the closing line.
    pub fn finish(&self, code: &str) -> Result<CallOutcome, ScriptError> {
        let outcome = self.script.outcome(code).ok_or_else(|| ScriptError::UnknownOutcome {
            script: self.script.id.clone(),
            code: code.to_owned(),
        })?;
        Ok(CallOutcome {
            code: outcome.code.clone(),
            lead_status: outcome.lead_status,
            text: outcome.closing.get(self.language).to_owned(),
        })
    }

    fn go(&mut self, step: StepKind) -> ScriptLine {
        self.position.step = step;
        self.position.interrupted = None;
        self.line()
    }

    fn step_line(&self, step: StepKind, objection: Option<String>) -> ScriptLine {
        let fallback = || {
            self.script.step(step).map(|s| s.text.get(self.language).to_owned()).unwrap_or_default()
        };
        let text = match &objection {
            Some(label) => self
                .entries()
                .find(|e| &e.objection == label)
                .and_then(|e| e.answer(self.language))
                .map_or_else(fallback, str::to_owned),
            None => fallback(),
        };
        ScriptLine {
            step,
            text,
            objection,
            suggested_outcome: self.position.suggested_outcome.clone(),
        }
    }

    /// The script's objection entries, then the playbook's.
    fn entries(&self) -> impl Iterator<Item = &'a PlaybookEntry> {
        self.script.objections.iter().chain(self.playbook.iter())
    }

    fn declines(&self, heard: Heard<'_>) -> bool {
        match heard {
            Heard::Annotation(a) => a.likely(intents::NOT_INTERESTED) || a.likely(intents::GOODBYE),
            Heard::Text(text) => contains_cue(text, &self.script.decline_cues),
        }
    }

    fn objection(&self, heard: Heard<'_>) -> Option<String> {
        match heard {
            Heard::Annotation(a) => {
                let likely = |i: &&crate::IntentScore| i.confidence >= crate::policy::LIKELY;
                a.intents
                    .iter()
                    .filter(likely)
                    .find(|i| intents::is_objection(&i.label))
                    .map(|i| i.label.clone())
            }
            Heard::Text(text) => {
                self.entries().find(|e| contains_cue(text, &e.cues)).map(|e| e.objection.clone())
            }
        }
    }
}

/// Whether `text` contains one of `cues` (NFKC, case-insensitive).
fn contains_cue(text: &str, cues: &[String]) -> bool {
    let text: String = text.nfkc().collect::<String>().to_lowercase();
    cues.iter().any(|cue| {
        let cue: String = cue.nfkc().collect::<String>().to_lowercase();
        !cue.trim().is_empty() && text.contains(cue.trim())
    })
}
