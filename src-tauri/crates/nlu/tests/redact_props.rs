//! Property tests of the redactor (proptest; failures are persisted under
//! `proptest-regressions/` and replayed first): it never panics, keeps byte length in mask
//! style, reports sorted, disjoint spans on character boundaries, and masks every generated valid
//! mobile number, resident ID, bank card and e-mail whatever chat text surrounds it.
//! `PROPTEST_CASES` raises the count (CI runs the default 256 per property).

use closer_nlu::entities::{luhn_valid, resident_id_check};
use closer_nlu::redact::{self, Style};
use proptest::prelude::*;

/// Text around a number: Chinese and English chat words, punctuation, spaces, but no digits or
/// ASCII letters glued to the number (those make a different token).
fn filler() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "电话",
            "手机",
            "号码是",
            "，",
            "。",
            "：",
            " ",
            "请打",
            "谢谢",
            "my number is ",
            "call me on ",
            ", thanks",
            "!",
            "（",
            "）",
            "联系我",
            "or ",
            "邮箱",
            "身份证",
            "卡号",
            "订单",
            "\n",
            "　",
        ]),
        0..4,
    )
    .prop_map(|v| v.concat())
}

fn mobile() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!['3', '4', '5', '6', '7', '8', '9']),
        prop::collection::vec(0u8..10, 9),
    )
        .prop_map(|(second, rest)| {
            let mut s = format!("1{second}");
            s.extend(rest.iter().map(|d| char::from(b'0' + d)));
            s
        })
}

fn formatted_mobile() -> impl Strategy<Value = (String, String)> {
    (mobile(), 0..5usize).prop_map(|(m, style)| {
        let shown = match style {
            0 => m.clone(),
            1 => format!("{} {} {}", &m[..3], &m[3..7], &m[7..]),
            2 => format!("{}-{}-{}", &m[..3], &m[3..7], &m[7..]),
            3 => format!("+86 {m}"),
            _ => m.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)).collect(),
        };
        (m, shown)
    })
}

fn resident_id() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["110105", "310104", "440305", "330106", "510107"]),
        1950i32..2010,
        1u32..13,
        1u32..29,
        0u32..1000,
    )
        .prop_filter_map("a check digit", |(region, y, m, d, seq)| {
            let first17 = format!("{region}{y:04}{m:02}{d:02}{seq:03}");
            Some(format!("{first17}{}", resident_id_check(&first17)?))
        })
}

fn card() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["6222", "6228", "4367", "5187", "6217"]),
        prop::sample::select(vec![16usize, 19]),
        prop::collection::vec(0u8..10, 14),
    )
        .prop_map(|(prefix, len, body)| {
            let mut s = prefix.to_owned();
            s.extend(body.iter().take(len - 5).map(|d| char::from(b'0' + d)));
            (0..10u8).map(|d| format!("{s}{d}")).find(|c| luhn_valid(c)).unwrap_or_default()
        })
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9._]{2,12}[a-z0-9]",
        prop::sample::select(vec!["qq.com", "example.com", "163.com", "acme.cn"]),
    )
        .prop_map(|(local, domain)| format!("{local}@{domain}"))
}

/// A full-width digit as its ASCII digit; anything else unchanged.
fn ascii_digit(c: char) -> char {
    if ('０'..='９').contains(&c) { char::from_u32(c as u32 - 0xFEE0).unwrap_or(c) } else { c }
}

fn assert_spans_sound(text: &str) -> Result<(), TestCaseError> {
    let r = redact::redact_with(text, Style::Mask);
    prop_assert_eq!(r.text.len(), text.len());
    let mut last = 0;
    for s in &r.spans {
        prop_assert!(s.start >= last && s.start < s.end && s.end <= text.len());
        prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        last = s.end;
    }
    Ok(())
}

proptest! {
    #[test]
    fn never_panics_and_spans_are_sound(text in "\\PC{0,200}") {
        assert_spans_sound(&text)?;
        let _ = redact::redact_with(&text, Style::Placeholder);
    }

    #[test]
    fn digit_heavy_text_never_panics(text in "[0-9０-９ xX+\\-()@.a-z电话微信]{0,120}") {
        assert_spans_sound(&text)?;
    }

    #[test]
    fn every_mobile_is_masked(before in filler(), (digits, shown) in formatted_mobile(), after in filler()) {
        let text = format!("{before}{shown}{after}");
        let out = redact::redact_with(&text, Style::Placeholder).text;
        let left: String = out.chars().map(ascii_digit).filter(char::is_ascii_digit).collect();
        prop_assert!(!left.contains(&digits), "{:?} → {:?}", text, out);
    }

    #[test]
    fn every_resident_id_is_masked(before in filler(), id in resident_id(), after in filler()) {
        let text = format!("{before}{id}{after}");
        let out = redact::redact(&text);
        prop_assert!(!out.contains(&id), "{:?} → {:?}", text, out);
        prop_assert!(!out.contains(&id[6..14]), "the birth date stays hidden: {:?}", out);
    }

    #[test]
    fn every_card_is_masked(before in filler(), card in card(), grouped in any::<bool>(), after in filler()) {
        let shown = if grouped {
            card.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
        } else {
            card.clone()
        };
        let text = format!("{before}{shown}{after}");
        let out = redact::redact_with(&text, Style::Placeholder).text;
        let left: String = out.chars().filter(char::is_ascii_digit).collect();
        prop_assert!(!left.contains(&card), "{:?} → {:?}", text, out);
    }

    #[test]
    fn every_email_is_masked(before in filler(), email in email(), after in filler()) {
        let text = format!("{before} {email} {after}");
        let out = redact::redact_with(&text, Style::Placeholder).text;
        prop_assert!(!out.contains(&email), "{:?} → {:?}", text, out);
    }
}
