//! Dates and times, absolute (2026-12-01, 12月1日, Dec 1) and relative (明天, 下周二, 月底, next
//! Tuesday, in two weeks, 3pm), resolved against the message's time into ISO `YYYY-MM-DD` or
//! `YYYY-MM-DDTHH:MM`. Weeks start on Monday: 下周二 / next Tuesday is the Tuesday of the next
//! calendar week, 这周五 / this Friday the Friday of this one, a bare 周五 / Friday the next one
//! from today. A time without a date is today's. A month and day without a year is the next
//! such day from today.

use std::sync::LazyLock;

use closer_dialogue::EntityKind;
use jiff::ToSpan;
use jiff::civil::Date;
use regex::{Captures, Regex};

use super::fold::Folded;
use super::numbers::{parse_zh_int, zh_digit};
use super::{Candidate, Context, Found};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

const NUM: &str = "(?:[0-9]{1,2}|[一二两三四五六七八九十]{1,3})";

static ZH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&r"(?x)
      (?P<ymd>(?P<y1>(?:19|20)[0-9]{2})\s*[-/.]\s*(?P<m1>[0-9]{1,2})\s*[-/.]\s*(?P<d1>[0-9]{1,2})(?:\s*[日号])?)
    | (?P<dotted>(?P<m4>[0-9]{1,2})[./](?P<d4>[0-9]{1,2})\s*[号日])
    | (?P<cmd>(?:(?P<y2>(?:19|20)[0-9]{2}|明年|今年|后年)\s*年?\s*)?(?P<m2>NUM)\s*月\s*(?:份\s*)?
          (?:(?P<d2>NUM)\s*[日号]?|(?P<mp>初|上旬|中旬|下旬|中|底|末))?)
    | (?P<rel>大后天|后天|明天|明日|明儿|明早|明晚|今天|今日|今儿|今早|今晚|昨天|昨晚|前天|大前天)
    | (?P<hol>元旦|国庆节?|劳动节|五一|圣诞节?|平安夜|双十一|双11|双十二|双12|情人节|儿童节|妇女节|教师节|万圣节)
    | (?P<wk>(?P<wkp>下下|下|这|本|上)?\s*个?\s*(?:周|星期|礼拜)(?P<wkd>[一二三四五六日天1-7]|末))
    | (?P<mon>(?P<monp>下下个?|下个?|这个?|本|上个?)月(?:(?P<monpart>初|上旬|中旬|下旬|中|底|末)|(?P<mond>NUM)\s*[号日])?)
    | (?P<bare>(?P<bp>月|年)(?P<bpart>初|底|末|中))
    | (?P<dayonly>(?P<d3>NUM)\s*[号日])
    | (?P<after>(?P<n>[0-9]{1,3}|[一二两三四五六七八九十半]{1,3})\s*个?\s*(?P<unit>天|日|周|星期|礼拜|月|年)(?:以后|之后|后))
    ".replace("NUM", NUM))
});

static ZH_TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(&r"(?x)
      (?:(?P<period>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间)\s*)?
      (?:(?P<h>NUM)\s*(?:点|时)(?:钟)?(?:\s*(?P<half>半)|\s*(?P<quarter>一刻|三刻)|\s*(?P<min>[0-9]{1,2}|[一二三四五六七八九十]{1,3})\s*分?)?
        | (?P<hh>[0-9]{1,2}):(?P<mm>[0-9]{2}))
    | (?P<noon>中午)
    ".replace("NUM", NUM))
});

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|sept|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec";
const WEEKDAYS: &str = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|tues|thurs|thur|mon|tue|wed|thu|fri|sat|sun";

static EN_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&r"(?ix)(?-u:\b)(?:
      (?P<md>(?P<mn1>MONTHS)\.?\s+(?P<d1>[0-9]{1,2})(?:st|nd|rd|th)?(?:,?\s*(?P<y1>(?:19|20)[0-9]{2}))?)
    | (?P<dm>(?:the\s+)?(?P<d2>[0-9]{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mn2>MONTHS)\.?(?:,?\s*(?P<y2>(?:19|20)[0-9]{2}))?)
    | (?P<rel>today|tonight|tomorrow|tmrw|tmr|tomorow|(?:the\s+)?day\s+after\s+tomorrow|yesterday|this\s+(?:morning|afternoon|evening))
    | (?P<ord>the\s+(?P<od>[0-9]{1,2})(?:st|nd|rd|th))
    | (?P<hol>christmas\s+eve|christmas(?:\s+day)?|new\s+year'?s\s+eve|new\s+year'?s(?:\s+day)?|valentine'?s\s+day|halloween)
    | (?P<wk>(?:(?P<wkp>next|this|coming|last)\s+(?:week\s+)?)?(?P<wkd>WEEKDAYS))
    | (?P<we>(?:(?P<wep>next|this|the)\s+)?weekend)
    | (?P<eom>(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month)
    | (?P<bom>(?:early|(?:the\s+)?beginning\s+of|(?:the\s+)?start\s+of)\s+next\s+month)
        | (?P<in>in\s+(?P<inn>[0-9]{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a\s+couple\s+of)\s+(?P<inu>days?|weeks?|months?))
    | (?P<later>(?P<ln>[0-9]{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?P<lu>days?|weeks?|months?)\s+(?:from\s+(?:now|today)|later))
    | (?P<slash>(?P<sm>[0-9]{1,2})/(?P<sd>[0-9]{1,2})(?:/(?P<sy>(?:19|20)[0-9]{2}))?)
    )(?:\s+(?P<part>morning|afternoon|evening|night))?(?-u:\b)".replace("MONTHS", MONTHS).replace("WEEKDAYS", WEEKDAYS))
});

static EN_TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?ix)(?-u:\b)(?:
      (?:(?:at|@|around|about|after|say|by)\s+)?(?:
          (?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2}))?\s*(?P<ap>a\.m\.|p\.m\.|am|pm)
        | (?P<h2>[0-9]{1,2})\s*o'?clock
        | (?P<noon>noon|midday|midnight))
    | (?:at|@|around|about|say|after)\s+(?P<h3>[0-9]{1,2})(?::(?P<m3>[0-9]{2}))?
    )(?-u:\b)")
});

/// Words before a date that make it recurring.
static RECURRING: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:每|每个|每逢|(?i:\bevery|\beach))\s*$"));

/// One date or time phrase before merging.
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
    date: Option<Date>,
    /// Hour and minute.
    time: Option<(i8, i8)>,
    /// A part of day carried by a date word (今晚 → evening) for a time that follows it.
    pm: Option<bool>,
    /// A time that reads as one only next to a date (`一点`, `at 3`): dropped when alone.
    weak: bool,
    /// Only a weekday (周三, Wednesday): next to a calendar date it just names that date's day.
    weekday: bool,
    confidence: f32,
}

pub(crate) fn detect(f: &Folded<'_>, context: &Context, out: &mut Vec<Candidate>) {
    let today = context.local().date();
    let t = &f.text;
    let mut pieces = Vec::new();
    for c in ZH_DATE.captures_iter(t) {
        if let Some(p) = zh_date(f, &c, today) {
            pieces.push(p);
        }
    }
    for c in ZH_TIME.captures_iter(t) {
        if let Some(p) = zh_time(f, &c) {
            pieces.push(p);
        }
    }
    for c in EN_DATE.captures_iter(t) {
        if let Some(p) = en_date(f, &c, today) {
            pieces.push(p);
        }
    }
    for c in EN_TIME.captures_iter(t) {
        if let Some(p) = en_time(f, &c) {
            pieces.push(p);
        }
    }
    // Longest first, then drop pieces overlapping a kept one.
    pieces.sort_by(|a, b| (b.end - b.start).cmp(&(a.end - a.start)).then(a.start.cmp(&b.start)));
    let mut kept: Vec<Piece> = Vec::new();
    for p in pieces {
        if !kept.iter().any(|k| k.start < p.end && p.start < k.end) {
            kept.push(p);
        }
    }
    kept.sort_by_key(|p| p.start);
    // 每周三, 每个周末, every Monday: a routine, not a date; 明后天 is not one day.
    kept.retain(|p| !(t[p.start..].starts_with("后天") && t[..p.start].ends_with('明')));
    kept.retain(|p| {
        !RECURRING.is_match(&t[..p.start])
            && !t[p.end..].starts_with(|c: char| c == 's' && p.weekday)
    });
    // A date next to a time is one moment: 明天 下午3点, 3pm tomorrow, Friday at 10am.
    let mut merged: Vec<Piece> = Vec::new();
    for p in kept {
        // Wednesday, December 2nd / 12月2日（周三）: the calendar date carries the value.
        if let Some(last) = merged.last_mut()
            && t[last.end..p.start]
                .chars()
                .all(|c| c.is_whitespace() || matches!(c, ',' | '(' | '、'))
        {
            if last.weekday && last.time.is_none() && p.date.is_some() && !p.weekday {
                *last = Piece { start: last.start, ..p };
                continue;
            }
            if !last.weekday && last.date.is_some() && last.time.is_none() && p.weekday {
                last.end = if f.after(p.end) == Some(')') { p.end + 1 } else { p.end };
                continue;
            }
        }
        if let Some(last) = merged.last_mut()
            && (joinable(&t[last.end..p.start])
                || (last.date.is_some()
                    && last.time.is_none()
                    && p.date.is_none()
                    && p.time.is_some()
                    && same_clause(&t[last.end..p.start])))
        {
            match (last.date.is_some() && last.time.is_none(), p.date.is_none() && p.time.is_some())
            {
                (true, true) => {
                    last.time = p.time.map(|(h, m)| (adjust_hour(h, last.pm), m));
                    last.end = p.end;
                    continue;
                }
                _ if last.date.is_none()
                    && last.time.is_some()
                    && p.date.is_some()
                    && p.time.is_none() =>
                {
                    last.date = p.date;
                    last.time = last.time.map(|(h, m)| (adjust_hour(h, p.pm), m));
                    last.end = p.end;
                    continue;
                }
                _ => {}
            }
        }
        merged.push(p);
    }
    // 下午三点到五点, 10:30-11:30: the second time of a range is as good as the first.
    for i in 1..merged.len() {
        let (head, tail) = merged.split_at_mut(i);
        let (prev, p) = (&head[i - 1], &mut tail[0]);
        let gap = t[prev.end..p.start].trim();
        if p.weak
            && p.date.is_none()
            && prev.time.is_some()
            && matches!(gap, "到" | "至" | "-" | "~" | "to")
        {
            p.weak = false;
            p.date = prev.date;
        }
    }
    for p in merged {
        if p.weak && p.date.is_none() {
            continue;
        }
        let Some(date) = p.date.or(p.time.map(|_| today)) else { continue };
        let value = match p.time {
            Some((h, m)) => format!("{}T{h:02}:{m:02}", iso_date(date)),
            None => iso_date(date),
        };
        out.push(Candidate::new(
            Found::Entity(EntityKind::DateTime),
            p.start,
            p.end,
            value,
            p.confidence,
        ));
    }
}

fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Whether a time after a date, `gap` apart, still belongs to it: the same sentence, a few words
/// on, nothing refused in between (`明天上午在工地，下午三点以后`, `this Friday after lunch, say
/// 1:30`, `next Tuesday, first thing, 8am`; not `明天不行，下午三点`).
fn same_clause(gap: &str) -> bool {
    const REFUSALS: &[&str] = &[
        "不行",
        "不可以",
        "不方便",
        "没空",
        "没时间",
        "不在",
        "can't",
        "cannot",
        "not ",
        "no ",
        "busy",
        "or ",
    ];
    let lower = gap.to_lowercase();
    gap.chars().count() <= 20
        && !gap
            .chars()
            .any(|c| matches!(c, '.' | '!' | '?' | ';' | '。' | '！' | '？' | '；' | '\n'))
        && !REFUSALS.iter().any(|r| lower.contains(r))
}

fn joinable(gap: &str) -> bool {
    let g = gap.trim().to_ascii_lowercase();
    matches!(g.as_str(), "" | "的" | "," | "at" | "on" | "@" | "by" | "around" | ", at" | ", on")
}

/// Evening words make `8` into 20:00 when the time itself says nothing.
fn adjust_hour(h: i8, pm: Option<bool>) -> i8 {
    match pm {
        Some(true) if h < 12 => h + 12,
        _ => h,
    }
}

fn num(s: &str) -> Option<u32> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    u32::try_from(parse_zh_int(s)?).ok()
}

fn text<'t>(c: &Captures<'t>, name: &str) -> Option<&'t str> {
    c.name(name).map(|m| m.as_str())
}

/// No ASCII digit glued to either end of a match.
fn digit_bounded(f: &Folded<'_>, start: usize, end: usize) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    let glued_start = digit(f.after(start)) && digit(f.before(start));
    let glued_end = digit(f.before(end)) && digit(f.after(end));
    !glued_start && !glued_end
}

fn add_days(d: Date, n: i64) -> Option<Date> {
    d.checked_add(n.days()).ok()
}

fn add_months(d: Date, n: i64) -> Option<Date> {
    d.checked_add(n.months()).ok()
}

fn monday_of(d: Date) -> Option<Date> {
    add_days(d, -i64::from(d.weekday().to_monday_zero_offset()))
}

/// The day in the week starting `weeks` weeks from this one (0 = this week).
fn weekday_in(today: Date, weeks: i64, day: i8) -> Option<Date> {
    add_days(monday_of(today)?, weeks * 7 + i64::from(day))
}

/// The next `day` (0 = Monday) from today, today included.
fn upcoming(today: Date, day: i8) -> Option<Date> {
    let ahead = (i64::from(day) - i64::from(today.weekday().to_monday_zero_offset())).rem_euclid(7);
    add_days(today, ahead)
}

/// The next month/day from today (this year, else next year).
fn next_month_day(today: Date, month: i8, day: i8) -> Option<Date> {
    let this = Date::new(today.year(), month, day).ok();
    match this {
        Some(d) if d >= today => Some(d),
        _ => Date::new(today.year() + 1, month, day).ok(),
    }
}

/// The next day `day` of a month from today (this month, else the next month that has it).
fn day_of_month(today: Date, day: i8) -> Option<Date> {
    if !(1..=31).contains(&day) {
        return None;
    }
    let this = today.with().day(day).build().ok().filter(|d| *d >= today);
    this.or_else(|| {
        (1..=2).find_map(|k| add_months(today.first_of_month(), k)?.with().day(day).build().ok())
    })
}

fn zh_weekday(s: &str) -> Option<i8> {
    Some(match s {
        "一" | "1" => 0,
        "二" | "2" => 1,
        "三" | "3" => 2,
        "四" | "4" => 3,
        "五" | "5" => 4,
        "六" | "6" => 5,
        "日" | "天" | "7" => 6,
        "末" => 5,
        _ => return None,
    })
}

fn part_day(month_start: Date, part: &str) -> Option<Date> {
    match part {
        "初" => Some(month_start),
        "上旬" => month_start.with().day(5).build().ok(),
        "中" | "中旬" => month_start.with().day(15).build().ok(),
        "下旬" => month_start.with().day(25).build().ok(),
        "底" | "末" => Some(month_start.last_of_month()),
        _ => None,
    }
}

fn piece(start: usize, end: usize, date: Option<Date>, confidence: f32) -> Option<Piece> {
    Some(Piece {
        start,
        end,
        date: Some(date?),
        time: None,
        pm: None,
        weak: false,
        weekday: false,
        confidence,
    })
}

fn zh_date(f: &Folded<'_>, c: &Captures<'_>, today: Date) -> Option<Piece> {
    let m = c.get(0)?;
    let (start, end) = (m.start(), m.end());
    if !digit_bounded(f, start, end) {
        return None;
    }
    if c.name("ymd").is_some() {
        let (y, mo, d) = (num(text(c, "y1")?)?, num(text(c, "m1")?)?, num(text(c, "d1")?)?);
        let date =
            Date::new(i16::try_from(y).ok()?, i8::try_from(mo).ok()?, i8::try_from(d).ok()?).ok();
        return piece(start, end, date, 0.95);
    }
    if c.name("dotted").is_some() {
        let month = i8::try_from(num(text(c, "m4")?)?).ok()?;
        let day = i8::try_from(num(text(c, "d4")?)?).ok()?;
        return piece(start, end, next_month_day(today, month, day), 0.85);
    }
    if c.name("cmd").is_some() {
        let month = i8::try_from(num(text(c, "m2")?)?).ok()?;
        if !(1..=12).contains(&month) {
            return None;
        }
        let year = match text(c, "y2") {
            Some("今年") => Some(today.year()),
            Some("明年") => Some(today.year() + 1),
            Some("后年") => Some(today.year() + 2),
            Some(y) => y.parse::<i16>().ok(),
            None => None,
        };
        if let Some(d) = text(c, "d2") {
            let day = i8::try_from(num(d)?).ok()?;
            // 3月5 without 日/号 must not run into more digits or units (3月5个).
            let date = match year {
                Some(y) => Date::new(y, month, day).ok(),
                None => next_month_day(today, month, day),
            };
            return piece(start, end, date, 0.9);
        }
        if let Some(part) = text(c, "mp") {
            let year = year.unwrap_or_else(|| {
                if month < today.month() { today.year() + 1 } else { today.year() }
            });
            let date = part_day(Date::new(year, month, 1).ok()?, part);
            return piece(start, end, date, 0.85);
        }
        // A month alone (3月份) is too vague to pin to a day.
        return None;
    }
    if let Some(rel) = text(c, "rel") {
        let (days, pm) = match rel {
            "今天" | "今日" | "今儿" => (0, None),
            "今早" => (0, Some(false)),
            "今晚" => (0, Some(true)),
            "明天" | "明日" | "明儿" => (1, None),
            "明早" => (1, Some(false)),
            "明晚" => (1, Some(true)),
            "后天" => (2, None),
            "大后天" => (3, None),
            "昨天" => (-1, None),
            "昨晚" => (-1, Some(true)),
            "前天" => (-2, None),
            _ => (-3, None),
        };
        let mut p = piece(start, end, add_days(today, days), 0.9)?;
        p.pm = pm;
        return Some(p);
    }
    if let Some(h) = text(c, "hol") {
        let (month, day) = match h {
            "元旦" => (1, 1),
            "国庆" | "国庆节" => (10, 1),
            "劳动节" | "五一" => (5, 1),
            "圣诞" | "圣诞节" => (12, 25),
            "平安夜" => (12, 24),
            "双十一" | "双11" => (11, 11),
            "双十二" | "双12" => (12, 12),
            "情人节" => (2, 14),
            "儿童节" => (6, 1),
            "妇女节" => (3, 8),
            "教师节" => (9, 10),
            _ => (10, 31),
        };
        return piece(start, end, next_month_day(today, month, day), 0.85);
    }
    if c.name("wk").is_some() {
        let day = zh_weekday(text(c, "wkd")?)?;
        let date = match text(c, "wkp") {
            Some("下下") => weekday_in(today, 2, day),
            Some("下") => weekday_in(today, 1, day),
            Some("这" | "本") => weekday_in(today, 0, day),
            Some(_) => weekday_in(today, -1, day),
            None => upcoming(today, day),
        };
        let mut p = piece(start, end, date, 0.9)?;
        p.weekday = text(c, "wkd") != Some("末") && text(c, "wkp").is_none();
        return Some(p);
    }
    if c.name("mon").is_some() {
        let months = match text(c, "monp")?.trim_end_matches('个') {
            "下下" => 2,
            "下" => 1,
            "这" | "本" => 0,
            _ => -1,
        };
        let first = add_months(today.first_of_month(), months)?;
        let date = if let Some(part) = text(c, "monpart") {
            part_day(first, part)
        } else if let Some(d) = text(c, "mond") {
            first.with().day(i8::try_from(num(d)?).ok()?).build().ok()
        } else {
            return None; // 下个月 alone: no day to name
        };
        return piece(start, end, date, 0.85);
    }
    if c.name("bare").is_some() {
        let part = text(c, "bpart")?;
        let date = if text(c, "bp") == Some("月") {
            let this = part_day(today.first_of_month(), part)?;
            if this >= today {
                Some(this)
            } else {
                part_day(add_months(today.first_of_month(), 1)?, part)
            }
        } else {
            match part {
                "底" | "末" => Date::new(today.year(), 12, 31).ok(),
                "初" => {
                    let this = Date::new(today.year(), 1, 1).ok()?;
                    if this >= today { Some(this) } else { Date::new(today.year() + 1, 1, 1).ok() }
                }
                _ => None,
            }
        };
        return piece(start, end, date, 0.8);
    }
    if let Some(d) = text(c, "d3") {
        let next = f.after(end);
        if next.is_some_and(|n| "楼线房机位窗门厅馆店院床桌键码球选台车站口包箱".contains(n))
            || f.before(start)
                .is_some_and(|b| "第型款编单路街道巷弄村区里院园座栋幢室厦场楼".contains(b))
        {
            return None;
        }
        let day = i8::try_from(num(d)?).ok()?;
        if !(1..=31).contains(&day) {
            return None;
        }
        let this = today.with().day(day).build().ok().filter(|d| *d >= today);
        let date = this.or_else(|| {
            (1..=2)
                .find_map(|k| add_months(today.first_of_month(), k)?.with().day(day).build().ok())
        });
        return piece(start, end, date, 0.8);
    }
    if c.name("after").is_some() {
        let n = text(c, "n")?;
        let unit = text(c, "unit")?;
        let date = if n == "半" {
            match unit {
                "月" => add_days(today, 15),
                "年" => add_months(today, 6),
                _ => None,
            }
        } else {
            let n = i64::from(num(n)?);
            match unit {
                "天" | "日" => add_days(today, n),
                "周" | "星期" | "礼拜" => add_days(today, 7 * n),
                "月" => add_months(today, n),
                _ => today.checked_add(n.years()).ok(),
            }
        };
        return piece(start, end, date, 0.85);
    }
    None
}

fn zh_time(f: &Folded<'_>, c: &Captures<'_>) -> Option<Piece> {
    let m = c.get(0)?;
    let (start, end) = (m.start(), m.end());
    if !digit_bounded(f, start, end) {
        return None;
    }
    let period = text(c, "period");
    let mut weak = false;
    let (mut hour, minute) = if let Some(h) = text(c, "h") {
        let minute = if c.name("half").is_some() {
            30
        } else if let Some(q) = text(c, "quarter") {
            if q == "一刻" { 15 } else { 45 }
        } else if let Some(mm) = text(c, "min") {
            num(mm)?
        } else {
            0
        };
        // 一点 is also "a little" (便宜一点, 快1点): such an hour needs a date next to it.
        weak = period.is_none()
            && (h.chars().next().and_then(zh_digit).is_some()
                || f.before(start).is_some_and(|b| "宜快多少好大小高低早晚慢贵便差".contains(b)));
        (num(h)?, minute)
    } else if c.name("noon").is_some() {
        // 明天中午: noon, as "tomorrow at noon"; alone it is only a part of day.
        weak = true;
        (12, 0)
    } else {
        (num(text(c, "hh")?)?, num(text(c, "mm")?)?)
    };
    if hour > 24 || minute > 59 {
        return None;
    }
    hour = match period {
        Some("下午" | "傍晚" | "晚上" | "夜里" | "夜间") if hour < 12 => hour + 12,
        Some("中午") if hour < 6 => hour + 12,
        // 3点 with nothing else said is business hours: 15:00.
        None if (c.name("h").is_some() || c.name("hh").is_some()) && (1..=6).contains(&hour) => {
            hour + 12
        }
        _ => hour,
    };
    if hour == 24 {
        hour = 0;
    }
    let time = (i8::try_from(hour).ok()?, i8::try_from(minute).ok()?);
    Some(Piece {
        start,
        end,
        date: None,
        time: Some(time),
        pm: None,
        weak,
        weekday: false,
        confidence: 0.8,
    })
}

fn month_number(s: &str) -> Option<i8> {
    let s = s.to_ascii_lowercase();
    let i = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        .iter()
        .position(|m| s.starts_with(m))?;
    i8::try_from(i + 1).ok()
}

fn en_weekday(s: &str) -> Option<i8> {
    let s = s.to_ascii_lowercase();
    let i =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().position(|d| s.starts_with(d))?;
    i8::try_from(i).ok()
}

fn en_count(s: &str) -> Option<i64> {
    let s = s.to_ascii_lowercase();
    Some(match s.split_whitespace().collect::<Vec<_>>().join(" ").as_str() {
        "a" | "an" | "one" => 1,
        "two" | "a couple of" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        n => n.parse().ok()?,
    })
}

fn en_date(f: &Folded<'_>, c: &Captures<'_>, today: Date) -> Option<Piece> {
    let mut p = en_date_words(f, c, today)?;
    // Friday morning, tomorrow evening: the part of day sets a following bare time.
    if let Some(part) = text(c, "part") {
        p.pm = Some(!part.eq_ignore_ascii_case("morning"));
    }
    Some(p)
}

fn en_date_words(f: &Folded<'_>, c: &Captures<'_>, today: Date) -> Option<Piece> {
    let m = c.get(0)?;
    let (start, end) = (m.start(), m.end());
    if !digit_bounded(f, start, end) {
        return None;
    }
    let year = |name: &str| text(c, name).and_then(|y| y.parse::<i16>().ok());
    let on_date = |y: Option<i16>, month: i8, day: i8| match y {
        Some(y) => Date::new(y, month, day).ok(),
        None => next_month_day(today, month, day),
    };
    if c.name("md").is_some() {
        let month = month_number(text(c, "mn1")?)?;
        let day = i8::try_from(num(text(c, "d1")?)?).ok()?;
        return piece(start, end, on_date(year("y1"), month, day), 0.9);
    }
    if c.name("dm").is_some() {
        let month = month_number(text(c, "mn2")?)?;
        let day = i8::try_from(num(text(c, "d2")?)?).ok()?;
        return piece(start, end, on_date(year("y2"), month, day), 0.9);
    }
    if c.name("ord").is_some() && c.name("part").is_none() {
        // the 2nd payment, the 3rd floor: an ordinal; "the 2nd", "by the 15th at 3" are dates.
        let rest = f.text[end..].trim_start().to_ascii_lowercase();
        let next: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        if !next.is_empty()
            && !matches!(
                next.as_str(),
                "at" | "or"
                    | "and"
                    | "in"
                    | "of"
                    | "then"
                    | "is"
                    | "works"
                    | "would"
                    | "would've"
                    | "please"
                    | "if"
                    | "for"
                    | "to"
                    | "from"
                    | "around"
                    | "by"
                    | "before"
                    | "after"
                    | "when"
                    | "so"
                    | "but"
                    | "instead"
                    | "latest"
                    | "ok"
                    | "okay"
            )
        {
            return None;
        }
    }
    if let Some(rel) = text(c, "rel") {
        let rel = rel.to_ascii_lowercase();
        let (days, pm) = if rel == "today" {
            (0, None)
        } else if rel == "tonight" || rel.ends_with("afternoon") || rel.ends_with("evening") {
            (0, Some(true))
        } else if rel.ends_with("morning") {
            (0, Some(false))
        } else if rel.contains("after") {
            (2, None)
        } else if rel.starts_with("tom") || rel.starts_with("tm") {
            (1, None)
        } else {
            (-1, None)
        };
        let mut p = piece(start, end, add_days(today, days), 0.9)?;
        p.pm = pm;
        return Some(p);
    }
    if let Some(h) = text(c, "hol") {
        let h = h.to_ascii_lowercase();
        let (month, day) = if h.starts_with("christmas") && h.ends_with("eve") {
            (12, 24)
        } else if h.starts_with("christmas") {
            (12, 25)
        } else if h.starts_with("new") && h.ends_with("eve") {
            (12, 31)
        } else if h.starts_with("new") {
            (1, 1)
        } else if h.starts_with("valentine") {
            (2, 14)
        } else {
            (10, 31)
        };
        return piece(start, end, next_month_day(today, month, day), 0.85);
    }
    if let Some(d) = text(c, "od") {
        let day = i8::try_from(num(d)?).ok()?;
        return piece(start, end, day_of_month(today, day), 0.8);
    }
    if c.name("wk").is_some() {
        let word = text(c, "wkd")?;
        let day = en_weekday(word)?;
        let prefix = text(c, "wkp").map(str::to_ascii_lowercase);
        let abbreviated = !word.to_ascii_lowercase().ends_with("day");
        // Bare abbreviations (sat, sun, wed) are words too; they need "next"/"on".
        if abbreviated
            && prefix.is_none()
            && !f.text[..start].to_ascii_lowercase().trim_end().ends_with("on")
        {
            return None;
        }
        let date = match prefix.as_deref() {
            Some("next") => weekday_in(today, 1, day),
            Some("this") => weekday_in(today, 0, day),
            Some("last") => weekday_in(today, -1, day),
            _ => upcoming(today, day),
        };
        let mut p = piece(start, end, date, 0.85)?;
        p.weekday = prefix.is_none();
        return Some(p);
    }
    if c.name("we").is_some() {
        let date = match text(c, "wep").map(str::to_ascii_lowercase).as_deref() {
            Some("next") => weekday_in(today, 1, 5),
            Some("this") => weekday_in(today, 0, 5),
            _ => upcoming(today, 5),
        };
        return piece(start, end, date, 0.8);
    }
    if c.name("eom").is_some() {
        return piece(start, end, Some(today.last_of_month()), 0.85);
    }
    if c.name("bom").is_some() {
        return piece(start, end, add_months(today.first_of_month(), 1), 0.8);
    }
    if c.name("in").is_some() || c.name("later").is_some() {
        let n = en_count(text(c, "inn").or(text(c, "ln"))?)?;
        let unit = text(c, "inu").or(text(c, "lu"))?.to_ascii_lowercase();
        let date = if unit.starts_with("day") {
            add_days(today, n)
        } else if unit.starts_with("week") {
            add_days(today, 7 * n)
        } else {
            add_months(today, n)
        };
        return piece(start, end, date, 0.85);
    }
    if c.name("slash").is_some() {
        // M/D only in English messages, and not a card's expiry date.
        let before = f.text[..start].to_ascii_lowercase();
        if f.zh || before.contains("exp") || before.contains("valid") || before.contains("card") {
            return None;
        }
        let month = i8::try_from(num(text(c, "sm")?)?).ok()?;
        let day = i8::try_from(num(text(c, "sd")?)?).ok()?;
        if !(1..=12).contains(&month) {
            return None;
        }
        return piece(start, end, on_date(year("sy"), month, day), 0.7);
    }
    None
}

fn en_time(f: &Folded<'_>, c: &Captures<'_>) -> Option<Piece> {
    let m = c.get(0)?;
    let (start, end) = (m.start(), m.end());
    if !digit_bounded(f, start, end) {
        return None;
    }
    let mut weak = false;
    let (hour, minute) = if let Some(h) = text(c, "h") {
        let mut hour = num(h)?;
        let minute = text(c, "m").map_or(Some(0), num)?;
        let pm = text(c, "ap")?.to_ascii_lowercase().starts_with('p');
        if hour == 0 || hour > 12 {
            return None;
        }
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
        (hour, minute)
    } else if let Some(h) = text(c, "h2") {
        let hour = num(h)?;
        (if (1..=6).contains(&hour) { hour + 12 } else { hour }, 0)
    } else if let Some(h) = text(c, "h3") {
        // "at 3": business hours, and only next to a date ("tomorrow at 3"). "around 10 users"
        // is a count, not a time.
        weak = true;
        let cue = m.as_str().trim_start().to_ascii_lowercase();
        let rest = f.text[end..].trim_start();
        if !(cue.starts_with("at") || cue.starts_with('@'))
            && rest.starts_with(|ch: char| ch.is_alphabetic())
            && !rest.starts_with(char::is_uppercase)
        {
            return None;
        }
        let hour = num(h)?;
        let minute = text(c, "m3").map_or(Some(0), num)?;
        if hour == 0 || hour > 12 {
            return None;
        }
        (if (1..=6).contains(&hour) { hour + 12 } else { hour }, minute)
    } else {
        let word = text(c, "noon")?.to_ascii_lowercase();
        (if word == "midnight" { 0 } else { 12 }, 0)
    };
    if hour > 23 || minute > 59 {
        return None;
    }
    let time = (i8::try_from(hour).ok()?, i8::try_from(minute).ok()?);
    Some(Piece {
        start,
        end,
        date: None,
        time: Some(time),
        pm: None,
        weak,
        weekday: false,
        confidence: 0.85,
    })
}
