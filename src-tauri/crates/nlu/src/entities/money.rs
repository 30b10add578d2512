//! Money and quantities: a number (Arabic or Chinese, with 万 / k / million multipliers), a
//! currency before or after it, ranges (`5到8万`, `5-8k`, `between $2k and $3k`), or a count unit
//! (`二十台`, `50 users`). Money is `<amount> <ISO>` or `<lo>-<hi> <ISO>`; a quantity is
//! `<number> <unit>`.

use std::sync::LazyLock;

use closer_dialogue::EntityKind;
use regex::Regex;

use super::fold::{Folded, is_clause_break};
use super::numbers::{Amount, Decimal, amount_at, is_zh_numeral};
use super::{Candidate, Found};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

/// Currency written before the number, anchored at the end of the text before it.
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i:(?P<code>US\$|HK\$|\$|¥|€|£|(?:RMB|CNY|USD|EUR|GBP|HKD|JPY)|人民币|美元|欧元))\s*$")
});
/// Currency written after the number.
static SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:多|余|来)?\s*(?i:(?P<code>块钱|块|元|圆|人民币|美元|美金|刀|欧元|英镑|港币|港元|日元|dollars?|bucks|usd|rmb|cny|yuan|euros?|eur|gbp|pounds|hkd|jpy))",
    )
});
static CONNECTOR: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?i:(?P<c>到|至|-|~|或|to|and))\s*"));
/// Words that make a bare number a price (`预算5000`).
static MONEY_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:预算|价格|价位|报价|费用|成本|多少钱|花费|投入|资金|单价|总价|月费|年费|首付|付款|出价|budget|price|cost|spend|pay|afford|quote)[^,.!?;。]{0,8}$",
    )
});
/// Count units (longest first where one is a prefix of another).
static UNIT_ZH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:多|余|来)?\s*(?P<cls>个|名|位)?\s*(?P<unit>用户|账号|帐号|座席|坐席|席位|员工|销售|客服|门店|分店|终端|节点|license|licenses|人天|人|位|名|台|套|份|个月|年|天|核|GB|TB|间|张|件|部|辆|家|条|路|款|把|箱|盒|层|平米|平方米|吨|小时|周|店)",
    )
});
static UNIT_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:(?i:concurrent|active|named|additional|new|full-time|sales|more)\s+)?(?P<unit>(?i:users?|seats?|licen[cs]es?|servers?|units?|people|persons?|employees?|staff|agents?|reps?|stores?|shops?|branches?|offices?|locations?|devices?|accounts?|machines?|computers?|laptops?|pcs|pieces?|sets?|copies|cores?|nodes?|terminals?|years?|months?|weeks?|days?|vcpus?|cpus?|instances?|vms?|sites?|warehouses?|trucks?|vehicles?|cameras?|rooms?|students?|members?|customers?|clients?|salespeople|developers?|engineers?)|GB|TB)",
    )
});
/// Nouns counted with 块 that make it a count, not 块钱.
const KUAI_NOUNS: &[&str] =
    &["硬盘", "屏", "显示器", "板", "电池", "地", "手表", "芯片", "牌", "表"];

struct Currency {
    iso: &'static str,
    start: usize,
    end: usize,
}

fn iso(code: &str) -> &'static str {
    match code.to_ascii_lowercase().as_str() {
        "us$" | "$" | "usd" | "美元" | "美金" | "刀" | "dollar" | "dollars" | "bucks" => "USD",
        "€" | "eur" | "欧元" | "euro" | "euros" => "EUR",
        "£" | "gbp" | "英镑" | "pounds" => "GBP",
        "hk$" | "hkd" | "港币" | "港元" => "HKD",
        "jpy" | "日元" => "JPY",
        _ => "CNY",
    }
}

fn prefix_at(f: &Folded<'_>, at: usize) -> Option<Currency> {
    let before = &f.text[..at];
    let c = PREFIX.captures(before)?;
    let code = c.name("code")?;
    if code.as_str().chars().all(|c| c.is_ascii_alphabetic())
        && f.before(code.start()).is_some_and(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    Some(Currency { iso: iso(code.as_str()), start: code.start(), end: at })
}

fn suffix_at(f: &Folded<'_>, at: usize) -> Option<Currency> {
    let rest = &f.text[at..];
    let c = SUFFIX.captures(rest)?;
    let code = c.name("code")?;
    let end = at + code.end();
    let s = code.as_str();
    if s.is_ascii() && f.after(end).is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    if s == "块" && KUAI_NOUNS.iter().any(|n| f.text[end..].starts_with(n)) {
        return None;
    }
    Some(Currency { iso: iso(s), start: at, end })
}

fn starts_number(f: &Folded<'_>, at: usize, c: char) -> bool {
    if c.is_ascii_digit() {
        !f.before(at).is_some_and(|p| p.is_ascii_digit() || p == '.' || p == ',')
    } else {
        is_zh_numeral(c) && !f.before(at).is_some_and(is_zh_numeral)
    }
}

pub(crate) fn detect(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let mut consumed = 0;
    for (at, c) in f.text.char_indices() {
        if at < consumed || !starts_number(f, at, c) {
            continue;
        }
        let Some(amount) = amount_at(&f.text, at) else { continue };
        if let Some(candidate) = classify(f, amount) {
            consumed = candidate.end;
            out.push(candidate);
        }
    }
}

fn classify(f: &Folded<'_>, a: Amount) -> Option<Candidate> {
    let t = &f.text;
    let prefix = prefix_at(f, a.start);
    // `i5`, `A4`, `Win10` are names, not amounts.
    if prefix.is_none() && f.before(a.start).is_some_and(|c| c.is_ascii_alphabetic() || c == '第')
    {
        return None;
    }
    let first_suffix = suffix_at(f, a.end);
    let mut range: Option<(Decimal, Amount, Option<Currency>)> = None;
    let conn_at = first_suffix.as_ref().map_or(a.end, |s| s.end);
    if let Some(c) = CONNECTOR.captures(&t[conn_at..]) {
        let word = c.name("c").map_or("", |m| m.as_str()).to_ascii_lowercase();
        let start_of_lo = prefix.as_ref().map_or(a.start, |p| p.start);
        let between = t[..start_of_lo].trim_end().to_ascii_lowercase();
        let ok = match word.as_str() {
            "and" => between.ends_with("between"),
            "to" => true,
            _ => true,
        };
        let hi_at = conn_at + c.get(0).map_or(0, |m| m.len());
        let hi_prefix_end = PREFIX_AHEAD.find(&t[hi_at..]).map_or(hi_at, |m| hi_at + m.end());
        let hi_prefix = (hi_prefix_end > hi_at).then(|| prefix_at(f, hi_prefix_end)).flatten();
        if ok
            && let Some(first) = t[hi_prefix_end..].chars().next()
            && (first.is_ascii_digit() || is_zh_numeral(first))
            && let Some(hi) = amount_at(t, hi_prefix_end)
            && a.zh_numeral == hi.zh_numeral
        {
            let lo = if a.pow == 0 && hi.pow > 0 { a.value.shift(hi.pow)? } else { a.value };
            if lo < hi.value && !lo.is_zero() {
                range = Some((lo, hi, hi_prefix));
            }
        }
    }
    let last = range.as_ref().map_or(a, |r| r.1);
    let suffix = suffix_at(f, last.end);
    if let Some(next) = f.after(suffix.as_ref().map_or(last.end, |s| s.end))
        && matches!(next, '%' | '折' | '倍' | '岁' | '号' | '日' | '点' | '/' | '°')
    {
        return None;
    }
    let currency = prefix
        .as_ref()
        .map(|p| p.iso)
        .or(range.as_ref().and_then(|r| r.2.as_ref().map(|p| p.iso)))
        .or(first_suffix.as_ref().map(|s| s.iso))
        .or(suffix.as_ref().map(|s| s.iso));
    let start = prefix.as_ref().map_or(a.start, |p| p.start);
    let end = suffix.as_ref().map_or(last.end, |s| s.end);
    let money_value = |iso: &str| match &range {
        Some((lo, hi, _)) => format!("{lo}-{} {iso}", hi.value),
        None => format!("{} {iso}", a.value),
    };
    if let Some(iso) = currency {
        return Some(money(start, end, money_value(iso), 0.95));
    }
    if range.is_none()
        && let Some((unit, unit_end)) = unit_at(f, &a)
    {
        return Some(Candidate::new(
            Found::Entity(EntityKind::Quantity),
            a.start,
            unit_end,
            format!("{} {unit}", a.value),
            0.85,
        ));
    }
    let default_iso = if f.zh { "CNY" } else { "USD" };
    let after = f.after(last.end);
    let open_end = after.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    // 5万, 30w, 50k, 1.5 million: an amount of money unless it counts something.
    if last.pow >= 3 && open_end && (last.pow >= 4 || !last.zh_numeral || cue_before(f, start)) {
        let confidence = if cue_before(f, start) { 0.9 } else { 0.75 };
        return Some(money(start, end, money_value(default_iso), confidence));
    }
    // 预算5000, budget 8000
    if cue_before(f, start) && open_end && last.value.as_int().is_some_and(|v| v >= 50) {
        return Some(money(start, end, money_value(default_iso), 0.8));
    }
    None
}

static PREFIX_AHEAD: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?i:US\$|HK\$|\$|¥|€|£|RMB|CNY|USD|EUR|GBP|HKD|JPY)\s*"));

fn money(start: usize, end: usize, value: String, confidence: f32) -> Candidate {
    Candidate::new(Found::Entity(EntityKind::Money), start, end, value, confidence)
}

fn cue_before(f: &Folded<'_>, start: usize) -> bool {
    let before = &f.text[..start];
    let clause = before.rfind(is_clause_break).map_or(before, |i| &before[i..]);
    MONEY_CUE.is_match(clause)
}

/// The count unit after an amount: `台`, `个用户` → `用户`, `users`.
fn unit_at(f: &Folded<'_>, a: &Amount) -> Option<(String, usize)> {
    let rest = &f.text[a.end..];
    if let Some(c) = UNIT_ZH.captures(rest) {
        let unit = c.name("unit")?;
        let end = a.end + unit.end();
        let u = unit.as_str();
        let small = a.value.as_int() == Some(1) && a.zh_numeral;
        if u.is_ascii() && f.after(end).is_some_and(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        // 2026年 is a year; 一年多少钱 asks a price, not a quantity.
        if u == "年" && (a.value.as_int().is_some_and(|y| (1900..=2100).contains(&y)) || small) {
            return None;
        }
        if matches!(u, "个月" | "天" | "周" | "小时") && small {
            return None;
        }
        // 一天 / 一周 / 一家 / 一个 rarely count; 两个人 does.
        if matches!(u, "家" | "条" | "路" | "款" | "部" | "把" | "张" | "件" | "层" | "间")
            && a.zh_numeral
        {
            return None;
        }
        let unit = if u == "license" || u == "licenses" { u.to_string() } else { u.to_string() };
        return Some((unit, end));
    }
    if a.zh_numeral {
        return None;
    }
    let c = UNIT_EN.captures(rest)?;
    let unit = c.name("unit")?;
    let end = a.end + unit.end();
    if f.after(end).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let u = unit.as_str();
    let unit = if u.eq_ignore_ascii_case("gb") || u.eq_ignore_ascii_case("tb") {
        u.to_ascii_uppercase()
    } else {
        u.to_ascii_lowercase()
    };
    Some((unit, end))
}
