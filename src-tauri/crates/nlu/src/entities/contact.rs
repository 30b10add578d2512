//! Contact and identity numbers: mobile and landline phones, international numbers, emails,
//! WeChat IDs (only next to a context word), resident ID numbers (GB 11643 check digit) and bank
//! cards (Luhn). A number shaped like an ID whose check digit is wrong blocks the span, so it is
//! reported as nothing at all rather than as a phone or a card.

use std::sync::LazyLock;

use closer_dialogue::EntityKind;
use regex::Regex;

use super::fold::Folded;
use super::{Candidate, Found};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

static MOBILE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:(?:\+\s?86|0086|\(\s?\+?86\s?\)|86)[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}")
});
static INTERNATIONAL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:\+|00|\(\+)[1-9][0-9]{0,3}\)?(?:[ -]?\(?[0-9]+\)?)+"));
static LANDLINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\(?0[1-9][0-9]{1,3}\)?[ -]?[2-9][0-9]{2,3}[ -]?[0-9]{4}"));
/// North American numbers without the country code (English messages): 650 555 0134.
static NANP: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:\(\s?[2-9][0-9]{2}\s?\)|[2-9][0-9]{2})[ .-]?[2-9][0-9]{2}[ .-][0-9]{4}")
});
/// UK mobiles without the country code (English messages): 07700 900456.
static UK_MOBILE: LazyLock<Regex> = LazyLock::new(|| re(r"07[0-9]{3} ?[0-9]{3} ?[0-9]{3}"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}",
    )
});
static ID_NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"[1-9](?:[ -]?[0-9]){16}[ -]?[0-9Xx]"));
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]+(?:[ -][0-9]+)*"));
static WECHAT_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i:微信|威信|薇信|v信|vx|wx|weixin|wechat|加我|加v|\+v|加微|绿泡泡|企业微信|企微)")
});
static WECHAT_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z][A-Za-z0-9_-]{5,19}"));
/// Words before a number that make it an order, tracking or account number, not a phone.
static NOT_A_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:订单|单号|运单|快递|编号|工号|学号|卡号|账号|qq|order|tracking|invoice|ref|no\.|#)[^,.!?;。]{0,6}$",
    )
});
static CARD_CUE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i:卡号|银行卡|储蓄卡|信用卡|借记卡|卡|card)[^,.!?;。]{0,8}$"));

pub(crate) fn detect(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    ids_and_cards(f, out);
    phones(f, out);
    emails(f, out);
    wechat(f, out);
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// No digit directly before `start` and none (nor a joined one) directly after `end`.
fn standalone(f: &Folded<'_>, start: usize, end: usize) -> bool {
    let t = f.text.as_bytes();
    let before_ok = start == 0
        || !(t[start - 1].is_ascii_digit()
            || (start >= 2
                && matches!(t[start - 1], b'-' | b'.')
                && t[start - 2].is_ascii_digit()));
    let after_ok = end >= t.len()
        || !(t[end].is_ascii_digit()
            || t[end] == b'@'
            || (end + 1 < t.len()
                && matches!(t[end], b'-' | b'.' | b'_')
                && t[end + 1].is_ascii_alphanumeric()));
    before_ok && after_ok
}

// ---- resident IDs and bank cards ------------------------------------------------------------

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character of the first 17 digits.
pub fn resident_id_check(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(char::from(ID_CHECK[(sum % 11) as usize]))
}

/// 18 characters with a plausible region and a real birth date (check digit not looked at).
fn id_shaped(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || b[0] == b'0' || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| id[r].parse::<i16>().ok();
    let (Some(y), Some(m), Some(d)) = (num(6..10), num(10..12), num(12..14)) else {
        return false;
    };
    (1800..=2099).contains(&y)
        && i8::try_from(m)
            .ok()
            .zip(i8::try_from(d).ok())
            .is_some_and(|(m, d)| m >= 1 && d >= 1 && jiff::civil::Date::new(y, m, d).is_ok())
}

/// A valid resident ID: shaped like one, with the right check digit (`X` upper-case).
pub fn valid_resident_id(id: &str) -> bool {
    let id = id.to_ascii_uppercase();
    id_shaped(&id) && resident_id_check(&id[..17]).is_some_and(|c| id.ends_with(c))
}

/// The Luhn checksum of a string of digits.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0;
    for (i, c) in number.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !number.is_empty() && sum % 10 == 0
}

fn ids_and_cards(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    for m in ID_NUMBER.find_iter(&f.text) {
        let (start, end) = (m.start(), m.end());
        let after_letter = f.after(end).is_some_and(|c| c.is_ascii_alphanumeric());
        if !standalone(f, start, end) || after_letter {
            continue;
        }
        let id: String = m
            .as_str()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        if !id_shaped(&id) {
            continue;
        }
        let found = if valid_resident_id(&id) {
            Found::Entity(EntityKind::ResidentId)
        } else {
            Found::Blocker
        };
        out.push(Candidate::new(found, start, end, id, 0.99));
    }
    for m in DIGIT_RUN.find_iter(&f.text) {
        if !standalone(f, m.start(), m.end()) {
            continue;
        }
        // Groups of the run: try the whole run, then every contiguous stretch of groups.
        let groups: Vec<(usize, usize)> = group_spans(m.as_str(), m.start());
        let mut best: Option<(usize, usize, String)> = None;
        for i in 0..groups.len() {
            for j in (i..groups.len()).rev() {
                let (start, end) = (groups[i].0, groups[j].1);
                let number = digits(&f.text[start..end]);
                if !(13..=19).contains(&number.len())
                    || !luhn_valid(&number)
                    || (number.len() == 18 && id_shaped(&number))
                {
                    continue;
                }
                let cue = CARD_CUE.is_match(&f.text[..start]);
                if !(cue || matches!(number.as_bytes()[0], b'3'..=b'6')) {
                    continue;
                }
                if best.as_ref().is_none_or(|b| number.len() > b.2.len()) {
                    best = Some((start, end, number));
                }
            }
        }
        if let Some((start, end, number)) = best {
            out.push(Candidate::new(Found::Entity(EntityKind::BankCard), start, end, number, 0.9));
        }
    }
}

fn group_spans(run: &str, offset: usize) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in run.char_indices() {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((offset + s, offset + i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((offset + s, offset + run.len()));
    }
    spans
}

// ---- phones ---------------------------------------------------------------------------------

fn phones(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    let not_a_phone = |start: usize| NOT_A_PHONE.is_match(&t[..start]);
    for m in MOBILE.find_iter(t) {
        let d = digits(m.as_str());
        let number = &d[d.len() - 11..];
        if !standalone(f, m.start(), m.end()) || not_a_phone(m.start()) {
            continue;
        }
        // A bare `86` is a country code only when written with the number (8613812345678 or
        // 86 138…), never a stray digit pair.
        out.push(Candidate::new(
            Found::Entity(EntityKind::Phone),
            m.start(),
            m.end(),
            number.into(),
            0.95,
        ));
    }
    for m in INTERNATIONAL.find_iter(t) {
        let s = m.as_str().trim_end_matches([' ', '-', '(']);
        let end = m.start() + s.len();
        if !standalone(f, m.start(), end)
            || f.before(m.start()).is_some_and(|c| c.is_ascii_alphanumeric())
        {
            continue;
        }
        // +44 (0) 7700 …: the trunk zero is not dialled from abroad.
        let mut d = digits(&s.replace("(0)", ""));
        if s.starts_with("00") {
            d.drain(..2);
        }
        let value = if let Some(national) = d.strip_prefix("86") {
            if national.len() == 11 && national.starts_with('1') {
                continue; // a mainland mobile, found above
            }
            if !(10..=11).contains(&national.len()) {
                continue;
            }
            format!("0{national}")
        } else {
            if !(8..=15).contains(&d.len()) {
                continue;
            }
            format!("+{d}")
        };
        out.push(Candidate::new(Found::Entity(EntityKind::Phone), m.start(), end, value, 0.9));
    }
    for m in LANDLINE.find_iter(t) {
        let d = digits(m.as_str());
        let area = if d.starts_with("010") || d.starts_with("02") { 3 } else { 4 };
        let subscriber = d.len() - area.min(d.len());
        let plain = m.as_str().bytes().all(|b| b.is_ascii_digit());
        if !(7..=8).contains(&subscriber)
            || !matches!(d.as_bytes().get(area), Some(b'2'..=b'9'))
            || !standalone(f, m.start(), m.end())
            || not_a_phone(m.start())
            // An unbroken run reads as a landline only with its area code written out in full.
            || (plain && d.len() < 11)
        {
            continue;
        }
        if m.as_str().starts_with('(') != m.as_str().contains(')') {
            continue;
        }
        out.push(Candidate::new(Found::Entity(EntityKind::Phone), m.start(), m.end(), d, 0.85));
    }
    if !f.zh {
        for m in NANP.find_iter(t).chain(UK_MOBILE.find_iter(t)) {
            if !standalone(f, m.start(), m.end())
                || not_a_phone(m.start())
                || f.before(m.start()).is_some_and(|c| c.is_ascii_alphanumeric() || c == '+')
            {
                continue;
            }
            out.push(Candidate::new(
                Found::Entity(EntityKind::Phone),
                m.start(),
                m.end(),
                digits(m.as_str()),
                0.8,
            ));
        }
    }
}

// ---- email and WeChat -----------------------------------------------------------------------

fn emails(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    for m in EMAIL.find_iter(&f.text) {
        if f.before(m.start()).is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
            continue;
        }
        let value = m.as_str().to_ascii_lowercase();
        out.push(Candidate::new(Found::Entity(EntityKind::Email), m.start(), m.end(), value, 0.98));
    }
}

/// Filler between a WeChat cue and the ID: `微信号是`, `WeChat ID: `, `vx：`, `wechat is`.
const WECHAT_FILLERS: &[&str] = &[
    "号码", "号", "账号", "帐号", "id", "是", "为", "也是", "就是", "直接", "搜索", "搜", "加",
    "一下", "吧", ":", "-", "=", ",", "is", "on", "me", "at", "as", "号:", "的", "@", "(", "\"",
    "“", "'",
];
/// Fillers that make an all-letter ID believable (`微信是wanglei`, `WeChat: lily`).
const EXPLICIT: &[&str] = &["号码", "号", "账号", "帐号", "id", "是", "为", ":", "=", "is", "as"];
/// An ID with dots: `Lily.Zhang.LDN`.
static DOTTED_ID: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z][A-Za-z0-9_-]{1,19}(?:\.[A-Za-z0-9_-]{1,19}){1,3}"));
/// Last parts of web addresses, which a dotted ID is not.
const TLDS: &[&str] = &[
    "com", "cn", "net", "org", "io", "co", "uk", "de", "jp", "hk", "tw", "sg", "us", "info", "biz",
    "app", "dev", "ai", "me", "tv", "cc", "edu", "gov", "html", "htm", "php",
];
/// Words that follow "add me on WeChat" and are not IDs.
const NOT_IDS: &[&str] = &[
    "please", "thanks", "thank", "because", "tomorrow", "today", "account", "number", "anytime",
    "instead", "later", "first", "friend", "friends", "before", "after", "details", "directly",
];

fn wechat(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    for cue in WECHAT_CUE.find_iter(t) {
        let ascii_cue = cue.as_str().is_ascii();
        if ascii_cue
            && (f.before(cue.start()).is_some_and(|c| c.is_ascii_alphanumeric())
                || f.after(cue.end()).is_some_and(|c| c.is_ascii_alphanumeric()))
        {
            continue;
        }
        let mut at = cue.end();
        let mut explicit = false;
        'skip: for _ in 0..6 {
            let rest = &t[at..];
            let trimmed = rest.trim_start();
            if trimmed.len() != rest.len() {
                at += rest.len() - trimmed.len();
                continue;
            }
            for filler in WECHAT_FILLERS {
                let Some(head) = rest.get(..filler.len()) else { continue };
                if !head.eq_ignore_ascii_case(filler) {
                    continue;
                }
                // An ASCII filler is a whole word.
                let next = rest[filler.len()..].chars().next();
                if filler.chars().all(|c| c.is_ascii_alphabetic())
                    && next.is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    continue;
                }
                explicit |= EXPLICIT.contains(filler);
                at += filler.len();
                continue 'skip;
            }
            break;
        }
        let rest = &t[at..];
        if let Some(phone) = MOBILE.find(rest).filter(|m| m.start() == 0) {
            let end = at + phone.end();
            if standalone(f, at, end) {
                let d = digits(phone.as_str());
                out.push(Candidate::new(
                    Found::Entity(EntityKind::Wechat),
                    at,
                    end,
                    d[d.len() - 11..].into(),
                    0.9,
                ));
            }
            continue;
        }
        // `wechat id: Lily.Zhang.LDN`: dotted, after an explicit filler, and not a web address.
        if explicit
            && let Some(id) = DOTTED_ID.find(rest)
            && f.after(at + id.end()).is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '@'))
            && !id
                .as_str()
                .rsplit('.')
                .next()
                .is_some_and(|tld| TLDS.contains(&tld.to_ascii_lowercase().as_str()))
        {
            let end = at + id.end();
            out.push(Candidate::new(
                Found::Entity(EntityKind::Wechat),
                at,
                end,
                id.as_str().into(),
                0.8,
            ));
            continue;
        }
        let Some(id) = WECHAT_ID.find(rest) else { continue };
        let end = at + id.end();
        let s = id.as_str();
        if f.after(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-'))
        {
            // Too long, or an email / web address.
            if !(f.after(end) == Some('.')
                && f.text[end + 1..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric()))
            {
                continue;
            }
        }
        let all_letters = s.chars().all(|c| c.is_ascii_alphabetic());
        if all_letters && (!explicit || NOT_IDS.contains(&s.to_ascii_lowercase().as_str())) {
            continue;
        }
        let confidence = if all_letters { 0.75 } else { 0.9 };
        out.push(Candidate::new(Found::Entity(EntityKind::Wechat), at, end, s.into(), confidence));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        assert_eq!(resident_id_check("11010519491231002"), Some('X'));
        assert_eq!(resident_id_check("44052418800101001"), Some('4'));
        assert!(valid_resident_id("11010519491231002X"));
        assert!(valid_resident_id("11010519491231002x"));
        assert!(valid_resident_id("440524188001010014"));
        assert!(!valid_resident_id("110105194912310021"));
        assert!(!valid_resident_id("110105194902300028")); // 30 February
    }

    #[test]
    fn luhn() {
        for n in ["4111111111111111", "5500005555555559", "378282246310005", "79927398713"] {
            assert!(luhn_valid(n), "{n}");
        }
        for n in ["4111111111111112", "79927398710", ""] {
            assert!(!luhn_valid(n), "{n}");
        }
    }
}
