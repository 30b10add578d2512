//! What the wording alone says about a customer message, whatever the intent head made of it:
//! closed-lexicon recognisers, Chinese and English, with no model.
//!
//! The intent head is least sure on the shortest, plainest messages ("好的", "Alright", "Good to
//! know" land just under the hand-off threshold) and on requests it saw few examples of ("下个月再付
//! 可以吗？" read as nothing). What these messages mean is not in doubt, so the rules read them
//! themselves ([`read`]) and a message they understood is no low-confidence hand-off (ARCHITECTURE:
//! "the rules' own reading comes first"):
//!
//! - [`Cue::Acknowledgement`], [`Cue::Greeting`], [`Cue::Farewell`]: small talk. Only a short
//!   message made *entirely* of lexicon phrases counts ("好的，了解了", "ok thanks", "嗯嗯"), so a
//!   negation ("不好", "not ok"), a question, a request or anything else in it leaves it unread;
//!   a trailing-off "嗯……" / "well..." is hesitation, not assent. Bare yes / no ("是的", "yes")
//!   are answers whose meaning is in the question before them, and are not read here.
//! - [`Cue::Deferral`]: putting off a payment or a decision ("能不能下周再付款", "我们年后再决定",
//!   "I'd like to postpone the payment", "let me think it over") — a timing objection.
//! - [`Cue::PaymentQuestion`]: a question about paying, renewing or invoicing ("请问怎么付款？",
//!   "Can I pay by bank transfer?").
//! - [`Cue::Feedback`]: a statement of (dis)satisfaction, a survey answer ("不太满意，送货太慢了",
//!   "We're quite happy with the installation").
//!
//! Nothing is read in a message with an angry word or a request for a person in it: those are
//! the hand-off rules' business, and the rules must not claim to understand them.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// What the wording of a customer message says, when the rules can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Cue {
    /// "好的", "了解了", "谢谢", "OK, got it", "thanks": the customer takes in what was said.
    Acknowledgement,
    /// "你好", "hi there".
    Greeting,
    /// "再见", "好的，拜拜", "thanks, bye": the customer is leaving.
    Farewell,
    /// "下个月再付可以吗？", "we'll decide next quarter": a payment or a decision put off.
    Deferral,
    /// "请问怎么付款？", "do you send an invoice?": a question about paying.
    PaymentQuestion,
    /// "挺满意的", "not satisfied with the delivery": how the customer found the product or service.
    Feedback,
}

stable_names!(Cue {
    Acknowledgement => "acknowledgement",
    Greeting => "greeting",
    Farewell => "farewell",
    Deferral => "deferral",
    PaymentQuestion => "payment_question",
    Feedback => "feedback",
});

impl Cue {
    /// Small talk: it carries no request of its own.
    pub fn is_small_talk(self) -> bool {
        matches!(self, Cue::Acknowledgement | Cue::Greeting | Cue::Farewell)
    }
}

/// What the wording of `text` says, if the rules can tell (see the module documentation).
pub fn read(text: &str) -> Option<Cue> {
    let text = Text::new(text);
    if text.is_empty() || text.angry() || text.wants_a_person() {
        return None;
    }
    let asks = crate::focus::asks(&text.spaced);
    if text.defers(asks) {
        Some(Cue::Deferral)
    } else if asks {
        text.about_payment().then_some(Cue::PaymentQuestion)
    } else if let Some(cue) = text.small_talk() {
        Some(cue)
    } else {
        text.feedback().then_some(Cue::Feedback)
    }
}

/// Whether `text` has a word of anger in it ("垃圾", "ridiculous", "!!"): no cue is read then, and
/// a likely anger reading is not explained away.
pub fn sounds_angry(text: &str) -> bool {
    Text::new(text).angry()
}

/// The message folded for matching: NFKC (full-width to half-width), lower case, curly quotes
/// straightened; `spaced` keeps single spaces between words, `squashed` has no whitespace (for
/// Chinese).
struct Text {
    spaced: String,
    squashed: String,
}

impl Text {
    fn new(text: &str) -> Self {
        let folded: String = text
            .nfkc()
            .flat_map(char::to_lowercase)
            .map(|c| match c {
                '\u{2018}' | '\u{2019}' | '`' => '\'',
                '\u{3002}' => '.',
                '\u{3001}' => ',',
                c => c,
            })
            .collect();
        let spaced = folded.split_whitespace().collect::<Vec<_>>().join(" ");
        let squashed = folded.chars().filter(|c| !c.is_whitespace()).collect();
        Text { spaced, squashed }
    }

    fn is_empty(&self) -> bool {
        self.squashed.is_empty()
    }

    fn angry(&self) -> bool {
        ANGER_ZH.iter().any(|w| self.squashed.contains(w))
            || ANGER_EN.is_match(&self.spaced)
            || self.squashed.contains("!!")
    }

    fn wants_a_person(&self) -> bool {
        PERSON_ZH.iter().any(|w| self.squashed.contains(w)) || PERSON_EN.is_match(&self.spaced)
    }

    /// A payment or a decision put off. An information question about the later time ("以后续费
    /// 怎么收费", "how much is the renewal next year?") is a question, not a deferral.
    fn defers(&self, asks: bool) -> bool {
        let informational = asks
            && (INFO_QUESTION_ZH.is_match(&self.squashed)
                || INFO_QUESTION_EN.is_match(&self.spaced));
        if informational {
            return false;
        }
        DEFER_ZH.iter().any(|re| re.is_match(&self.squashed))
            || DEFER_EN.iter().any(|re| re.is_match(&self.spaced))
    }

    fn about_payment(&self) -> bool {
        PAYMENT_ZH.iter().any(|w| self.squashed.contains(w)) || PAYMENT_EN.is_match(&self.spaced)
    }

    fn feedback(&self) -> bool {
        self.squashed.chars().count() <= FEEDBACK_MAX_CHARS
            && (FEEDBACK_ZH.iter().any(|w| self.squashed.contains(w))
                || FEEDBACK_EN.is_match(&self.spaced))
    }

    /// The message is nothing but small-talk phrases (and fillers): the kind, Farewell over
    /// Acknowledgement over Greeting.
    fn small_talk(&self) -> Option<Cue> {
        // Trailing off is hesitation ("嗯……", "ok..."), not assent.
        if self.spaced.contains('…') || self.spaced.contains("..") {
            return None;
        }
        let tokens = tokens(&self.spaced);
        if tokens.is_empty() || tokens.len() > SMALL_TALK_MAX_TOKENS {
            return None;
        }
        let kinds = cover(&tokens, &SMALL_TALK)?;
        [Cue::Farewell, Cue::Acknowledgement, Cue::Greeting]
            .into_iter()
            .find(|cue| kinds.contains(&Some(*cue)))
    }
}

/// Small talk is short: at most this many words (a Chinese character counts as one).
const SMALL_TALK_MAX_TOKENS: usize = 12;

/// A survey answer is a sentence or two, not a story.
const FEEDBACK_MAX_CHARS: usize = 60;

/// Words (ASCII letters, digits and apostrophes) and single Chinese characters; everything else
/// separates them.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || (c == '\'' && !word.is_empty()) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// A phrase of the small-talk lexicon: its tokens and its kind (`None`: a filler, which goes with
/// any kind but is no small talk alone).
type Phrase = (Vec<String>, Option<Cue>);

/// Whether `tokens` is a sequence of lexicon phrases with at least one that is not a filler; the
/// kinds used.
fn cover(tokens: &[String], lexicon: &[Phrase]) -> Option<Vec<Option<Cue>>> {
    // best[i]: the phrases covering tokens[..i], if any covering exists.
    let mut best: Vec<Option<Vec<Option<Cue>>>> = vec![None; tokens.len() + 1];
    best[0] = Some(Vec::new());
    for i in 0..tokens.len() {
        let Some(before) = best[i].clone() else { continue };
        for (phrase, kind) in lexicon {
            let end = i + phrase.len();
            if end <= tokens.len() && tokens[i..end] == phrase[..] && best[end].is_none() {
                let mut kinds = before.clone();
                kinds.push(*kind);
                best[end] = Some(kinds);
            }
        }
    }
    best.pop().flatten().filter(|kinds| kinds.iter().any(Option::is_some))
}

static SMALL_TALK: LazyLock<Vec<Phrase>> = LazyLock::new(|| {
    let kinds: [(&[&str], Option<Cue>); 4] = [
        (ACKNOWLEDGEMENTS, Some(Cue::Acknowledgement)),
        (GREETINGS, Some(Cue::Greeting)),
        (FAREWELLS, Some(Cue::Farewell)),
        (FILLERS, None),
    ];
    let mut lexicon: Vec<Phrase> = kinds
        .iter()
        .flat_map(|(phrases, kind)| phrases.iter().map(move |p| (tokens(p), *kind)))
        .collect();
    // Longest phrases first, so a covering prefers "thank you" to "thank" + "you".
    lexicon.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    lexicon
});

/// Taking in what was said, accepting it, thanking. Each entry is matched as whole tokens.
const ACKNOWLEDGEMENTS: &[&str] = &[
    // Chinese
    "好",
    "好的",
    "好滴",
    "好哒",
    "好嘞",
    "好勒",
    "好吧",
    "好啊",
    "嗯",
    "嗯嗯",
    "恩",
    "恩恩",
    "哦",
    "哦哦",
    "噢",
    "喔",
    "行",
    "行吧",
    "可以",
    "没问题",
    "了解",
    "了解了",
    "明白",
    "明白了",
    "知道了",
    "知道啦",
    "清楚了",
    "懂了",
    "收到",
    "收到了",
    "原来如此",
    "原来是这样",
    "这样啊",
    "挺好",
    "很好",
    "太好了",
    "不错",
    "谢谢",
    "谢了",
    "谢啦",
    "多谢",
    "感谢",
    "谢谢你",
    "谢谢您",
    "非常感谢",
    "太感谢了",
    "辛苦了",
    "麻烦了",
    "麻烦你了",
    // English
    "ok",
    "okay",
    "k",
    "kk",
    "alright",
    "all right",
    "sure",
    "fine",
    "got it",
    "gotcha",
    "i see",
    "understood",
    "i understand",
    "noted",
    "makes sense",
    "that makes sense",
    "good to know",
    "nice to know",
    "good to hear",
    "sounds good",
    "that sounds good",
    "fair enough",
    "will do",
    "great",
    "cool",
    "nice",
    "perfect",
    "awesome",
    "excellent",
    "good",
    "that's great",
    "that's good",
    "that's helpful",
    "very helpful",
    "thanks",
    "thank you",
    "thanks a lot",
    "thank you very much",
    "thanks so much",
    "many thanks",
    "thx",
    "ty",
    "cheers",
    "appreciate it",
    "much appreciated",
];

const GREETINGS: &[&str] = &[
    "你好",
    "您好",
    "你们好",
    "早上好",
    "上午好",
    "中午好",
    "下午好",
    "晚上好",
    "嗨",
    "哈喽",
    "hi",
    "hello",
    "hey",
    "hi there",
    "hello there",
    "good morning",
    "good afternoon",
    "good evening",
];

const FAREWELLS: &[&str] = &[
    "再见",
    "拜拜",
    "拜",
    "回头见",
    "下次见",
    "先这样",
    "bye",
    "goodbye",
    "bye bye",
    "see you",
    "see you later",
    "talk later",
    "talk to you later",
    "have a nice day",
    "have a good day",
    "take care",
];

/// Words that soften any of the above and mean nothing alone.
const FILLERS: &[&str] = &[
    "啊", "呀", "啦", "哈", "哈哈", "嘛", "了", "哟", "oh", "ah", "well", "then", "so", "very",
    "much",
];

const ANGER_ZH: &[&str] = &[
    "垃圾",
    "骗子",
    "骗人",
    "坑人",
    "气死",
    "什么玩意",
    "搞什么",
    "受够",
    "恶心",
    "忍无可忍",
    "破服务",
    "破东西",
    "差劲",
    "滚",
    "投诉你们",
    "退钱",
];

static ANGER_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(ridiculous|unacceptable|terrible|awful|worst|scam|fraud|rip-?off|furious|angry|",
        r"disgusting|pathetic|useless|wtf|fed up|sick of|outrageous)\b"
    ))
    .expect("anger regex")
});

const PERSON_ZH: &[&str] =
    &["人工", "真人", "找你们经理", "叫你们经理", "找你们领导", "找个人", "换个人"];

static PERSON_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b((talk|speak|chat) (to|with) (a|an|the|someone|somebody|your|a real)\b|",
        r"real person|human|representative|\bagent\b)"
    ))
    .expect("person regex")
});

/// Questions after a fact (how, how much, what, when …) rather than permission.
static INFO_QUESTION_ZH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"怎么|怎样|如何|多少|什么|哪|几号|几点|几个|为什么|多久")
        .expect("zh question regex")
});

static INFO_QUESTION_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(how|what|which|where|why|who|when)\b").expect("en question regex")
});

/// A later time, then (within a few characters, 再 allowed) the thing put off; a decision put off
/// without a time; a postponement of a payment or a purchase.
static DEFER_ZH: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let later = concat!(
        r"(下个?月|下个?(周|星期|礼拜)|下季度|明年|年后|节后|年底|月底|月初|过(几|两|一段|段)(天|周|时间)|",
        r"过一?阵子?|晚(点|些|一点|几天)|以后|之后|回头|改天|到时候?|等[^,.!?;:]{1,8}?(以后|之后|后|再))"
    );
    let act = r"(付|交钱|交费|缴|续费|续|买|购|订|下单|签|决定|定|考虑|说|办|看看|商量)";
    [
        format!(r"{later}[^,.!?;:]{{0,4}}?再?{act}"),
        r"(再想想|再考虑|考虑一下|考虑考虑|想一想|再商量|商量一下|商量商量|再看看|再说吧|先不急)".to_owned(),
        r"(推迟|延期|延后|宽限|缓一缓|缓几天|晚几天|拖几天).*(付|款|钱|费|续|买|单|决定)|(付|款|钱|费|续|买|单|决定).*(推迟|延期|延后|宽限|缓一缓|缓几天|晚几天|拖几天)".to_owned(),
    ]
    .iter()
    .map(|re| Regex::new(re).expect("zh deferral regex"))
    .collect()
});

static DEFER_EN: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let act = concat!(
        r"\b(pay|paying|payment|renew|renewing|renewal|buy|buying|purchase|purchasing|order|sign|",
        r"signing|decide|deciding|decision|commit|settle)\b"
    );
    let later = concat!(
        r"\b(next (week|month|quarter|year|time)|later|end of (the )?(week|month|quarter|year)|",
        r"in a (few|couple of) (days|weeks|months)|in (a|one|two|three) (week|weeks|month|months)|",
        r"after (the )?(holidays?|new year|weekend)|until|till|another time|some other time|",
        r"down the road|at a later date)\b"
    );
    let postpone = r"\b(postpone|defer|delay|hold off|put off|push back|extend the (deadline|due date)|grace period|extension)\b";
    let object = concat!(
        r"\b(pay|paying|payment|renew|renewal|purchase|order|decision|invoice|bill|buying|deal|",
        r"contract)\b"
    );
    [
        // The time goes with the act: "pay for the renewal next month", not "order now and get
        // it later".
        format!(r"{act}( [^ .!?;]+){{0,3}} {later}"),
        format!(r"{later}( [^ .!?;]+){{0,3}} {act}"),
        r"\b(think (about )?it over|think about it|sleep on it|get back to you|talk it over|discuss (it|this) (with|internally))\b".to_owned(),
        format!(r"{postpone}[^.!?;]*{object}|{object}[^.!?;]*{postpone}"),
    ]
    .iter()
    .map(|re| Regex::new(re).expect("en deferral regex"))
    .collect()
});

const PAYMENT_ZH: &[&str] = &[
    "付款", "支付", "付费", "缴费", "交费", "转账", "汇款", "续费", "发票", "开票", "对公", "账单",
    "付钱", "交钱", "刷卡", "分期",
];

static PAYMENT_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(pay|paying|payment|payments|renew|renewal|invoice|invoices|invoicing|billing|bill|",
        r"bank transfer|wire transfer|credit card|alipay|wechat pay|paypal|instal?ments?)\b"
    ))
    .expect("payment regex")
});

const FEEDBACK_ZH: &[&str] = &["满意", "失望", "体验很", "体验挺", "体验不", "体验太", "体验还"];

static FEEDBACK_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(satisfied|dissatisfied|unsatisfied|satisfaction|happy with|unhappy with|",
        r"pleased with|disappointed|disappointing)\b"
    ))
    .expect("feedback regex")
});

#[cfg(test)]
mod tests {
    use super::*;

    fn cues(texts: &[&str]) -> Vec<Option<Cue>> {
        texts.iter().map(|t| read(t)).collect()
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for c in Cue::ALL {
            assert_eq!(Cue::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
    }

    #[test]
    fn acknowledgements_and_thanks_in_either_language() {
        for text in [
            "好的呀",
            "嗯，明白了",
            "收到，谢谢！",
            "好嘞，辛苦了",
            "ＯＫ，了解",
            "行吧",
            "Okay, thanks a lot!",
            "ok got it",
            "I see, makes sense",
            "Sounds good 👍",
            "Thank you very much.",
            "Oh, perfect",
            "cool, that's helpful",
        ] {
            assert_eq!(read(text), Some(Cue::Acknowledgement), "{text}");
        }
    }

    #[test]
    fn greetings_and_farewells() {
        assert_eq!(cues(&["您好", "Hello there!", "早上好啊"]), vec![Some(Cue::Greeting); 3]);
        assert_eq!(
            cues(&["好的，拜拜", "Thanks, bye!", "ok, see you later", "再见啦"]),
            vec![Some(Cue::Farewell); 4]
        );
        // A greeting with thanks is thanks.
        assert_eq!(read("hi, thanks"), Some(Cue::Acknowledgement));
    }

    #[test]
    fn small_talk_is_the_whole_message_and_nothing_else() {
        for text in [
            // negations and refusals
            "不好",
            "不行",
            "不可以",
            "not ok",
            "no thanks",
            // questions
            "好的吗？",
            "可以吗",
            "ok?",
            "行不行",
            // anything beyond the lexicon
            "好的，我再想想",
            "好的，帮我下单",
            "ok, send me the quote",
            "好的，那企业版呢",
            "Great, I'll take two of them",
            // answers whose meaning is the question's
            "是的",
            "yes",
            // trailing off
            "嗯……",
            "ok...",
            // anger, a person
            "好的！！",
            "好的，转人工",
            "ok, human please",
            // long
            "好的好的好的好的好的好的好的",
            "",
            "  ",
        ] {
            let cue = read(text);
            assert!(!cue.is_some_and(Cue::is_small_talk), "{text}: {cue:?}");
        }
    }

    #[test]
    fn payment_and_decision_deferrals() {
        for text in [
            "能不能下周再付款？",
            "我们年后再决定吧",
            "过几天再下单",
            "付款能推迟到月底吗",
            "月底再交钱行吗",
            "能宽限几天付款吗？",
            "我再考虑考虑",
            "先不急，回头再说",
            "等发了工资再买",
            "Could we pay at the end of the month?",
            "I'd like to postpone the payment.",
            "We'll decide next quarter.",
            "Can we hold off on the renewal for now?",
            "Let me think it over and get back to you.",
            "Is it ok to renew later?",
            "Can I pay for the renewal next month?",
            "Next month we'll renew, not now.",
        ] {
            assert_eq!(read(text), Some(Cue::Deferral), "{text}");
        }
        for text in [
            "下个月能发货吗？",
            "以后续费怎么收费？",
            "付款之后多久发货？",
            "发货能推迟吗",
            "How much is the renewal next year?",
            "When do I need to pay next month's invoice?",
            "Why is my delivery delayed?",
            "My delivery is delayed again, it's been a week",
            "I paid last week.",
            "再说一遍价格",
            "Can I order now and get it delivered later?",
            "不着急，慢慢查",
        ] {
            assert_ne!(read(text), Some(Cue::Deferral), "{text}");
        }
    }

    #[test]
    fn payment_questions() {
        for text in [
            "可以用支付宝付款吗？",
            "发票怎么开？",
            "对公转账需要提供哪些信息？",
            "How do I pay for the annual plan?",
            "Do you accept credit cards for payment?",
            "Can you send an invoice?",
        ] {
            assert_eq!(read(text), Some(Cue::PaymentQuestion), "{text}");
        }
        // Not asked, or not about paying.
        assert_eq!(read("我已经付款了"), None);
        assert_eq!(read("企业版有什么功能？"), None);
    }

    #[test]
    fn satisfaction_feedback() {
        for text in [
            "整体还算满意，就是说明书有点难懂",
            "有点失望，颜色和图片不一样",
            "We're quite happy with the installation.",
            "Honestly a bit disappointed with the delivery time",
        ] {
            assert_eq!(read(text), Some(Cue::Feedback), "{text}");
        }
        assert_eq!(read("你们这服务太垃圾了，非常不满意"), None, "anger is not feedback");
        assert_eq!(read("不满意，我要找人工"), None, "a request for a person is not feedback");
        assert_eq!(read("满意度调查是什么？"), None, "a question is not feedback");
    }

    #[test]
    fn anger_words() {
        assert!(sounds_angry("This is ridiculous"));
        assert!(sounds_angry("什么破服务，垃圾"));
        assert!(sounds_angry("快点!!"));
        assert!(!sounds_angry("I'm Ann, my budget is 3000 CNY"));
        assert!(!sounds_angry("我叫赵磊，电话13700001234"));
    }
}
