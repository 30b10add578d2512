//! Numbers as customers write them: Arabic digits with thousands separators and decimals,
//! Chinese numerals (三万五, 两千, 一百五十万, 一点五万), and multipliers (万, 千, k, w, million),
//! kept exact as a decimal so `1.1万` is `11000`, not `11000.000000000002`.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// An exact non-negative decimal: `mant × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    mant: u128,
    scale: u32,
}

impl Decimal {
    pub(crate) fn int(n: u128) -> Self {
        Self { mant: n, scale: 0 }
    }

    /// `12,345.67` → 12345.67. Rejects more than 30 digits.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut mant: u128 = 0;
        let mut scale = 0;
        let mut in_fraction = false;
        let mut digits = 0;
        for c in s.chars() {
            match c {
                '0'..='9' => {
                    digits += 1;
                    if digits > 30 {
                        return None;
                    }
                    mant = mant * 10 + u128::from(c as u8 - b'0');
                    if in_fraction {
                        scale += 1;
                    }
                }
                ',' if !in_fraction => {}
                '.' if !in_fraction => in_fraction = true,
                _ => return None,
            }
        }
        (digits > 0).then_some(Self { mant, scale }.normalized())
    }

    /// `self × 10^pow`.
    pub(crate) fn shift(self, pow: u32) -> Option<Self> {
        if self.scale >= pow {
            return Some(Self { mant: self.mant, scale: self.scale - pow }.normalized());
        }
        let mant = self.mant.checked_mul(10u128.checked_pow(pow - self.scale)?)?;
        Some(Self { mant, scale: 0 })
    }

    pub(crate) fn add(self, other: Self) -> Option<Self> {
        let scale = self.scale.max(other.scale);
        let a = self.mant.checked_mul(10u128.checked_pow(scale - self.scale)?)?;
        let b = other.mant.checked_mul(10u128.checked_pow(scale - other.scale)?)?;
        Some(Self { mant: a.checked_add(b)?, scale }.normalized())
    }

    fn normalized(mut self) -> Self {
        while self.scale > 0 && self.mant.is_multiple_of(10) {
            self.mant /= 10;
            self.scale -= 1;
        }
        self
    }

    /// The value as an integer, if it is one.
    pub(crate) fn as_int(self) -> Option<u128> {
        let n = self.normalized();
        (n.scale == 0).then_some(n.mant)
    }

    pub(crate) fn is_zero(self) -> bool {
        self.mant == 0
    }

    fn as_f64(self) -> f64 {
        self.mant as f64 / 10f64.powi(self.scale as i32)
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.as_f64().partial_cmp(&other.as_f64())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.normalized();
        if n.scale == 0 {
            return write!(f, "{}", n.mant);
        }
        let digits = format!("{:0>width$}", n.mant, width = n.scale as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - n.scale as usize);
        write!(f, "{int}.{frac}")
    }
}

pub(crate) fn zh_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn zh_unit_pow(c: char) -> Option<u32> {
    Some(match c {
        '十' | '拾' => 1,
        '百' | '佰' => 2,
        '千' | '仟' => 3,
        '万' => 4,
        '亿' => 8,
        _ => return None,
    })
}

pub(crate) fn is_zh_numeral(c: char) -> bool {
    zh_digit(c).is_some() || zh_unit_pow(c).is_some()
}

/// A Chinese integer: 一百五十万, 三万五 (colloquial: 35000), 二十, 一百零五, 两千五.
/// Strings of bare digits (一二三) and unit-only strings (万, 千万) are not numbers.
pub(crate) fn parse_zh_int(s: &str) -> Option<u128> {
    let mut total: u128 = 0;
    let mut section: u128 = 0;
    let mut number: Option<u128> = None;
    let mut last_pow = 0;
    let mut after_zero = false;
    let mut any_digit = false;
    for c in s.chars() {
        if let Some(d) = zh_digit(c) {
            if number.is_some() {
                return None;
            }
            any_digit = true;
            if d == 0 {
                after_zero = true;
                continue;
            }
            number = Some(u128::from(d));
        } else if let Some(pow) = zh_unit_pow(c) {
            let unit = 10u128.pow(pow);
            if pow < 4 {
                let n = match number.take() {
                    Some(n) => n,
                    None if pow == 1 && section == 0 && total == 0 && !after_zero => 1,
                    None => return None,
                };
                section = section.checked_add(n.checked_mul(unit)?)?;
            } else {
                section = section.checked_add(number.take().unwrap_or(0))?;
                if section == 0 && total == 0 {
                    return None;
                }
                if pow == 8 {
                    total = total.checked_add(section)?.checked_mul(unit)?;
                } else {
                    total = total.checked_add(section.checked_mul(unit)?)?;
                }
                section = 0;
            }
            last_pow = pow;
            after_zero = false;
        } else {
            return None;
        }
    }
    if let Some(n) = number {
        // 三万五 = 35000, 两千五 = 2500, 一百五 = 150; 一百零五 = 105.
        if last_pow >= 2 && !after_zero {
            section += n * 10u128.pow(last_pow - 1);
        } else {
            section += n;
        }
    } else if !any_digit && !s.starts_with(['十', '拾']) {
        return None;
    }
    total.checked_add(section)
}

/// A Chinese number with an optional decimal part: 一点五万 = 15000, 三点五 = 3.5.
pub(crate) fn parse_zh(s: &str) -> Option<Decimal> {
    let Some((int, rest)) = s.split_once('点') else {
        return parse_zh_int(s).map(Decimal::int);
    };
    let int = parse_zh_int(int)?;
    let mut frac = String::new();
    let mut units = String::new();
    for c in rest.chars() {
        match (zh_digit(c), units.is_empty()) {
            (Some(d), true) => frac.push(char::from_digit(d, 10)?),
            _ => units.push(c),
        }
    }
    if frac.is_empty() {
        return None;
    }
    let mut value = Decimal::parse(&format!("{int}.{frac}"))?;
    for c in units.chars() {
        let pow = zh_unit_pow(c).filter(|p| *p >= 2)?;
        value = value.shift(pow)?;
    }
    Some(value)
}

/// An amount found at a position: a number with its multiplier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Amount {
    pub(crate) value: Decimal,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The power of ten of the multiplier written with it (万 = 4, k = 3), 0 without one.
    pub(crate) pow: u32,
    /// Written in Chinese numerals.
    pub(crate) zh_numeral: bool,
    /// Written in English words (a hundred and twenty).
    pub(crate) en_words: bool,
    /// The multiplier is Chinese (万, 亿, w): the amount is in yuan unless a currency says not.
    pub(crate) cjk_multiplier: bool,
}

static ARABIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?").expect("static regex")
});

static MULTIPLIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?P<zh>百万|千万|万亿|亿|万|千|百)|(?P<latin>[kKwWmM]|bn|mn)|\s?(?P<word>(?i:million|billion|thousand|grand)))",
    )
    .expect("static regex")
});

/// The amount that starts at byte `start` of `text` (a digit or a Chinese numeral), if any.
pub(crate) fn amount_at(text: &str, start: usize) -> Option<Amount> {
    let rest = text.get(start..)?;
    let first = rest.chars().next()?;
    if first.is_ascii_digit() {
        let m = ARABIC.find(rest)?;
        let mut value = Decimal::parse(m.as_str())?;
        let mut end = start + m.end();
        let mut pow = 0;
        let mut cjk_multiplier = false;
        if let Some(c) = MULTIPLIER.captures(&text[end..]) {
            let whole = c.get(0).map_or("", |m| m.as_str());
            let next = text[end + whole.len()..].chars().next();
            let p = if let Some(zh) = c.name("zh") {
                match zh.as_str() {
                    "百万" => 6,
                    "千万" => 7,
                    "万亿" => 12,
                    "亿" => 8,
                    "万" => 4,
                    "千" => 3,
                    _ => 2,
                }
            } else if c.name("latin").is_some() {
                // 5k, 5w, 5M — but not 5km, 5kg, 5mm, 5min, 5G.
                if next.is_some_and(|n| n.is_ascii_alphanumeric()) {
                    0
                } else {
                    match whole {
                        "k" | "K" => 3,
                        "w" | "W" => 4,
                        "bn" => 9,
                        "m" | "M" | "mn" => 6,
                        _ => 0,
                    }
                }
            } else if next.is_some_and(|n| n.is_ascii_alphabetic()) {
                0
            } else {
                match whole.trim().to_ascii_lowercase().as_str() {
                    "million" => 6,
                    "billion" => 9,
                    _ => 3,
                }
            };
            if p > 0 {
                value = value.shift(p)?;
                end += whole.len();
                pow = p;
                cjk_multiplier = c.name("zh").is_some() || matches!(whole, "w" | "W");
                // 3万5 = 35000, 3万5千 = 35000, 2千5 = 2500.
                if matches!(p, 3 | 4)
                    && c.name("zh").is_some()
                    && let Some((extra, len)) = colloquial_tail(&text[end..], p)
                {
                    value = value.add(extra)?;
                    end += len;
                }
            }
        }
        return Some(Amount {
            value,
            start,
            end,
            pow,
            zh_numeral: false,
            en_words: false,
            cjk_multiplier,
        });
    }
    if !is_zh_numeral(first) {
        return None;
    }
    let mut end = start;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_zh_numeral(c) {
            end = start + i + c.len_utf8();
        } else if c == '点' && chars.peek().is_some_and(|(_, n)| zh_digit(*n).is_some()) {
            continue;
        } else {
            break;
        }
    }
    let mut s = &text[start..end];
    // A trailing 十 / 百 after a full number is rarely a multiplier of money; keep it simple:
    // try the whole run, then shorter prefixes (二十台 → 二十, 一万三千多 → 一万三千).
    loop {
        if let Some(value) = parse_zh(s) {
            let pow = s
                .chars()
                .rev()
                .find_map(|c| zh_unit_pow(c).filter(|p| *p >= 3))
                .filter(|_| s.chars().last().and_then(zh_unit_pow).is_some() || colloquial(s))
                .unwrap_or(0);
            let mut end = start + s.len();
            let mut value = value;
            let mut pow = pow;
            // 两个亿: a measure word before 亿.
            if text[end..].starts_with("个亿") {
                value = value.shift(8)?;
                end += "个亿".len();
                pow = 8;
            }
            return Some(Amount {
                value,
                start,
                end,
                pow,
                zh_numeral: true,
                en_words: false,
                cjk_multiplier: true,
            });
        }
        let mut it = s.char_indices();
        let (last, _) = it.next_back()?;
        if last == 0 {
            return None;
        }
        s = &s[..last];
    }
}

const EN_SMALL: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const EN_TENS: &[&str] =
    &["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

fn en_word_value(w: &str) -> Option<u128> {
    if let Some(i) = EN_SMALL.iter().position(|x| *x == w) {
        return Some(i as u128);
    }
    EN_TENS.iter().position(|x| *x == w).map(|i| (i as u128 + 2) * 10)
}

/// A number in English words at byte `start` (a word start): five, twenty-five, a hundred and
/// twenty, two thousand.
pub(crate) fn en_amount_at(text: &str, start: usize) -> Option<Amount> {
    let rest = text.get(start..)?;
    let mut total: u128 = 0;
    let mut current: u128 = 0;
    let mut any = false;
    let mut end = start;
    let mut pending_a = false;
    let mut pow = 0;
    let mut pos = 0;
    while pos < rest.len() {
        let word_len =
            rest[pos..].find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len() - pos);
        if word_len == 0 {
            break;
        }
        let word = rest[pos..pos + word_len].to_ascii_lowercase();
        let word_end = pos + word_len;
        match word.as_str() {
            "a" if !any || current == 0 => pending_a = true,
            "and" if any && current >= 100 && current.is_multiple_of(100) => {}
            "hundred" if any || pending_a => {
                current = current.max(1) * 100;
                any = true;
                pending_a = false;
                end = start + word_end;
                pow = pow.max(2);
            }
            "thousand" | "million" | "billion" if any || pending_a => {
                let (m, p) = match word.as_str() {
                    "thousand" => (1_000, 3),
                    "million" => (1_000_000, 6),
                    _ => (1_000_000_000, 9),
                };
                total += current.max(1) * m;
                current = 0;
                any = true;
                pending_a = false;
                end = start + word_end;
                pow = p;
            }
            w => {
                let Some(v) = en_word_value(w) else { break };
                let tail = current % 100;
                let fits = if v < 10 {
                    tail == 0 || (tail >= 20 && tail.is_multiple_of(10))
                } else {
                    tail == 0
                };
                if pending_a || !fits {
                    break;
                }
                current += v;
                any = true;
                end = start + word_end;
            }
        }
        // Words are joined by one space or a hyphen (twenty-five).
        pos = word_end;
        match rest[pos..].chars().next() {
            Some(' ' | '-') => pos += 1,
            _ => break,
        }
    }
    if !any {
        return None;
    }
    Some(Amount {
        value: Decimal::int(total + current),
        start,
        end,
        pow,
        zh_numeral: false,
        en_words: true,
        cjk_multiplier: false,
    })
}

/// Whether a Chinese number ends in a colloquial digit after a big unit (三万五).
fn colloquial(s: &str) -> bool {
    let mut rev = s.chars().rev();
    rev.next().and_then(zh_digit).is_some()
        && rev.next().and_then(zh_unit_pow).is_some_and(|p| p >= 3)
}

/// After `3万` / `2千`: a single digit (3万5 = 35000) or a digit with the next unit (3万5千).
fn colloquial_tail(rest: &str, pow: u32) -> Option<(Decimal, usize)> {
    let mut chars = rest.chars();
    let c = chars.next()?;
    let d = c.to_digit(10).or_else(|| zh_digit(c).filter(|d| *d > 0))?;
    let len = c.len_utf8();
    match chars.next() {
        Some(n) if n.is_ascii_digit() || zh_digit(n).is_some() || n == '.' || n == '点' => None,
        Some(n) if zh_unit_pow(n) == Some(pow - 1) => {
            Some((Decimal::int(u128::from(d)).shift(pow - 1)?, len + n.len_utf8()))
        }
        Some(n) if zh_unit_pow(n).is_some() => None,
        _ => Some((Decimal::int(u128::from(d)).shift(pow - 1)?, len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_numerals() {
        for (s, n) in [
            ("三万五", 35000),
            ("两千", 2000),
            ("一百五十万", 1_500_000),
            ("二十", 20),
            ("十五", 15),
            ("一百零五", 105),
            ("两千五", 2500),
            ("一亿五千万", 150_000_000),
            ("十万", 100_000),
            ("三万五千", 35000),
        ] {
            assert_eq!(parse_zh_int(s), Some(n), "{s}");
        }
        for s in ["万", "千万", "一二三", "百"] {
            assert_eq!(parse_zh_int(s), None, "{s}");
        }
        assert_eq!(parse_zh("一点五万").map(|d| d.to_string()), Some("15000".into()));
    }

    #[test]
    fn amounts() {
        let cases = [
            ("1.5万", "15000", 4),
            ("3万5", "35000", 4),
            ("3万5千", "35000", 4),
            ("5k", "5000", 3),
            ("2,500", "2500", 0),
            ("1.1万", "11000", 4),
            ("三万五", "35000", 4),
            ("一百五十万", "1500000", 4),
            ("2 million", "2000000", 6),
            ("5w", "50000", 4),
            ("0.5", "0.5", 0),
        ];
        for (s, v, pow) in cases {
            let a = amount_at(s, 0).unwrap_or_else(|| panic!("{s}"));
            assert_eq!((a.value.to_string(), a.end, a.pow), (v.to_string(), s.len(), pow), "{s}");
        }
        assert_eq!(amount_at("5km", 0).map(|a| a.end), Some(1));
        assert_eq!(amount_at("两个亿", 0).map(|a| a.value.to_string()), Some("200000000".into()));
        for (s, v) in [
            ("a hundred and twenty users", "120"),
            ("twenty-five seats", "25"),
            ("two thousand dollars", "2000"),
            ("five units", "5"),
        ] {
            assert_eq!(en_amount_at(s, 0).map(|a| a.value.to_string()).as_deref(), Some(v), "{s}");
        }
        assert!(en_amount_at("a user", 0).is_none());
    }
}
