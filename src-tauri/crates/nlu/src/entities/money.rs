//! Money and quantities: a number (Arabic, Chinese or English words, with 万 / k / million
//! multipliers), a currency before or after it, ranges (`5到8万`, `两三万`, `5-8k`, `between $2k
//! and $3k`), or a count unit (`二十台`, `50 users`). Money is `<amount> <ISO>` or
//! `<lo>-<hi> <ISO>`; an amount without a currency is CNY in a Chinese message and USD in an
//! English one. A quantity is `<number> <unit>`, where the unit is the measure word written
//! after the number (`三十个账号` → `30 个`, `6个T` → `6 TB`) or the English noun (`3 printers`).

use std::sync::LazyLock;

use closer_dialogue::EntityKind;
use regex::Regex;

use super::fold::{Folded, is_clause_break};
use super::numbers::{Amount, Decimal, amount_at, en_amount_at, is_zh_numeral, zh_digit};
use super::{Candidate, Found};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

const CODES: &str = "RMB|CNY|USD|EUR|GBP|HKD|JPY|CAD|AUD|SGD|NZD|CHF|KRW|TWD|MYR|INR";

/// Currency written before the number, anchored at the end of the text before it.
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"(?i:(?P<code>US\$|HK\$|C\$|A\$|S\$|\$|¥|€|£|(?:{CODES})|人民币|美元|欧元))\s*$"))
});
static PREFIX_AHEAD: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^(?i:US\$|HK\$|C\$|A\$|S\$|\$|¥|€|£|{CODES})\s*")));
/// Currency written after the number.
static SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:多|余|来)?\s*(?i:(?P<code>块钱|块|元|圆|人民币|美元|美金|刀|欧元|欧|英镑|港币|港元|日元|円|加元|澳元|新加坡元|韩元|台币|dollars?|bucks|yuan|euros?|pounds|quid|yen|{CODES}))"
    ))
});
/// A currency named later in the clause: `30k a year in pounds`.
static LATER: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^[^,.!?;。]{0,24}?(?i:\bin\s+(?P<code>dollars|euros|pounds|usd|rmb|yuan|eur|gbp))(?-u:\b)")
});
static CONNECTOR: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?i:(?P<c>到|至|-|~|或|to|and))\s*"));
/// Words that make a bare number a price (`预算5000`, `尾款26800`).
static MONEY_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:(?:^|[^免])费|收了我?|收我|一个月|预算|价格|价位|报价|费用|成本|多少钱|花费|投入|资金|单价|总价|月费|年费|首付|付款|出价|尾款|定金|订金|余款|货款|全款|押金|预付|营收|收入|营业额|工资|薪资|每月|每年|每个月|月租|年租|包年|包月|花了|付了|退款|退|赔|补差价|差价|优惠|便宜|贵了|budget|price|cost|spend|spent|pay|paid|afford|quote|quoted|charge|charged|fee|fees|deposit|refund|worth|bill|billed|invoice[sd]?|offer|offered|discount|cheaper|rate)[^,.!?;。]{0,8}$",
    )
});
/// A message about prices, where 一千五 and 三千到五千 are amounts of money.
static MONEY_TALK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"预算|价|钱|贵|便宜|优惠|折扣|报价|费用|付|花|买|卖|多少|块|元|成本|收费")
});

/// Measures that make an amount a count of something other than money.
const MEASURES: &[&str] = &[
    "公里", "千米", "米", "字", "步", "遍", "斤", "公斤", "克", "吨", "升", "度", "瓦", "像素",
    "分", "票", "页", "篇", "首", "集", "期", "课", "节", "亩", "只", "头", "支", "瓶", "包", "袋",
    "粉", "户", "行", "次", "单", "平", "岁", "倍", "人次", "访问", "流量", "点击",
];

/// A display resolution after `4K`.
static RESOLUTION_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?i:projector|tv|television|screen|monitor|display|video|resolution|camera|uhd|hdr|电视|投影|屏|显示|分辨率|摄像|视频)",
    )
});
/// A change of a price: `went from`, `涨到`.
static CHANGE_FROM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:\b(?:went|gone|going|go|rose|risen|rise|jumped|jump|increased|increase|raised|raise|climbed|dropped|fell|fallen|changed|moved|hiked|cut|up|down)\s+from|从)$",
    )
});

/// A bound right after a bare number: `2000以内`, `800封顶`.
static BOUND_AFTER: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?:以内|以下|封顶|出头|块?之内)"));

/// A price word right after the number: `5000左右的预算`.
static CUE_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:(?:左右|上下|以内|以下|以上|之内)?\s*的?\s*(?:预算|价格|价位|费用|报价)|(?:/|每|一个?)(?:月|年)|(?i:/mo|/yr|/month|/year|\s+(?:a|per)\s+(?:month|year)))",
    )
});
/// 两三万, 七八千: two neighbouring digits before a unit, a range.
static ADJACENT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?P<a>[一二两三四五六七八九])(?P<b>[二三四五六七八九])(?P<u>十万|百万|千万|万|千|亿)")
});
/// Measure words and count units after a number in Chinese (longest first).
static UNIT_ZH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:多|余|来)?\s*(?P<unit>个\s*(?:TB|GB|T|G)|个月|个|台|套|人|位|名|家|条|份|单|间|张|件|部|辆|把|箱|盒|层|款|本|年|核|TB|GB|T|G|座席|坐席|席位|账号|帐号|用户)",
    )
});
/// Count nouns after a number in English.
static UNIT_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?P<hyphen>-)?\s*(?:(?i:concurrent|active|named|additional|extra|new|full-time|more|sales)\s+)?(?P<unit>[A-Za-z]+)",
    )
});
/// What a quantity is not: a spec (8核16G的配置, 64GB RAM), a duration before a relative word.
static SPEC_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:[0-9]+\s*(?:G|GB|T|TB|核|M|MB)\s*)*(?:的)?\s*(?i:配置|RAM|内存|memory|显存|CPU|vCPU|处理器)",
    )
});
const EN_UNITS: &[&str] = &[
    "user",
    "seat",
    "license",
    "licence",
    "server",
    "unit",
    "person",
    "people",
    "employee",
    "staff",
    "agent",
    "rep",
    "store",
    "shop",
    "branch",
    "office",
    "location",
    "device",
    "account",
    "machine",
    "computer",
    "laptop",
    "pc",
    "piece",
    "set",
    "copy",
    "core",
    "node",
    "terminal",
    "instance",
    "vm",
    "site",
    "warehouse",
    "truck",
    "vehicle",
    "camera",
    "room",
    "student",
    "member",
    "customer",
    "client",
    "developer",
    "dev",
    "engineer",
    "salespeople",
    "printer",
    "order",
    "sku",
    "item",
    "product",
    "desk",
    "phone",
    "tablet",
    "screen",
    "monitor",
    "team",
    "restaurant",
    "clinic",
    "school",
    "hotel",
    "factory",
    "driver",
    "worker",
    "agency",
    "project",
];
/// Plural nouns after a number that count time, money or measures, not things.
const NOT_COUNTS: &[&str] = &[
    "days",
    "weeks",
    "months",
    "years",
    "hours",
    "minutes",
    "seconds",
    "decades",
    "nights",
    "times",
    "ways",
    "things",
    "reasons",
    "questions",
    "points",
    "steps",
    "percent",
    "degrees",
    "inches",
    "feet",
    "meters",
    "metres",
    "miles",
    "kilometers",
    "kilograms",
    "kilos",
    "grams",
    "pounds",
    "ounces",
    "liters",
    "litres",
    "gallons",
    "watts",
    "volts",
    "amps",
    "bits",
    "bytes",
    "pixels",
    "dollars",
    "euros",
    "cents",
    "bucks",
    "thousands",
    "hundreds",
    "millions",
    "billions",
    "yrs",
    "mins",
    "hrs",
    "secs",
    "versions",
    "stars",
    "calls",
    "errors",
    "attempts",
    "tries",
    "yuan",
    "quid",
    "grand",
    "pm",
    "am",
    "kw",
    "kwh",
    "btu",
    "mph",
    "fps",
    "wants",
    "needs",
    "uses",
    "works",
    "gets",
    "goes",
    "makes",
    "takes",
    "seems",
    "looks",
    "costs",
    "pays",
    "comes",
    "runs",
    "says",
    "thinks",
    "knows",
    "helps",
    "likes",
    "means",
    "tells",
    "asks",
    "calls",
    "sends",
    "keeps",
    "starts",
    "stops",
    "shows",
    "gives",
    "lets",
    "puts",
    "plus",
    "is",
    "was",
    "has",
    "does",
    "less",
    "this",
    "thanks",
    "yes",
    "as",
    "us",
    "its",
];
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
        "€" | "eur" | "欧元" | "欧" | "euro" | "euros" => "EUR",
        "£" | "gbp" | "英镑" | "pounds" | "quid" => "GBP",
        "hk$" | "hkd" | "港币" | "港元" => "HKD",
        "jpy" | "日元" | "円" | "yen" => "JPY",
        "c$" | "cad" | "加元" => "CAD",
        "a$" | "aud" | "澳元" => "AUD",
        "s$" | "sgd" | "新加坡元" => "SGD",
        "nzd" => "NZD",
        "chf" => "CHF",
        "krw" | "韩元" => "KRW",
        "twd" | "台币" => "TWD",
        "myr" => "MYR",
        "inr" => "INR",
        _ => "CNY",
    }
}

fn prefix_at(f: &Folded<'_>, at: usize) -> Option<Currency> {
    let c = PREFIX.captures(&f.text[..at])?;
    let code = c.name("code")?;
    if code.as_str().chars().all(|c| c.is_ascii_alphabetic())
        && f.before(code.start()).is_some_and(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    Some(Currency { iso: iso(code.as_str()), start: code.start(), end: at })
}

fn suffix_at(f: &Folded<'_>, at: usize) -> Option<Currency> {
    let c = SUFFIX.captures(&f.text[at..])?;
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

fn cue_before(f: &Folded<'_>, start: usize) -> bool {
    let before = &f.text[..start];
    let clause = before.rfind(is_clause_break).map_or(before, |i| &before[i..]);
    MONEY_CUE.is_match(clause)
}

/// A number that follows a label or a model name: `尾号2504`, `编号 3`, `RTX 4090`, `version 4`.
fn after_label(f: &Folded<'_>, start: usize) -> bool {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?:尾号|号码|编号|单号|卡号|账号|型号|版本|房间|(?i:\bversion|\bv|\bno\.?|\bnumber|\broom|\bmodel|\bref|\bstep|\bpage|#)|(?-u:\b)[A-Z][A-Za-z]*[A-Z][A-Za-z]*|(?-u:\b)[a-z]+[A-Z][A-Za-z]*)\s*:?\s*$",
        )
    });
    LABEL.is_match(&f.text[..start])
}

/// A word before the number in its clause that says it counts things: `访问量大概两万`.
fn count_before(f: &Folded<'_>, start: usize) -> bool {
    static COUNT: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i:访问|流量|人数|用户|粉丝|销量|单量|订单量|数据量|条数|次数|规模|人员|员工|库存|pv|uv|users|visitors|views|downloads|followers|orders)[^,.!?;。]{0,10}$",
        )
    });
    COUNT.is_match(&f.text[..start])
}

fn money(start: usize, end: usize, value: String, confidence: f32) -> Candidate {
    Candidate::new(Found::Entity(EntityKind::Money), start, end, value, confidence)
}

/// The amount that starts at `at`, if a number starts there.
fn number_at(f: &Folded<'_>, at: usize, c: char) -> Option<Amount> {
    let before = f.before(at);
    if c.is_ascii_digit() {
        // Not the middle of 1,000 or 4.2.1.
        let joined = matches!(before, Some('.' | ','))
            && f.before(at - 1).is_some_and(|p| p.is_ascii_digit());
        if before.is_some_and(|p| p.is_ascii_digit()) || joined {
            return None;
        }
        amount_at(&f.text, at)
    } else if is_zh_numeral(c) {
        if before.is_some_and(is_zh_numeral) {
            return None;
        }
        amount_at(&f.text, at)
    } else if c.is_ascii_alphabetic() {
        if before.is_some_and(|p| p.is_ascii_alphanumeric()) {
            return None;
        }
        en_amount_at(&f.text, at)
    } else {
        None
    }
}

pub(crate) fn detect(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let mut consumed = 0;
    for (at, c) in f.text.char_indices() {
        if at < consumed {
            continue;
        }
        let found = adjacent_range(f, at).or_else(|| classify(f, number_at(f, at, c)?));
        if let Some(candidate) = found {
            consumed = candidate.end;
            out.push(candidate);
        }
    }
}

/// 两三万 / 七八千块: a range from two neighbouring digits.
fn adjacent_range(f: &Folded<'_>, at: usize) -> Option<Candidate> {
    if f.before(at).is_some_and(is_zh_numeral) {
        return None;
    }
    let c = ADJACENT.captures(&f.text[at..])?;
    let (a, b) = (
        zh_digit(c.name("a")?.as_str().chars().next()?)?,
        zh_digit(c.name("b")?.as_str().chars().next()?)?,
    );
    if b != a + 1 {
        return None;
    }
    let pow = match c.name("u")?.as_str() {
        "十万" => 5,
        "百万" => 6,
        "千万" => 7,
        "万" => 4,
        "千" => 3,
        _ => 8,
    };
    let end = at + c.get(0)?.end();
    let suffix = suffix_at(f, end);
    let iso = suffix.as_ref().map_or("CNY", |s| s.iso);
    if suffix.is_none() && pow < 4 && !cue_before(f, at) {
        return None;
    }
    let lo = Decimal::int(u128::from(a)).shift(pow)?;
    let hi = Decimal::int(u128::from(b)).shift(pow)?;
    let end = suffix.map_or(end, |s| s.end);
    Some(money(at, end, format!("{lo}-{hi} {iso}"), 0.8))
}

fn classify(f: &Folded<'_>, a: Amount) -> Option<Candidate> {
    let t = &f.text;
    let prefix = prefix_at(f, a.start);
    // `i5`, `A4`, `Win10`, `第3`, `尾号2504`, `RTX 4090` are names and ordinals, not amounts.
    if prefix.is_none()
        && (f.before(a.start).is_some_and(|c| c.is_ascii_alphabetic() || c == '第')
            || after_label(f, a.start))
    {
        return None;
    }
    // 4K projector, 8K TV: a resolution.
    let number_text = &t[a.start..a.end];
    if number_text.ends_with('K') && RESOLUTION_AFTER.is_match(&t[a.end..]) {
        return None;
    }
    // A run of twelve or more digits is an account, card or order number, never an amount.
    if number_text.chars().filter(char::is_ascii_digit).count() >= 12
        && !number_text.contains([',', '.'])
    {
        return None;
    }
    let first_suffix = suffix_at(f, a.end);
    let mut range: Option<(Decimal, Amount, Option<Currency>)> = None;
    let conn_at = first_suffix.as_ref().map_or(a.end, |s| s.end);
    if let Some(c) = CONNECTOR.captures(&t[conn_at..]) {
        let word = c.name("c").map_or("", |m| m.as_str()).to_ascii_lowercase();
        let start_of_lo = prefix.as_ref().map_or(a.start, |p| p.start);
        let before = t[..start_of_lo].trim_end().to_ascii_lowercase();
        let hi_at = conn_at + c.get(0).map_or(0, |m| m.len());
        let hi_start = PREFIX_AHEAD.find(&t[hi_at..]).map_or(hi_at, |m| hi_at + m.end());
        let hi_prefix = (hi_start > hi_at).then(|| prefix_at(f, hi_start)).flatten();
        // went from £2,000 to £2,600: two amounts, a change rather than a range.
        let change = CHANGE_FROM.is_match(&before) && hi_prefix.is_some();
        if (word != "and" || before.ends_with("between"))
            && !change
            && let Some(first) = t[hi_start..].chars().next()
            && let Some(hi) = number_at(f, hi_start, first)
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
    let after_all = suffix.as_ref().map_or(last.end, |s| s.end);
    let mut rest = t[after_all..].chars();
    match (rest.next(), rest.next()) {
        (Some('%' | '折' | '倍' | '岁' | '号' | '日' | '点' | '°'), _) => return None,
        (Some('/' | ':' | '.'), Some(d)) if d.is_ascii_digit() => return None,
        _ => {}
    }
    let currency = prefix
        .as_ref()
        .map(|p| p.iso)
        .or(range.as_ref().and_then(|r| r.2.as_ref().map(|p| p.iso)))
        .or(first_suffix.as_ref().map(|s| s.iso))
        .or(suffix.as_ref().map(|s| s.iso));
    let start = prefix.as_ref().map_or(a.start, |p| p.start);
    let end = after_all;
    let money_value = |iso: &str| match &range {
        Some((lo, hi, _)) => format!("{lo}-{} {iso}", hi.value),
        None => format!("{} {iso}", a.value),
    };
    if let Some(iso) = currency {
        return Some(money(start, end, money_value(iso), 0.95));
    }
    if let Some((unit, unit_end)) = unit_at(f, &last) {
        let confidence = if a.en_words { 0.75 } else { 0.85 };
        // 3到5个人: a range of counts has no single value; report nothing rather than 5 个.
        if range.is_some() {
            return Some(Candidate::new(Found::Blocker, a.start, unit_end, String::new(), 0.0));
        }
        return Some(Candidate::new(
            Found::Entity(EntityKind::Quantity),
            a.start,
            unit_end,
            format!("{} {unit}", a.value),
            confidence,
        ));
    }
    if a.en_words {
        return None;
    }
    let later = LATER.captures(&t[end..]).and_then(|c| c.name("code")).map(|m| iso(m.as_str()));
    let default_iso = later.unwrap_or(if f.zh || last.cjk_multiplier { "CNY" } else { "USD" });
    let open_end = t[end..]
        .chars()
        .next()
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    let cue = cue_before(f, start)
        || CUE_AFTER.is_match(&t[end..])
        || (last.zh_numeral && last.pow == 3 && MONEY_TALK.is_match(t));
    // 3万公里, 5万字: a measure right after the amount names what it counts.
    let counts_something = MEASURES.iter().any(|m| t[end..].starts_with(m));
    // 5万, 30w, 50k, 1.5 million: an amount of money unless it counts something.
    if last.pow >= 3
        && open_end
        && (last.pow >= 4 || !last.zh_numeral || cue)
        && (cue || !count_before(f, start))
        && !counts_something
    {
        return Some(money(start, end, money_value(default_iso), if cue { 0.9 } else { 0.75 }));
    }
    // 预算5000, budget 8000, 尾款26800
    if cue && open_end && !counts_something && last.value.as_int().is_some_and(|v| v >= 50) {
        return Some(money(start, end, money_value(default_iso), 0.8));
    }
    // 2000以内的, 800封顶: a bound on an unnamed amount is a price.
    if open_end
        && BOUND_AFTER.is_match(&t[end..])
        && last.value.as_int().is_some_and(|v| v >= 100)
        && !last.en_words
    {
        return Some(money(start, end, money_value(default_iso), 0.7));
    }
    None
}

/// The count unit after an amount: the measure word (`台`, `个`, `6个T` → `TB`) or a noun.
fn unit_at(f: &Folded<'_>, a: &Amount) -> Option<(String, usize)> {
    let rest = &f.text[a.end..];
    let one = a.value.as_int() == Some(1);
    if !a.en_words
        && let Some(c) = UNIT_ZH.captures(rest)
        && let Some(unit) = c.name("unit")
        // An ASCII unit glued to more letters is an English word (5 Tuesdays): see below.
        && !(unit.as_str().is_ascii() && f.text[a.end + unit.end()..].starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        let end = a.end + unit.end();
        let u = unit.as_str();
        let after = &f.text[end..];
        // 一台 / 一个 / 一家 is the numeral of speech, not a count the customer gives.
        if one && a.zh_numeral {
            return None;
        }
        // 3单元 and 12栋3单元, 三号楼五层: an address, not a count.
        if (u == "单" && after.starts_with('元'))
            || ["栋", "幢", "号楼", "楼", "单元"].iter().any(|w| f.text[..a.start].ends_with(w))
        {
            return None;
        }
        // 16核32G: the spec of one machine.
        if u == "核" && after.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        if SPEC_AFTER.is_match(after) {
            return None;
        }
        let unit = match u.trim_start_matches('个').trim() {
            "T" | "TB" => "TB".to_string(),
            "G" | "GB" => "GB".to_string(),
            _ if u == "个月" => return None, // a duration
            _ => u.to_string(),
        };
        // 5G网络 is a network; a bare G or T counts storage only with a storage word near.
        if matches!(u, "G" | "T") && !storage_context(f, a.start, end) {
            return None;
        }
        // 2026年 is a year; 两年前 a time; 一年多少钱 a price.
        if unit == "年"
            && (a.value.as_int().is_some_and(|y| y >= 1900)
                || after.starts_with('级')
                || one
                || ["前", "后", "以", "之", "内", "多"].iter().any(|w| after.starts_with(w)))
        {
            return None;
        }
        return Some((unit, end));
    }
    if a.zh_numeral {
        return None;
    }
    let c = UNIT_EN.captures(rest)?;
    let unit = c.name("unit")?;
    let end = a.end + unit.end();
    let u = unit.as_str();
    let lower = u.to_ascii_lowercase();
    if u.eq_ignore_ascii_case("gb") || u.eq_ignore_ascii_case("tb") {
        if SPEC_AFTER.is_match(&f.text[end..]) {
            return None;
        }
        return Some((u.to_ascii_uppercase(), end));
    }
    let singular = lower
        .strip_suffix("es")
        .filter(|s| s.ends_with('s') || s.ends_with("ch") || s.ends_with('x'))
        .or_else(|| lower.strip_suffix('s'))
        .unwrap_or(&lower);
    let listed = EN_UNITS.contains(&singular)
        || EN_UNITS.contains(&lower.as_str())
        || lower == "people"
        || lower == "staff"
        || lower == "copies";
    // Any plural noun counts things ("3 printers", "10,000 orders"), except time, money, measures.
    let plural = lower.len() >= 4
        && lower.ends_with('s')
        && !NOT_COUNTS.contains(&lower.as_str())
        && u.chars().all(|c| c.is_ascii_lowercase());
    if !(listed || plural) || NOT_COUNTS.contains(&lower.as_str()) {
        return None;
    }
    // a 12-person agency: a hyphenated count only with a counted noun (not a 2-year warranty).
    if c.name("hyphen").is_some() && !listed {
        return None;
    }
    // 200 agent seats: the counted noun is the last one.
    if let Some(next) = NEXT_WORD.captures(&f.text[end..]).and_then(|c| c.get(1))
        && next.as_str().ends_with('s')
        && EN_UNITS.contains(&next.as_str().trim_end_matches('s'))
    {
        return Some((next.as_str().to_string(), end + next.end()));
    }
    Some((lower, end))
}

static NEXT_WORD: LazyLock<Regex> = LazyLock::new(|| re(r"^ ([a-z]+)(?-u:\b)"));

fn storage_context(f: &Folded<'_>, start: usize, end: usize) -> bool {
    static STORAGE: LazyLock<Regex> =
        LazyLock::new(|| re(r"数据|存储|空间|备份|容量|硬盘|流量|网盘|云盘|文件|照片|视频|日志"));
    let before: String =
        f.text[..start].chars().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
    let after: String = f.text[end..].chars().take(6).collect();
    let next_is_break =
        f.text[end..].chars().next().is_none_or(|c| is_clause_break(c) || c.is_whitespace());
    STORAGE.is_match(&before)
        || STORAGE.is_match(&after)
        || (next_is_break && STORAGE.is_match(&f.text))
}
