//! Rule-based entity and lead-field detectors: phones, emails, WeChat IDs, resident IDs and bank
//! cards (PII), money, quantities, dates and times, companies and people — in Chinese and English.
//!
//! Rules cover what rules do best (design.md, "Multi-intent NLU"): every detector runs on a folded
//! copy of the message (full-width → ASCII, see `fold`) and reports byte offsets into the
//! original text. Values are normalised as [`EntityKind`] documents. Overlapping findings are
//! resolved deterministically: the longest span wins, then the more specific kind (an ID number
//! is never also a phone or a card). Precision is preferred to recall: a missed name is better
//! than a wrong one.
//!
//! - [`extract`]: all entities of a message, given the reference time in a [`Context`].
//! - [`propose_fields`]: entities (and cue phrases) mapped onto the manager's lead-field schema.
//! - [`mask`]: PII masking for logs, exports and remote prompts.
//! - [`evaluate`] / [`read_cases`]: precision, recall and F1 per kind on labelled JSONL
//!   (`data/fields/dev.jsonl` to tune on, `test.jsonl` held out).
//!
//! Modules: `fold` (matching text and the way back to offsets), `numbers` (exact decimals,
//! Chinese and English numerals, multipliers), `contact` (phones, emails, WeChat, IDs, cards),
//! `money` (money and quantities), `datetime`, `names` (companies and people), `fields`, `mask`,
//! `eval`. Every regex is compiled once (`LazyLock`); the first call pays for compiling them
//! (~0.1 s), after that a typical message takes tens of microseconds.

mod contact;
mod datetime;
mod eval;
mod fields;
mod fold;
mod mask;
mod money;
mod names;
mod numbers;

use closer_dialogue::{Entity, EntityKind};

pub use contact::{luhn_valid, resident_id_check, valid_resident_id};
pub use eval::{
    CaseError, ErrorKind, FieldCase, FieldReport, KindScore, LabelledEntity, Score, evaluate,
    parse_case, read_cases,
};
pub use fields::propose_fields;
pub use mask::mask;

/// What the detectors need besides the text: the moment the message was written, to resolve
/// relative dates (明天, next Tuesday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Unix time in milliseconds.
    pub now_ms: i64,
    /// The customer's offset from UTC in minutes (+08:00 = 480).
    pub utc_offset_minutes: i32,
}

impl Default for Context {
    /// The Unix epoch at +08:00; real callers pass the message's time.
    fn default() -> Self {
        Self { now_ms: 0, utc_offset_minutes: Self::DEFAULT_UTC_OFFSET_MINUTES }
    }
}

impl Context {
    /// China Standard Time, the default offset.
    pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 480;

    /// A context at `now_ms` (Unix millis) in +08:00.
    pub fn at(now_ms: i64) -> Self {
        Self { now_ms, utc_offset_minutes: Self::DEFAULT_UTC_OFFSET_MINUTES }
    }

    pub fn with_utc_offset(self, minutes: i32) -> Self {
        Self { utc_offset_minutes: minutes, ..self }
    }

    /// Parses an RFC 3339 time with an offset (`2026-11-21T10:00:00+08:00`, `…Z`); the offset
    /// becomes the context's.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let pieces = jiff::fmt::temporal::Pieces::parse(s).ok()?;
        let offset = match pieces.offset()? {
            jiff::fmt::temporal::PiecesOffset::Zulu => jiff::tz::Offset::UTC,
            jiff::fmt::temporal::PiecesOffset::Numeric(n) => n.offset(),
            _ => return None,
        };
        let time = pieces.time().unwrap_or(jiff::civil::Time::midnight());
        let ts = offset.to_timestamp(pieces.date().to_datetime(time)).ok()?;
        Some(Self { now_ms: ts.as_millisecond(), utc_offset_minutes: offset.seconds() / 60 })
    }

    /// The local date and time of `now`.
    pub(crate) fn local(&self) -> jiff::civil::DateTime {
        let offset = jiff::tz::Offset::from_seconds(self.utc_offset_minutes.saturating_mul(60))
            .unwrap_or(jiff::tz::Offset::UTC);
        let ts =
            jiff::Timestamp::from_millisecond(self.now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        offset.to_datetime(ts)
    }
}

/// A finding before overlaps are resolved, in folded-text byte offsets.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) found: Found,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: String,
    pub(crate) confidence: f32,
}

impl Candidate {
    pub(crate) fn new(
        found: Found,
        start: usize,
        end: usize,
        value: String,
        confidence: f32,
    ) -> Self {
        Self { found, start, end, value, confidence }
    }

    fn rank(&self) -> u8 {
        match self.found {
            Found::Blocker | Found::Entity(EntityKind::ResidentId) => 10,
            Found::Entity(EntityKind::BankCard) => 9,
            Found::Entity(EntityKind::Email) => 8,
            Found::Entity(EntityKind::Wechat) => 7,
            Found::Entity(EntityKind::Phone) => 6,
            Found::Entity(EntityKind::DateTime) => 5,
            Found::Entity(EntityKind::Money) => 4,
            Found::Entity(EntityKind::Quantity) => 3,
            Found::Entity(EntityKind::Company) => 2,
            Found::Entity(EntityKind::Person) => 1,
        }
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.start < other.end && other.start < self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    Entity(EntityKind),
    /// Shaped like a resident ID but with a wrong check digit: nothing may be reported here.
    Blocker,
}

/// All entities in `text`, ordered by position, never overlapping. A person, contact or date
/// repeated with the same value is reported once (its first mention); amounts and counts are
/// reported every time.
pub fn extract(text: &str, context: &Context) -> Vec<Entity> {
    let folded = fold::Folded::new(text);
    let mut candidates = Vec::new();
    contact::detect(&folded, &mut candidates);
    datetime::detect(&folded, context, &mut candidates);
    money::detect(&folded, &mut candidates);
    names::detect(&folded, &mut candidates);
    resolve(candidates)
        .into_iter()
        .filter_map(|c| {
            let Found::Entity(kind) = c.found else { return None };
            let (start, end) = folded.original_range(c.start, c.end);
            Some(Entity {
                kind,
                text: text.get(start..end)?.to_string(),
                value: c.value,
                start: u32::try_from(start).ok()?,
                end: u32::try_from(end).ok()?,
                confidence: c.confidence,
            })
        })
        .collect()
}

/// Longest span first, then the more specific kind, then the earlier one; a span that overlaps
/// one already kept is dropped.
fn resolve(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.retain(|c| c.start < c.end);
    candidates.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(b.rank().cmp(&a.rank()))
            .then(a.start.cmp(&b.start))
            .then(a.value.cmp(&b.value))
    });
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if !kept.iter().any(|k| k.overlaps(&c)) {
            kept.push(c);
        }
    }
    kept.retain(|c| c.found != Found::Blocker);
    kept.sort_by_key(|c| (c.start, c.end, c.rank()));
    // The same person, date or number said twice is one finding; amounts and counts may repeat.
    let mut seen: Vec<(Found, String)> = Vec::new();
    kept.retain(|c| {
        if matches!(c.found, Found::Entity(EntityKind::Money | EntityKind::Quantity)) {
            return true;
        }
        let key = (c.found, c.value.clone());
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    kept
}
