//! Entity detectors, end to end through the public API: GB 11643 vectors and 10,000 generated
//! IDs, Luhn vectors, phone / money / date tables, masks, overlaps, arbitrary Unicode, the lead-
//! field proposals, and the labelled sets.

use std::path::PathBuf;
use std::time::Instant;

use closer_dialogue::{EntityKind, FieldSpec, FieldType};
use closer_nlu::entities::{self, Context};
use proptest::prelude::*;

fn ctx(now: &str) -> Context {
    Context::parse_rfc3339(now).expect("RFC 3339 time")
}

/// Wednesday 2026-11-18, 10:00 in Beijing.
fn wednesday() -> Context {
    ctx("2026-11-18T10:00:00+08:00")
}

fn found(text: &str, context: &Context) -> Vec<(EntityKind, String)> {
    entities::extract(text, context).into_iter().map(|e| (e.kind, e.value)).collect()
}

fn values(text: &str, kind: EntityKind, context: &Context) -> Vec<String> {
    entities::extract(text, context)
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.value)
        .collect()
}

// ---- resident IDs ----------------------------------------------------------------------------

/// The check character computed independently of the crate (GB 11643-1999, ISO 7064 MOD 11-2).
fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * ((1u32 << (17 - i)) % 11))
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

#[test]
fn published_check_digit_vectors() {
    for id in
        ["11010519491231002X", "440524188001010014", "110101199003078670", "440308199901101512"]
    {
        assert!(entities::valid_resident_id(id), "{id}");
        assert_eq!(check_char(&id.as_bytes()[..17]), id.as_bytes()[17], "{id}");
        assert_eq!(values(&format!("身份证{id}"), EntityKind::ResidentId, &wednesday()), [id]);
    }
    assert_eq!(entities::resident_id_check("11010519491231002"), Some('X'));
    assert_eq!(
        values("id 11010519491231002x", EntityKind::ResidentId, &wednesday()),
        ["11010519491231002X"]
    );
    assert!(!entities::valid_resident_id("110105194912310021"));
    assert!(!entities::valid_resident_id("110105194913310028"), "month 13");
}

/// A seeded generator (SplitMix64): the same IDs on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A random valid ID: region (province 11–65), birth date 1900–2025, sequence, check digit.
fn generated_id(rng: &mut SplitMix) -> String {
    let region = 110_000 + rng.below(550_000);
    let year = 1900 + rng.below(126);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(days_in_month(year, month));
    let sequence = rng.below(1000);
    let first17 = format!("{region:06}{year:04}{month:02}{day:02}{sequence:03}");
    let check = check_char(first17.as_bytes());
    format!("{first17}{}", char::from(check))
}

/// The ID written as customers write it: plain, lower-case x, or grouped 6-8-4 with spaces.
fn written(id: &str, style: u64) -> String {
    match style {
        0 => id.to_string(),
        1 => id.to_ascii_lowercase(),
        _ => format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
    }
}

const ID_CONTEXTS: &[&str] = &[
    "身份证号{}，麻烦登记",
    "{}",
    "我的证件号码是：{}",
    "ID number {} for the invoice",
    "实名信息 王磊 {} 谢谢",
];

#[test]
fn ten_thousand_generated_ids_are_found_and_wrong_check_digits_are_not() {
    let mut rng = SplitMix(0x11643);
    let context = wednesday();
    for i in 0..10_000u64 {
        let id = generated_id(&mut rng);
        let template = ID_CONTEXTS[(i % ID_CONTEXTS.len() as u64) as usize];
        let text = template.replace("{}", &written(&id, i % 3));
        let ids = values(&text, EntityKind::ResidentId, &context);
        assert_eq!(ids, std::slice::from_ref(&id), "{text}");
        let others = found(&text, &context);
        assert!(
            !others.iter().any(|(k, _)| matches!(k, EntityKind::Phone | EntityKind::BankCard)),
            "{text}: {others:?}"
        );

        // Every other check character makes it not an ID, and not a phone or a card either.
        let right = id.as_bytes()[17];
        let wrong = b"0123456789X"[((rng.below(10)
            + 1
            + b"0123456789X".iter().position(|c| *c == right).unwrap_or(0) as u64)
            % 11) as usize];
        assert_ne!(wrong, right);
        let bad = format!("{}{}", &id[..17], char::from(wrong));
        let text = template.replace("{}", &written(&bad, i % 3));
        let kinds: Vec<_> = found(&text, &context).into_iter().map(|(k, _)| k).collect();
        assert!(
            !kinds.iter().any(|k| matches!(
                k,
                EntityKind::ResidentId | EntityKind::Phone | EntityKind::BankCard
            )),
            "{text}: {kinds:?}"
        );
    }
}

// ---- bank cards ------------------------------------------------------------------------------

#[test]
fn luhn_vectors() {
    for n in [
        "79927398713",
        "4111111111111111",
        "4012888888881881",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "3530111333300000",
        "6200000000000005",
    ] {
        assert!(entities::luhn_valid(n), "{n}");
    }
    for n in ["79927398710", "4111111111111112", "1234567812345678", "", "12a4"] {
        assert!(!entities::luhn_valid(n), "{n}");
    }
    let context = wednesday();
    assert_eq!(
        values("卡号 6200 0000 0000 0005", EntityKind::BankCard, &context),
        ["6200000000000005"]
    );
    assert_eq!(
        values("card 4111-1111-1111-1111 please", EntityKind::BankCard, &context),
        ["4111111111111111"]
    );
    assert!(
        values("卡号 6200 0000 0000 0006", EntityKind::BankCard, &context).is_empty(),
        "Luhn fails"
    );
    assert!(values("订单号 2026111800389000", EntityKind::BankCard, &context).is_empty());
}

// ---- phones, emails, WeChat ------------------------------------------------------------------

#[test]
fn phone_variants() {
    let context = wednesday();
    let table = [
        ("手机13812345678", "13812345678"),
        ("手机 138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("(+86)13812345678", "13812345678"),
        ("电话：１３８１２３４５６７８", "13812345678"),
        ("座机010-88886666", "01088886666"),
        ("座机 (021) 6222 3333", "02162223333"),
        ("0571-88776655转8", "057188776655"),
        ("+1 415 555 0123", "+14155550123"),
        ("+44 (0) 20 7946 0958", "+442079460958"),
        ("call 650-555-0134", "6505550134"),
    ];
    for (text, value) in table {
        assert_eq!(values(text, EntityKind::Phone, &context), [value], "{text}");
    }
    for text in [
        "订单号13812345678",
        "12345678901234",
        "138123456789",
        "QQ 30561234",
        "version 4.2.1",
        "客服电话400-820-8820",
    ] {
        assert!(values(text, EntityKind::Phone, &context).is_empty(), "{text}");
    }
}

#[test]
fn emails_and_wechat() {
    let context = wednesday();
    assert_eq!(
        values("邮箱 Li.Ming@QQ.com，谢谢", EntityKind::Email, &context),
        ["li.ming@qq.com"]
    );
    assert_eq!(
        values("mail me: a_b+c@sub.example.co.uk.", EntityKind::Email, &context),
        ["a_b+c@sub.example.co.uk"]
    );
    for (text, id) in [
        ("加我微信 zhangsan_88", "zhangsan_88"),
        ("vx：lily0925", "lily0925"),
        ("V信 wang_xiao_mei", "wang_xiao_mei"),
        ("my wechat is davidw_88", "davidw_88"),
        ("WeChat ID: mike-chen-sh", "mike-chen-sh"),
        ("微信号是wanglei", "wanglei"),
        ("微信：13800138000", "13800138000"),
    ] {
        assert_eq!(values(text, EntityKind::Wechat, &context), [id], "{text}");
    }
    for text in [
        "abc123456",
        "add me on wechat please",
        "微信同号",
        "wxyz123456",
        "微信号就是我手机号13512340000",
    ] {
        assert!(values(text, EntityKind::Wechat, &context).is_empty(), "{text}");
    }
}

// ---- money and quantities --------------------------------------------------------------------

#[test]
fn money_normalisation() {
    let context = wednesday();
    let table = [
        ("预算5万左右", "50000 CNY"),
        ("预算5到8万", "50000-80000 CNY"),
        ("五到八万", "50000-80000 CNY"),
        ("预算5-8k", "5000-8000 CNY"),
        ("budget 5-8k", "5000-8000 USD"),
        ("三万五", "35000 CNY"),
        ("两千块", "2000 CNY"),
        ("预算两千", "2000 CNY"),
        ("一百五十万", "1500000 CNY"),
        ("1.5万", "15000 CNY"),
        ("3万5", "35000 CNY"),
        ("5w", "50000 CNY"),
        ("8999元", "8999 CNY"),
        ("￥12,800", "12800 CNY"),
        ("RMB 20,000", "20000 CNY"),
        ("3k美金", "3000 USD"),
        ("500欧元", "500 EUR"),
        ("两三万", "20000-30000 CNY"),
        ("营收两个亿", "200000000 CNY"),
        ("一百万", "1000000 CNY"),
        ("预算1.2亿", "120000000 CNY"),
        ("$50k", "50000 USD"),
        ("budget is $1.5k", "1500 USD"),
        ("USD 2,000", "2000 USD"),
        ("between $2k and $3k", "2000-3000 USD"),
        ("$2k-$3k", "2000-3000 USD"),
        ("30 to 40 thousand dollars", "30000-40000 USD"),
        ("€200", "200 EUR"),
        ("£3,000 a year", "3000 GBP"),
        ("49.99 USD/month", "49.99 USD"),
        ("2 million dollars", "2000000 USD"),
        ("budget 8000", "8000 USD"),
        ("30k a year in pounds", "30000 GBP"),
    ];
    for (text, value) in table {
        assert_eq!(values(text, EntityKind::Money, &context), [value], "{text}");
    }
    for text in
        ["打8折", "涨了30%", "尾号2504", "RTX 4090", "版本3.2", "2026年", "一年多少钱", "便宜一点"]
    {
        assert!(values(text, EntityKind::Money, &context).is_empty(), "{text}");
    }
}

#[test]
fn quantities() {
    let context = wednesday();
    let table = [
        ("要二十台", "20 台"),
        ("需要30套", "30 套"),
        ("三十个账号", "30 个"),
        ("公司五十人左右", "50 人"),
        ("5万条记录", "50000 条"),
        ("大概6个T的数据", "6 TB"),
        ("每天500G数据", "500 GB"),
        ("备份空间2TB", "2 TB"),
        ("十二家门店", "12 家"),
        ("50 users", "50 users"),
        ("25 seats", "25 seats"),
        ("3 printers", "3 printers"),
        ("10,000 orders a day", "10000 orders"),
        ("two units", "2 units"),
        ("a hundred and twenty users", "120 users"),
        ("need 6 more licenses", "6 licenses"),
    ];
    for (text, value) in table {
        assert_eq!(values(text, EntityKind::Quantity, &context), [value], "{text}");
    }
    for text in [
        "一台多少钱",
        "8核16G的配置",
        "64GB RAM",
        "5G网络",
        "2026年",
        "in 3 days",
        "3 times",
        "第3个",
    ] {
        assert!(values(text, EntityKind::Quantity, &context).is_empty(), "{text}");
    }
}

// ---- dates and times -------------------------------------------------------------------------

#[test]
fn relative_dates_against_a_fixed_now() {
    // Wednesday 2026-11-18 10:00 +08:00; its week runs Monday 16 – Sunday 22.
    let wed = wednesday();
    let table = [
        ("今天", "2026-11-18"),
        ("明天", "2026-11-19"),
        ("后天", "2026-11-20"),
        ("大后天", "2026-11-21"),
        ("下周二", "2026-11-24"),
        ("下星期二", "2026-11-24"),
        ("这周五", "2026-11-20"),
        ("本周一", "2026-11-16"),
        ("周五", "2026-11-20"),
        ("周一", "2026-11-23"),
        ("周末", "2026-11-21"),
        ("下周末", "2026-11-28"),
        ("月底", "2026-11-30"),
        ("下个月初", "2026-12-01"),
        ("下个月15号", "2026-12-15"),
        ("12月1日", "2026-12-01"),
        ("3月5号", "2027-03-05"),
        ("2026-12-01", "2026-12-01"),
        ("2027年1月15日", "2027-01-15"),
        ("两周后", "2026-12-02"),
        ("3天后", "2026-11-21"),
        ("元旦", "2027-01-01"),
        ("明天下午3点", "2026-11-19T15:00"),
        ("明天下午三点半", "2026-11-19T15:30"),
        ("今晚8点", "2026-11-18T20:00"),
        ("明早9点半", "2026-11-19T09:30"),
        ("上午十点", "2026-11-18T10:00"),
        ("下午4点", "2026-11-18T16:00"),
        ("15:30", "2026-11-18T15:30"),
        ("12月1日 15:30", "2026-12-01T15:30"),
        ("tomorrow", "2026-11-19"),
        ("next Tuesday", "2026-11-24"),
        ("this Friday", "2026-11-20"),
        ("on Friday", "2026-11-20"),
        ("3pm", "2026-11-18T15:00"),
        ("tomorrow at 3pm", "2026-11-19T15:00"),
        ("3pm tomorrow", "2026-11-19T15:00"),
        ("next Tuesday at 10am", "2026-11-24T10:00"),
        ("tomorrow at 3", "2026-11-19T15:00"),
        ("in two weeks", "2026-12-02"),
        ("Dec 1", "2026-12-01"),
        ("1 December", "2026-12-01"),
        ("December 1st, 2027", "2027-12-01"),
        ("end of the month", "2026-11-30"),
        ("early next month", "2026-12-01"),
        ("the 22nd", "2026-11-22"),
    ];
    for (text, value) in table {
        assert_eq!(values(text, EntityKind::DateTime, &wed), [value], "{text}");
    }
    for text in ["便宜一点", "3月份", "下个月再说", "next month", "5号楼", "in March", "at 3"]
    {
        assert!(values(text, EntityKind::DateTime, &wed).is_empty(), "{text}");
    }
}

#[test]
fn week_month_and_year_boundaries() {
    // Sunday: still the week of Monday 16; 下周二 is the 24th, 这周五 the 20th (already past).
    let sunday = ctx("2026-11-22T09:00:00+08:00");
    assert_eq!(values("下周二", EntityKind::DateTime, &sunday), ["2026-11-24"]);
    assert_eq!(values("这周五", EntityKind::DateTime, &sunday), ["2026-11-20"]);
    assert_eq!(values("周五", EntityKind::DateTime, &sunday), ["2026-11-27"]);
    assert_eq!(values("next Monday", EntityKind::DateTime, &sunday), ["2026-11-23"]);
    // Monday: 下周一 is a week away, 周一 is today.
    let monday = ctx("2026-11-23T09:00:00+08:00");
    assert_eq!(values("下周一", EntityKind::DateTime, &monday), ["2026-11-30"]);
    assert_eq!(values("周一", EntityKind::DateTime, &monday), ["2026-11-23"]);
    // Month end.
    let nov30 = ctx("2026-11-30T18:00:00+08:00");
    assert_eq!(values("明天", EntityKind::DateTime, &nov30), ["2026-12-01"]);
    assert_eq!(values("月底", EntityKind::DateTime, &nov30), ["2026-11-30"]);
    assert_eq!(values("下个月初", EntityKind::DateTime, &nov30), ["2026-12-01"]);
    assert_eq!(values("15号", EntityKind::DateTime, &nov30), ["2026-12-15"]);
    // Year end: 下周一 crosses into 2027; 1月5号 is next year's.
    let dec31 = ctx("2026-12-31T12:00:00+08:00");
    assert_eq!(values("明天", EntityKind::DateTime, &dec31), ["2027-01-01"]);
    assert_eq!(values("下周一", EntityKind::DateTime, &dec31), ["2027-01-04"]);
    assert_eq!(values("1月5号", EntityKind::DateTime, &dec31), ["2027-01-05"]);
    assert_eq!(values("下个月底", EntityKind::DateTime, &dec31), ["2027-01-31"]);
    // A leap day; a month whose day 31 does not exist.
    let feb28 = ctx("2028-02-28T12:00:00+08:00");
    assert_eq!(values("明天", EntityKind::DateTime, &feb28), ["2028-02-29"]);
    assert_eq!(values("月底", EntityKind::DateTime, &feb28), ["2028-02-29"]);
    let jan31 = ctx("2027-01-31T12:00:00+08:00");
    assert_eq!(values("下个月底", EntityKind::DateTime, &jan31), ["2027-02-28"]);
    // The local date comes from the offset: 20:00 UTC is already tomorrow in Beijing.
    let late = ctx("2026-11-21T20:00:00Z").with_utc_offset(480);
    assert_eq!(values("今天", EntityKind::DateTime, &late), ["2026-11-22"]);
    let new_york = ctx("2026-11-16T09:00:00-05:00");
    assert_eq!(values("today", EntityKind::DateTime, &new_york), ["2026-11-16"]);
}

// ---- companies and people --------------------------------------------------------------------

#[test]
fn companies_and_people() {
    let context = wednesday();
    let cases: &[(&str, &[(EntityKind, &str)])] = &[
        ("我叫王磊，想咨询一下", &[(EntityKind::Person, "王磊")]),
        ("免贵姓王", &[(EntityKind::Person, "王")]),
        ("联系人张经理", &[(EntityKind::Person, "张经理")]),
        ("我是杭州云帆科技有限公司的采购", &[(EntityKind::Company, "杭州云帆科技有限公司")]),
        ("我们是做跨境电商的", &[]),
        ("我们是北京的", &[]),
        ("我是来咨询的", &[]),
        ("周末有空", &[(EntityKind::DateTime, "2026-11-21")]),
        ("my name is John Smith", &[(EntityKind::Person, "John Smith")]),
        ("I'm interested in your CRM", &[]),
        (
            "This is Sarah from Acme Inc.",
            &[(EntityKind::Person, "Sarah"), (EntityKind::Company, "Acme Inc.")],
        ),
        ("I work at Globex", &[(EntityKind::Company, "Globex")]),
        ("I'm from Shanghai", &[]),
    ];
    for (text, expected) in cases {
        let got = found(text, &context);
        let want: Vec<(EntityKind, String)> =
            expected.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(got, want, "{text}");
    }
}

// ---- overlaps and offsets --------------------------------------------------------------------

#[test]
fn overlaps_resolve_to_the_most_specific() {
    let context = wednesday();
    // An ID contains what looks like a phone and is Luhn-shaped: only the ID.
    assert_eq!(
        found("11010519491231002X", &context),
        [(EntityKind::ResidentId, "11010519491231002X".into())]
    );
    // A phone inside an email is the email.
    assert_eq!(
        found("13812345678@163.com", &context),
        [(EntityKind::Email, "13812345678@163.com".into())]
    );
    // A phone given as the WeChat ID is a WeChat ID.
    assert_eq!(found("微信13812345678", &context), [(EntityKind::Wechat, "13812345678".into())]);
    // 2026年 is not 2026 years; 5万 with 用户 counts users.
    assert!(found("2026年的数据", &context).is_empty());
    assert_eq!(found("5万用户", &context), [(EntityKind::Quantity, "50000 用户".into())]);
    let text = "我叫王磊，手机１３８１２３４５６７８，明天下午3点方便，预算5到8万";
    let all = entities::extract(text, &context);
    let kinds: Vec<_> = all.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EntityKind::Person, EntityKind::Phone, EntityKind::DateTime, EntityKind::Money]
    );
    for e in &all {
        assert_eq!(&text[e.start as usize..e.end as usize], e.text);
    }
}

// ---- masking ---------------------------------------------------------------------------------

#[test]
fn masks() {
    let context = wednesday();
    let cases = [
        ("身份证11010519491231002X", "身份证110105********002X"),
        ("手机13812345678", "手机138****5678"),
        ("手机 138 1234 5678", "手机 138 **** 5678"),
        ("卡号6222600447387395644", "卡号622260*********5644"),
        ("邮箱 zhang.san@example.com", "邮箱 z********@example.com"),
        ("微信 zhangsan_88", "微信 z**********"),
        ("我叫王磊", "我叫王＊"),
        ("预算5万，明天下午3点", "预算5万，明天下午3点"),
        ("电话：１３８１２３４５６７８", "电话：１３８＊＊＊＊５６７８"),
    ];
    for (text, want) in cases {
        let masked = entities::mask(text, &entities::extract(text, &context));
        assert_eq!(masked, want, "{text}");
        assert_eq!(masked.len(), text.len(), "byte offsets stay valid: {text}");
    }
}

// ---- lead fields -----------------------------------------------------------------------------

fn field(key: &str, field_type: FieldType, cues: &[&str]) -> FieldSpec {
    FieldSpec {
        key: key.into(),
        field_type,
        required: false,
        label_zh: String::new(),
        label_en: String::new(),
        ask_zh: String::new(),
        ask_en: String::new(),
        cues: cues.iter().map(|c| c.to_string()).collect(),
        crm_field: None,
    }
}

#[test]
fn fields_are_proposed_from_entities_and_cues() {
    let schema = [
        field("name", FieldType::Person, &[]),
        field("phone", FieldType::Phone, &[]),
        field("budget", FieldType::Money, &["预算", "budget"]),
        field("seats", FieldType::Quantity, &[]),
        field("industry", FieldType::Text, &["行业", "industry", "我们是做"]),
        field("deadline", FieldType::Date, &[]),
        field("email", FieldType::Email, &[]),
    ];
    let text = "我叫王磊，我们是做跨境电商的，报价8000元太贵，预算5万，要20台，电话13812345678，下周二前定";
    let proposals = entities::propose_fields(&schema, text, &entities::extract(text, &wednesday()));
    let got: Vec<(&str, &str)> =
        proposals.iter().map(|p| (p.field.as_str(), p.value.as_str())).collect();
    assert_eq!(
        got,
        [
            ("name", "王磊"),
            ("phone", "13812345678"),
            ("budget", "50000 CNY"),
            ("seats", "20 台"),
            ("industry", "跨境电商"),
            ("deadline", "2026-11-24"),
        ]
    );
}

// ---- arbitrary Unicode -----------------------------------------------------------------------

fn messy_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range(' ', '~'),
        proptest::char::range('0', '9'),
        proptest::char::range('\u{FF10}', '\u{FF19}'), // full-width digits
        proptest::char::range('\u{FF01}', '\u{FF5E}'), // full-width ASCII
        proptest::char::range('\u{4E00}', '\u{4E2F}'),
        Just('万'),
        Just('元'),
        Just('点'),
        Just('号'),
        Just('月'),
        Just('日'),
        Just('周'),
        Just('下'),
        Just('个'),
        Just('台'),
        Just('微'),
        Just('信'),
        Just('王'),
        Just('总'),
        Just('姓'),
        Just('叫'),
        Just('两'),
        Just('十'),
        Just('三'),
        Just('X'),
        Just('@'),
        Just('+'),
        Just('-'),
        Just('$'),
        Just('¥'),
        Just('\u{3000}'),
        Just('，'),
        Just('。'),
        Just('：'),
        proptest::char::range('\u{0300}', '\u{036F}'), // combining marks
        proptest::char::range('\u{1F600}', '\u{1F64F}'), // emoji
        proptest::char::range('\u{200B}', '\u{200F}'), // zero-width and bidi marks
        proptest::char::range('\u{00A0}', '\u{024F}'),
    ]
}

fn check_offsets(input: &str) {
    let context = wednesday();
    let found = entities::extract(input, &context);
    let mut last_end = 0;
    for e in &found {
        let (start, end) = (e.start as usize, e.end as usize);
        assert!(start < end && end <= input.len(), "{e:?}");
        assert!(input.is_char_boundary(start) && input.is_char_boundary(end), "{e:?}");
        assert_eq!(&input[start..end], e.text);
        assert!(start >= last_end, "sorted and disjoint: {found:?}");
        last_end = end;
    }
    let masked = entities::mask(input, &found);
    assert_eq!(masked.len(), input.len());
    let _ = entities::propose_fields(&[field("x", FieldType::Text, &["信", "X"])], input, &found);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_offsets_hold(chars in proptest::collection::vec(messy_char(), 0..80)) {
        check_offsets(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn never_panics_on_any_string(s in proptest::collection::vec(any::<char>(), 0..60)) {
        check_offsets(&s.into_iter().collect::<String>());
    }
}

// ---- the labelled sets -----------------------------------------------------------------------

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/fields").join(name)
}

/// Per-kind precision and recall on a labelled set, printed with the errors and the latency.
fn score(name: &str) -> entities::FieldReport {
    let cases = entities::read_cases(&data(name)).expect("labelled set");
    let cold = Instant::now();
    let report = entities::evaluate(&cases);
    let cold = cold.elapsed();
    // Timed after the first pass has compiled the detectors' regexes.
    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        for case in &cases {
            std::hint::black_box(entities::extract(&case.text, &case.context));
        }
    }
    let per_message = started.elapsed() / (rounds * cases.len().max(1)) as u32;
    println!(
        "{name}: {report}\nmean extraction time per message (this build, warm): {per_message:?}; \
         first pass incl. compiling the regexes if not yet done: {cold:?}"
    );
    report
}

#[test]
fn dev_set_meets_the_targets() {
    let report = score("dev.jsonl");
    for k in &report.kinds {
        assert!(
            k.score.precision >= 0.95 && k.score.recall >= 0.95,
            "{}: {:?}",
            k.kind.as_str(),
            k.score
        );
    }
}

/// The held-out set: measured and printed, never tuned on line by line.
#[test]
fn test_set_report() {
    score("test.jsonl");
}

/// `PROBE="text"` or `PROBE_FILE=path` prints what is found (a debugging aid; no assertions).
#[test]
fn probe() {
    let texts: Vec<String> = match (std::env::var("PROBE"), std::env::var("PROBE_FILE")) {
        (Ok(text), _) => vec![text],
        (_, Ok(path)) => {
            std::fs::read_to_string(path).expect("probe file").lines().map(String::from).collect()
        }
        _ => return,
    };
    let context = wednesday();
    for text in texts {
        println!("{text}");
        for e in entities::extract(&text, &context) {
            println!("    {:?} {:?} -> {:?}", e.kind, e.text, e.value);
        }
    }
}
