//! Format and sanity checks for the labelled datasets under `data/` (see `data/README.md`): every
//! line parses, labels and languages are known, no text is repeated within a set or shared between
//! its training and held-out parts, the per-label minimum counts hold, and the entity values are
//! well formed (resident IDs and bank cards check-digit valid, phones normalised).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Deserialize;

const INTENTS: [&str; 18] = [
    "greeting",
    "product_inquiry",
    "price_inquiry",
    "feature_question",
    "compare_competitor",
    "purchase_intent",
    "request_demo_or_trial",
    "objection_price",
    "objection_timing",
    "objection_trust",
    "after_sales",
    "complaint",
    "request_human",
    "provide_contact",
    "provide_requirement",
    "chit_chat",
    "not_interested",
    "goodbye",
];
const SENTIMENTS: [&str; 5] = ["positive", "neutral", "hesitant", "negative", "angry"];
const ENTITY_KINDS: [&str; 10] = [
    "phone",
    "email",
    "wechat",
    "resident_id",
    "bank_card",
    "money",
    "quantity",
    "date_time",
    "company",
    "person",
];
const LANGS: [&str; 2] = ["zh", "en"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentLine {
    text: String,
    labels: Vec<String>,
    lang: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentimentLine {
    text: String,
    label: String,
    lang: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsLine {
    text: String,
    now: String,
    lang: String,
    entities: Vec<EntityLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityLine {
    kind: String,
    value: String,
}

fn data_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(rel)
}

/// Parses every non-empty line of a JSONL file; panics naming the file and line on any error.
fn load<T: for<'de> Deserialize<'de>>(rel: &str) -> Vec<T> {
    let path = data_path(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{rel}:{}: does not parse: {e}", i + 1))
        })
        .collect()
}

fn key(text: &str) -> String {
    text.trim().to_lowercase()
}

/// No text twice within one part, nor in both parts of a set.
fn assert_unique(set: &str, parts: &[(&str, Vec<&str>)]) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (part, texts) in parts {
        for text in texts {
            assert!(!text.trim().is_empty(), "{set}/{part}: empty text");
            if let Some(first) = seen.insert(key(text), part) {
                panic!("{set}: {text:?} appears in {first} and again in {part}");
            }
        }
    }
}

fn assert_lang(set: &str, lang: &str, text: &str) {
    assert!(LANGS.contains(&lang), "{set}: bad lang {lang:?} on {text:?}");
}

/// Counts per (label, lang).
fn count<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for (label, lang) in items {
        *counts.entry((label.to_owned(), lang.to_owned())).or_insert(0) += 1;
    }
    counts
}

fn assert_min_per_label(
    set: &str,
    labels: &[&str],
    counts: &BTreeMap<(String, String), usize>,
    min: usize,
) {
    for label in labels {
        for lang in LANGS {
            let n = counts.get(&(label.to_string(), lang.to_string())).copied().unwrap_or(0);
            assert!(n >= min, "{set}: {label} has {n} {lang} examples, needs at least {min}");
        }
    }
}

#[test]
fn sales_intents() {
    let train: Vec<IntentLine> = load("sales/train.jsonl");
    let test: Vec<IntentLine> = load("sales/test.jsonl");
    for (part, lines) in [("train", &train), ("test", &test)] {
        for line in lines.iter() {
            assert_lang(&format!("sales/{part}"), &line.lang, &line.text);
            assert!(!line.labels.is_empty(), "sales/{part}: no label on {:?}", line.text);
            for label in &line.labels {
                assert!(
                    INTENTS.contains(&label.as_str()),
                    "sales/{part}: unknown intent {label:?} on {:?}",
                    line.text
                );
            }
            let mut sorted = line.labels.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                line.labels.len(),
                "sales/{part}: repeated label on {:?}",
                line.text
            );
        }
    }
    assert_unique(
        "sales",
        &[
            ("train", train.iter().map(|l| l.text.as_str()).collect()),
            ("test", test.iter().map(|l| l.text.as_str()).collect()),
        ],
    );
    let per_label = |lines: &[IntentLine]| {
        count(lines.iter().flat_map(|l| l.labels.iter().map(|lab| (lab.as_str(), l.lang.as_str()))))
    };
    assert_min_per_label("sales/train", &INTENTS, &per_label(&train), 45);
    assert_min_per_label("sales/test", &INTENTS, &per_label(&test), 18);
    assert!(
        train.len() + test.len() >= 2400,
        "sales: {} lines, needs 2400",
        train.len() + test.len()
    );
}

#[test]
fn sentiment() {
    let train: Vec<SentimentLine> = load("sentiment/train.jsonl");
    let test: Vec<SentimentLine> = load("sentiment/test.jsonl");
    for (part, lines) in [("train", &train), ("test", &test)] {
        for line in lines.iter() {
            assert_lang(&format!("sentiment/{part}"), &line.lang, &line.text);
            assert!(
                SENTIMENTS.contains(&line.label.as_str()),
                "sentiment/{part}: unknown label {:?} on {:?}",
                line.label,
                line.text
            );
        }
    }
    assert_unique(
        "sentiment",
        &[
            ("train", train.iter().map(|l| l.text.as_str()).collect()),
            ("test", test.iter().map(|l| l.text.as_str()).collect()),
        ],
    );
    let per_label =
        |lines: &[SentimentLine]| count(lines.iter().map(|l| (l.label.as_str(), l.lang.as_str())));
    // ≈ balanced: 1,500 lines over 5 labels × 2 languages, 75/25.
    assert_min_per_label("sentiment/train", &SENTIMENTS, &per_label(&train), 100);
    assert_min_per_label("sentiment/test", &SENTIMENTS, &per_label(&test), 30);
    assert!(
        train.len() + test.len() >= 1500,
        "sentiment: {} lines, needs 1500",
        train.len() + test.len()
    );
}

#[test]
fn lead_fields() {
    let dev: Vec<FieldsLine> = load("fields/dev.jsonl");
    let test: Vec<FieldsLine> = load("fields/test.jsonl");
    assert!(dev.len() >= 300, "fields/dev: {} lines, needs 300", dev.len());
    assert!(test.len() >= 400, "fields/test: {} lines, needs 400", test.len());
    let mentions: usize = dev.iter().chain(&test).map(|l| l.entities.len()).sum();
    assert!(mentions >= 700, "fields: {mentions} entity mentions, needs 700");
    for (part, lines) in [("dev", &dev), ("test", &test)] {
        for line in lines.iter() {
            let at = format!("fields/{part}: {:?}", line.text);
            assert_lang(&format!("fields/{part}"), &line.lang, &line.text);
            assert!(
                is_rfc3339_with_offset(&line.now),
                "{at}: `now` {:?} is not RFC 3339",
                line.now
            );
            for e in &line.entities {
                assert!(ENTITY_KINDS.contains(&e.kind.as_str()), "{at}: unknown kind {:?}", e.kind);
                let v = e.value.as_str();
                match e.kind.as_str() {
                    "phone" => {
                        assert!(is_phone_value(v), "{at}: phone {v:?} is not digits or +digits")
                    }
                    "resident_id" => {
                        assert!(resident_id_valid(v), "{at}: resident_id {v:?} fails GB 11643")
                    }
                    "bank_card" => assert!(bank_card_valid(v), "{at}: bank_card {v:?} fails Luhn"),
                    "email" => assert!(
                        v.contains('@') && v == v.to_lowercase(),
                        "{at}: email {v:?} must be a lower-cased address"
                    ),
                    "money" => {
                        assert!(is_money_value(v), "{at}: money {v:?} is not `<amount> <ISO>`")
                    }
                    "quantity" => {
                        assert!(is_quantity_value(v), "{at}: quantity {v:?} is not `<n> <unit>`")
                    }
                    "date_time" => {
                        assert!(is_iso_date_time(v), "{at}: date_time {v:?} is not ISO 8601")
                    }
                    _ => assert!(!v.trim().is_empty(), "{at}: empty {} value", e.kind),
                }
            }
        }
    }
    assert_unique(
        "fields",
        &[
            ("dev", dev.iter().map(|l| l.text.as_str()).collect()),
            ("test", test.iter().map(|l| l.text.as_str()).collect()),
        ],
    );
}

fn is_phone_value(v: &str) -> bool {
    let digits = v.strip_prefix('+').unwrap_or(v);
    (5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// GB 11643-1999: 17 digits, a real birth date, and the ISO 7064 MOD 11-2 check character.
fn resident_id_valid(v: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = *b"10X98765432";
    let b = v.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| v[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (num(6..10), num(10..12), num(12..14));
    if !(1900..=2100).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
    {
        return false;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize] == b[17]
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}

fn bank_card_valid(v: &str) -> bool {
    if !(16..=19).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = v
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn is_plain_number(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac_ok =
        parts.next().is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac_ok
}

/// `50000 CNY`, `1500 USD`, `50000-80000 CNY`.
fn is_money_value(v: &str) -> bool {
    let Some((amount, currency)) = v.split_once(' ') else { return false };
    let amount_ok = match amount.split_once('-') {
        Some((lo, hi)) => is_plain_number(lo) && is_plain_number(hi),
        None => is_plain_number(amount),
    };
    amount_ok && currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())
}

/// `20 台`, `50 users`, `2 TB`.
fn is_quantity_value(v: &str) -> bool {
    match v.split_once(' ') {
        Some((n, unit)) => is_plain_number(n) && !unit.trim().is_empty() && unit == unit.trim(),
        None => false,
    }
}

/// `2026-11-24` or `2026-11-22T15:00`.
fn is_iso_date_time(v: &str) -> bool {
    let (date, time) = match v.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (v, None),
    };
    let d: Vec<&str> = date.split('-').collect();
    let date_ok = d.len() == 3
        && d[0].len() == 4
        && d[1].len() == 2
        && d[2].len() == 2
        && d.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && {
            let (y, m, day) =
                (d[0].parse().unwrap_or(0), d[1].parse().unwrap_or(0), d[2].parse().unwrap_or(0));
            (1..=12).contains(&m) && day >= 1 && day <= days_in_month(y, m)
        };
    let time_ok = time.is_none_or(|t| {
        let p: Vec<&str> = t.split(':').collect();
        p.len() == 2
            && p.iter().all(|x| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
            && p[0].parse::<u32>().unwrap_or(99) < 24
            && p[1].parse::<u32>().unwrap_or(99) < 60
    });
    date_ok && time_ok
}

/// `2026-11-21T10:00:00+08:00`.
fn is_rfc3339_with_offset(v: &str) -> bool {
    if v.len() != 25 {
        return false;
    }
    let (head, offset) = v.split_at(19);
    let (date, time) = match head.split_once('T') {
        Some(x) => x,
        None => return false,
    };
    is_iso_date_time(&format!("{date}T{}", &time[..5.min(time.len())]))
        && time.len() == 8
        && time[5..].starts_with(':')
        && time[6..].bytes().all(|b| b.is_ascii_digit())
        && (offset.starts_with('+') || offset.starts_with('-'))
        && offset.len() == 6
        && offset[1..3].bytes().all(|b| b.is_ascii_digit())
        && &offset[3..4] == ":"
        && offset[4..].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn check_digit_helpers() {
    assert!(resident_id_valid("11010519491231002X"));
    assert!(!resident_id_valid("110105194912310021"));
    assert!(!resident_id_valid("11010519491331002X"), "month 13");
    assert!(bank_card_valid("4111111111111111"));
    assert!(!bank_card_valid("4111111111111112"));
    assert!(
        is_money_value("50000-80000 CNY")
            && is_money_value("1.5 USD")
            && !is_money_value("5万 CNY")
    );
    assert!(is_iso_date_time("2026-11-22T15:00") && !is_iso_date_time("2026-11-31"));
    assert!(is_rfc3339_with_offset("2026-11-21T10:00:00+08:00"));
    assert!(
        is_phone_value("+14155550123")
            && is_phone_value("13812345678")
            && !is_phone_value("138-1234")
    );
}
