//! Evaluation of the entity detectors on labelled messages: precision, recall and F1 per entity
//! kind with exact match on (kind, normalised value), micro-averaged totals, and the list of
//! misses and spurious findings. Behind `closer eval fields`.
//!
//! The labelled format is JSON Lines, one message a line:
//! `{"text": "…", "now": "2026-11-21T10:00:00+08:00", "lang": "zh", "entities": [{"kind": "phone", "value": "13812345678"}]}`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use closer_dialogue::EntityKind;
use serde::{Deserialize, Serialize};

use super::{Context, extract};
use crate::NluError;

/// An expected entity: its kind and normalised value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledEntity {
    pub kind: EntityKind,
    pub value: String,
}

/// One labelled message.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCase {
    /// 1-based line in the file it came from (0 when built in code).
    pub line: usize,
    pub text: String,
    pub context: Context,
    pub lang: String,
    pub entities: Vec<LabelledEntity>,
}

#[derive(Deserialize)]
struct RawCase {
    text: String,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    entities: Vec<LabelledEntity>,
}

/// Parses one JSONL line; `now` is RFC 3339 with an offset (missing: the Unix epoch at +08:00).
pub fn parse_case(line: &str) -> Result<FieldCase, String> {
    let raw: RawCase = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let context = match raw.now.as_deref() {
        Some(now) => Context::parse_rfc3339(now).ok_or_else(|| format!("bad \"now\": {now:?}"))?,
        None => Context::default(),
    };
    Ok(FieldCase { line: 0, text: raw.text, context, lang: raw.lang, entities: raw.entities })
}

/// Reads a JSONL file of labelled messages (blank lines and `//` comments skipped).
pub fn read_cases(path: &Path) -> Result<Vec<FieldCase>, NluError> {
    let content = std::fs::read_to_string(path).map_err(NluError::io(path))?;
    let mut cases = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        let mut case = parse_case(trimmed).map_err(|message| NluError::Data {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        })?;
        case.line = i + 1;
        cases.push(case);
    }
    Ok(cases)
}

/// Counts and rates for one kind, or for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Score {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// 1.0 when nothing was predicted.
    pub precision: f64,
    /// 1.0 when nothing was expected.
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    fn from_counts(tp: usize, fp: usize, fn_: usize) -> Self {
        let ratio = |num: usize, den: usize| if den == 0 { 1.0 } else { num as f64 / den as f64 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Self {
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            precision,
            recall,
            f1,
        }
    }

    /// Expected entities (true positives + misses).
    pub fn support(&self) -> usize {
        self.true_positives + self.false_negatives
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    pub kind: EntityKind,
    #[serde(flatten)]
    pub score: Score,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Expected and not found.
    Missed,
    /// Found and not expected (the value may be wrong rather than the entity made up).
    Spurious,
}

/// One disagreement with the labels, for debugging.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseError {
    pub line: usize,
    pub message: String,
    pub error: ErrorKind,
    pub kind: EntityKind,
    pub value: String,
    /// For a spurious finding, the text it was found in.
    pub found_text: Option<String>,
}

/// The evaluation of a set of labelled messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldReport {
    pub cases: usize,
    /// Every kind that was expected or found, in [`EntityKind`] order.
    pub kinds: Vec<KindScore>,
    /// Micro-averaged over all kinds.
    pub micro: Score,
    pub errors: Vec<CaseError>,
}

impl FieldReport {
    pub fn kind(&self, kind: EntityKind) -> Option<&Score> {
        self.kinds.iter().find(|k| k.kind == kind).map(|k| &k.score)
    }
}

/// Runs [`extract`] on every case and scores it against the labels.
pub fn evaluate(cases: &[FieldCase]) -> FieldReport {
    let mut counts: BTreeMap<EntityKind, (usize, usize, usize)> = BTreeMap::new();
    let mut errors = Vec::new();
    for case in cases {
        let found = extract(&case.text, &case.context);
        let mut expected: Vec<Option<&LabelledEntity>> = case.entities.iter().map(Some).collect();
        for e in &found {
            let hit = expected
                .iter_mut()
                .find(|x| x.is_some_and(|x| x.kind == e.kind && x.value == e.value))
                .and_then(Option::take);
            let c = counts.entry(e.kind).or_default();
            if hit.is_some() {
                c.0 += 1;
            } else {
                c.1 += 1;
                errors.push(CaseError {
                    line: case.line,
                    message: case.text.clone(),
                    error: ErrorKind::Spurious,
                    kind: e.kind,
                    value: e.value.clone(),
                    found_text: Some(e.text.clone()),
                });
            }
        }
        for x in expected.into_iter().flatten() {
            counts.entry(x.kind).or_default().2 += 1;
            errors.push(CaseError {
                line: case.line,
                message: case.text.clone(),
                error: ErrorKind::Missed,
                kind: x.kind,
                value: x.value.clone(),
                found_text: None,
            });
        }
    }
    let kinds = counts
        .iter()
        .map(|(kind, (tp, fp, fn_))| KindScore {
            kind: *kind,
            score: Score::from_counts(*tp, *fp, *fn_),
        })
        .collect();
    let (tp, fp, fn_) = counts.values().fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    FieldReport { cases: cases.len(), kinds, micro: Score::from_counts(tp, fp, fn_), errors }
}

impl fmt::Display for FieldReport {
    /// A table per kind, the micro average, then the errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} messages", self.cases)?;
        writeln!(
            f,
            "{:<12} {:>7} {:>5} {:>5} {:>5} {:>9} {:>7} {:>7}",
            "kind", "support", "tp", "fp", "fn", "precision", "recall", "f1"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &Score| {
            writeln!(
                f,
                "{:<12} {:>7} {:>5} {:>5} {:>5} {:>9.3} {:>7.3} {:>7.3}",
                name,
                s.support(),
                s.true_positives,
                s.false_positives,
                s.false_negatives,
                s.precision,
                s.recall,
                s.f1
            )
        };
        for k in &self.kinds {
            row(f, k.kind.as_str(), &k.score)?;
        }
        row(f, "micro", &self.micro)?;
        for e in &self.errors {
            let what = match e.error {
                ErrorKind::Missed => "missed",
                ErrorKind::Spurious => "spurious",
            };
            let found =
                e.found_text.as_deref().map(|t| format!(" (from {t:?})")).unwrap_or_default();
            writeln!(
                f,
                "line {}: {what} {} {:?}{found}: {}",
                e.line,
                e.kind.as_str(),
                e.value,
                e.message
            )?;
        }
        Ok(())
    }
}
