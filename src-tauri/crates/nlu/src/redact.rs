//! PII redaction for everything that leaves the conversation thread: log lines, audit details,
//! exports with redaction on, analytics, and prompts sent to a remote model backend.
//!
//! Key decision: redaction errs towards masking. It runs the entity detectors
//! ([`crate::entities::extract`]: phones, emails, WeChat IDs with their context words, resident IDs
//! with the GB 11643 check digit, bank cards with Luhn, people's names) and then a context-free
//! backstop over the digits that the detectors deliberately leave alone because a context word
//! says "this is an order number" (`订单号13812345678`) or because the number is glued to letters
//! (`id:11010519491231002Xabc`): any mainland-mobile-shaped run, any valid resident ID and any
//! Luhn-valid 13–19 digit run is masked too. A false mask in a log line costs nothing; a leaked
//! number cannot be taken back.
//!
//! - [`find`]: the PII spans of a text (byte offsets, never overlapping, in order).
//! - [`redact`]: the text masked in place, same byte length (`138****5678`, `z***@example.com`):
//!   for logs, audit details and exports, where a reader needs to tell values apart.
//! - [`redact_with`] and [`Style::Placeholder`]: each span replaced by `[phone]`, `[email]`…, for
//!   text sent to a remote model, which needs no part of the number.
//! - [`redact_json`]: every string in a JSON value redacted (keys too).

use std::sync::LazyLock;

use closer_dialogue::{Entity, EntityKind};
use regex::Regex;

use crate::entities::{self, Context, luhn_valid, valid_resident_id};

/// How a span is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// In place, keeping the ends and the byte length ([`entities::mask`]).
    #[default]
    Mask,
    /// Replaced by the kind's name in brackets: `[phone]`, `[resident_id]`.
    Placeholder,
}

/// One PII span of a text: byte offsets on character boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub kind: EntityKind,
    pub start: usize,
    pub end: usize,
}

/// A redacted text and what was hidden in it (offsets into the original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub spans: Vec<Span>,
}

/// The stable name of a PII kind, as placeholders and reports spell it.
pub fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Phone => "phone",
        EntityKind::Email => "email",
        EntityKind::Wechat => "wechat",
        EntityKind::ResidentId => "resident_id",
        EntityKind::BankCard => "bank_card",
        EntityKind::Person => "person",
        EntityKind::Money => "money",
        EntityKind::Quantity => "quantity",
        EntityKind::DateTime => "date_time",
        EntityKind::Company => "company",
    }
}

/// A run of digits (ASCII or full-width) with single spaces or dashes between groups.
static DIGITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9０-９](?:[ \-‐－]?[0-9０-９])*(?:[ \-]?[Xxｘ Ｘ])?").expect("static regex")
});
/// A WeChat context word, for the redaction-side backstop (wider than the detector's reach).
static WECHAT_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i:微信|威信|薇信|v信|vx|wx|weixin|wechat|绿泡泡|企微)").expect("static regex")
});
/// A token shaped like a WeChat ID, with what precedes it on the same clause.
static WECHAT_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^A-Za-z0-9_-])([A-Za-z][A-Za-z0-9_-]{5,19})(?:$|[^A-Za-z0-9_@.-]|\.(?:$|[^A-Za-z0-9]))")
        .expect("static regex")
});
static MOBILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"1[3-9][0-9]{9}").expect("static regex"));

/// The PII spans of `text`, in order, never overlapping.
pub fn find(text: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = entities::extract(text, &Context::default())
        .into_iter()
        .filter(|e| e.kind.is_pii())
        .map(|e| Span { kind: e.kind, start: e.start as usize, end: e.end as usize })
        .collect();
    backstop(text, &mut spans);
    wechat_backstop(text, &mut spans);
    spans.sort_by_key(|s| (s.start, s.end));
    // Merge overlaps: the earlier span is extended, keeping its kind.
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start < last.end => last.end = last.end.max(s.end),
            _ => merged.push(s),
        }
    }
    merged
}

/// Digit runs the detectors leave alone but that are numbers nobody should see in a log.
fn backstop(text: &str, spans: &mut Vec<Span>) {
    let covered = |spans: &[Span], start: usize, end: usize| {
        spans.iter().any(|s| s.start <= start && end <= s.end)
    };
    for m in DIGITS.find_iter(text) {
        // The run's digits with the byte offset each came from.
        let mut digits = String::new();
        let mut origin: Vec<(usize, usize)> = Vec::new();
        for (at, c) in m.as_str().char_indices() {
            let folded = match c {
                '０'..='９' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                'ｘ' | 'Ｘ' | 'x' => 'X',
                c => c,
            };
            if folded.is_ascii_digit() || folded == 'X' {
                digits.push(folded);
                origin.push((m.start() + at, m.start() + at + c.len_utf8()));
            }
        }
        let range = |from: usize, to: usize| (origin[from].0, origin[to - 1].1);
        let mut push = |kind: EntityKind, from: usize, to: usize| {
            let (start, end) = range(from, to);
            if !covered(spans, start, end) {
                spans.push(Span { kind, start, end });
            }
        };
        let n = digits.len();
        if n == 0 {
            continue;
        }
        // A resident ID anywhere in the run.
        let bytes = digits.as_bytes();
        let mut i = 0;
        while i + 18 <= n {
            if valid_resident_id(&digits[i..i + 18]) {
                push(EntityKind::ResidentId, i, i + 18);
                i += 18;
            } else {
                i += 1;
            }
        }
        let plain_end = if bytes[n - 1] == b'X' { n - 1 } else { n };
        let plain = &digits[..plain_end];
        // The whole run as a card.
        if (13..=19).contains(&plain.len()) && luhn_valid(plain) && !valid_resident_id(&digits) {
            push(EntityKind::BankCard, 0, plain.len());
            continue;
        }
        // Mobiles inside the run (an order number that is a phone is still a phone).
        for found in MOBILE.find_iter(plain) {
            // Only runs that are exactly a mobile, or a mobile after a 86 country code.
            let whole = found.start() == 0 && found.end() == plain.len();
            let with_cc = plain.len() == 13 && plain.starts_with("86") && found.start() == 2;
            if whole || with_cc {
                push(EntityKind::Phone, found.start(), found.end());
            }
        }
    }
}

/// How far after a WeChat context word an ID is looked for, in bytes (about 8 Chinese characters
/// or 24 ASCII ones: `加个微信吗？我的是…`, `WeChat, my ID is …`).
const WECHAT_REACH: usize = 24;

/// A WeChat-ID-shaped token shortly after a WeChat context word: masked when it has a digit, `_`
/// or `-` in it, or when an explicit `是` / `is` / `:` / `ID` comes right before it.
fn wechat_backstop(text: &str, spans: &mut Vec<Span>) {
    for cue in WECHAT_CUE.find_iter(text) {
        let ascii_cue = cue.as_str().is_ascii();
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if ascii_cue
            && (glued(text[..cue.start()].chars().next_back())
                || glued(text[cue.end()..].chars().next()))
        {
            continue;
        }
        let mut reach = (cue.end() + WECHAT_REACH).min(text.len());
        while !text.is_char_boundary(reach) {
            reach -= 1;
        }
        let window = &text[cue.end()..];
        for caps in WECHAT_TOKEN.captures_iter(window) {
            let Some(token) = caps.get(1) else { continue };
            if cue.end() + token.start() >= reach {
                break;
            }
            let (start, end) = (cue.end() + token.start(), cue.end() + token.end());
            let id = token.as_str();
            let marked = id.chars().any(|c| c.is_ascii_digit() || c == '_' || c == '-');
            let before = text[cue.end()..start].trim_end().to_ascii_lowercase();
            let explicit =
                ["是", "is", ":", "：", "id", "号", "为"].iter().any(|m| before.ends_with(m));
            if (marked || explicit) && !spans.iter().any(|s| s.start < end && start < s.end) {
                spans.push(Span { kind: EntityKind::Wechat, start, end });
            }
            break;
        }
    }
}

/// `text` with every PII span masked in place (same byte length).
pub fn redact(text: &str) -> String {
    redact_with(text, Style::Mask).text
}

/// `text` with every PII span hidden in the given style, and the spans.
pub fn redact_with(text: &str, style: Style) -> Redacted {
    let spans = find(text);
    let out = match style {
        Style::Mask => {
            let as_entities: Vec<Entity> = spans
                .iter()
                .filter_map(|s| {
                    Some(Entity {
                        kind: s.kind,
                        text: text.get(s.start..s.end)?.to_owned(),
                        value: String::new(),
                        start: u32::try_from(s.start).ok()?,
                        end: u32::try_from(s.end).ok()?,
                        confidence: 1.0,
                    })
                })
                .collect();
            entities::mask(text, &as_entities)
        }
        Style::Placeholder => {
            let mut out = String::with_capacity(text.len());
            let mut at = 0;
            for s in &spans {
                out.push_str(&text[at..s.start]);
                out.push('[');
                out.push_str(kind_name(s.kind));
                out.push(']');
                at = s.end;
            }
            out.push_str(&text[at..]);
            out
        }
    };
    Redacted { text: out, spans }
}

/// Every string in `value` (object keys included) redacted in place with [`redact`].
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            let r = redact(s);
            if r != *s {
                *s = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                redact_json(&mut v);
                map.insert(redact(&key), v);
            }
        }
        _ => {}
    }
}

/// Whether `text` holds no PII the redactor can find.
pub fn is_clean(text: &str) -> bool {
    find(text).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_detected_pii_and_keeps_the_rest() {
        let text = "我叫王磊，手机138 1234 5678，邮箱wang.lei@example.com，身份证11010519491231002X，预算5万";
        let r = redact(text);
        assert_eq!(r.len(), text.len());
        for secret in ["1234", "wang.lei", "19491231"] {
            assert!(!r.contains(secret), "{secret} in {r}");
        }
        assert!(r.contains("预算5万"), "{r}");
    }

    #[test]
    fn the_backstop_masks_numbers_the_detectors_leave_alone() {
        // A context word makes the detectors call it an order number; it is masked anyway.
        let r = redact("订单号13812345678的物流呢");
        assert!(!r.contains("13812345678"), "{r}");
        let r = redact("no6222020200112233446abc");
        assert!(!r.contains("6222020200112233446"), "{r}");
        let r = redact("ref:11010519491231002Xab");
        assert!(!r.contains("11010519491231002X"), "{r}");
    }

    #[test]
    fn placeholders_name_the_kind() {
        let r = redact_with("call me on +86 138-1234-5678 or mail a@b.co", Style::Placeholder);
        assert_eq!(r.text, "call me on [phone] or mail [email]");
        assert_eq!(r.spans.len(), 2);
    }

    #[test]
    fn json_strings_and_keys_are_redacted() {
        let mut v = serde_json::json!({"text": "电话13812345678", "n": 3, "13900001111": ["zhangwei@b.co"]});
        redact_json(&mut v);
        let s = v.to_string();
        assert!(
            !s.contains("13812345678") && !s.contains("13900001111") && !s.contains("zhangwei"),
            "{s}"
        );
        assert_eq!(v["n"], 3);
    }

    #[test]
    fn plain_text_is_untouched() {
        for text in ["你好，多少钱？", "Version 2.0 costs 4999 yuan for 12 months", ""] {
            assert_eq!(redact(text), text);
        }
    }
}
