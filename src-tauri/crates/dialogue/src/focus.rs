//! Reference carry-over: which product or plan the conversation is about, and what the customer
//! asks about it.
//!
//! The focus carries across turns: a follow-up ("那这个的年费是多少", "how much is that one per
//! year") resolves against it, a new mention replaces it, and a correction ("不是这个，是企业版",
//! "no, I meant the enterprise plan") replaces it and is counted as one. The catalog comes in as a
//! value ([`Catalog`]); the matching (names, aliases, plan names, attribute words, in Chinese and
//! English) is rules over the message text, with no model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, Millis};

/// The products the customer may talk about, as the caller sees them (built from the store's
/// catalog), and the words that name their attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub products: Vec<CatalogProduct>,
    /// Attribute words, most specific first: when a message names several, the first listed wins
    /// ("年费多少钱" asks for `price_year`, not `price`). [`AttributeTerm::defaults`] is a start.
    #[serde(default)]
    pub terms: Vec<AttributeTerm>,
}

/// One product, with its plans (editions, tiers) if it has any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogProduct {
    /// Stable id (the SKU).
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    /// Other names, in either language ("CRM", "客服系统", "cloud server").
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub plans: Vec<Plan>,
    /// Facts about the product by attribute key (`price_year` → `48000 CNY`, `concurrency` →
    /// `2000`); a plan's own attributes override them.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A plan (edition, tier) of a product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Stable id, unique within its product.
    pub id: String,
    /// The plan's name: `企业版`, `Enterprise`. A bare English plan name is a common word ("our
    /// team"), so it only counts when capitalised, followed by plan/edition/version/tier, or in a
    /// correction; aliases always count.
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// The words that name an attribute in a question ("年费", "per year" → `price_year`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeTerm {
    pub key: String,
    pub aliases: Vec<String>,
}

impl AttributeTerm {
    /// Common sales attribute words in Chinese and English, most specific first. Keys starting
    /// with `price` are prices ([`is_price_attribute`]).
    pub fn defaults() -> Vec<AttributeTerm> {
        let term = |key: &str, aliases: &[&str]| AttributeTerm {
            key: key.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        };
        vec![
            term(
                "price_year",
                &[
                    "年费",
                    "年付",
                    "一年多少钱",
                    "一年多少",
                    "每年",
                    "一年",
                    "包年",
                    "per year",
                    "a year",
                    "annual",
                    "annually",
                    "yearly",
                ],
            ),
            term(
                "price_month",
                &["月费", "月付", "每月", "一个月", "包月", "per month", "a month", "monthly"],
            ),
            term("discount", &["优惠", "折扣", "打折", "便宜", "discount", "deal", "cheaper"]),
            term(
                "price",
                &[
                    "多少钱",
                    "价格",
                    "价钱",
                    "报价",
                    "费用",
                    "售价",
                    "怎么卖",
                    "什么价",
                    "price",
                    "cost",
                    "how much",
                ],
            ),
            term("seats", &["席位", "坐席", "账号", "seats", "seat", "users", "licenses"]),
            term("concurrency", &["并发", "concurrent", "concurrency"]),
            term("warranty", &["保修", "质保", "warranty", "guarantee"]),
            term("installation", &["安装", "install", "installation", "setup"]),
            term("delivery", &["送货", "发货", "配送", "多久到", "delivery", "shipping"]),
            term("trial", &["试用", "trial", "demo"]),
        ]
    }
}

/// Whether an attribute key is a price (`price`, `price_year`, `price_month`, …).
pub fn is_price_attribute(key: &str) -> bool {
    key == "price" || key.starts_with("price_")
}

/// The product or plan the conversation is about, with its attributes copied from the catalog
/// (so replaying the events needs no catalog and is unaffected by later catalog edits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Focus {
    /// The product's id.
    pub product: String,
    /// The plan's id, when one is meant.
    #[serde(default)]
    pub plan: Option<String>,
    /// Display name in the customer's language ("CRM 云服务 企业版").
    pub name: String,
    /// The product's attributes with the plan's on top.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The attribute the customer last asked about (`price_year`).
    #[serde(default)]
    pub asked: Option<String>,
}

/// How the focus came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusChange {
    /// The customer named a product or plan.
    Mentioned,
    /// The customer asked about the product in focus without naming it.
    FollowUp,
    /// The customer said the focus was wrong and named the right one.
    Corrected,
}

stable_names!(FocusChange {
    Mentioned => "mentioned",
    FollowUp => "follow_up",
    Corrected => "corrected",
});

/// What a message says about the focus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The focus after the message (the current one when the message says nothing about it).
    pub focus: Option<Focus>,
    /// How the message changed it; `None` when it did not refer to a product at all.
    pub change: Option<FocusChange>,
    /// The attribute the message asks about, if any.
    pub attribute: Option<String>,
}

impl Resolution {
    /// The event to record, if the message changed the focus or asked about it (asking the same
    /// thing again is a new question too).
    pub fn event(&self, current: Option<&Focus>, at: Millis) -> Option<Event> {
        match (&self.focus, self.change) {
            (Some(focus), Some(change)) if Some(focus) != current || self.attribute.is_some() => {
                Some(Event::FocusSet { focus: focus.clone(), change, at })
            }
            _ => None,
        }
    }
}

/// Resolves a customer message against the catalog and the current focus.
pub fn resolve(catalog: &Catalog, current: Option<&Focus>, text: &str) -> Resolution {
    let text = Normalized::new(text);
    let correcting = text.has_any(CORRECTION_CUES);
    let mentions = find_mentions(catalog, &text, correcting);
    let positive: Vec<&Mention> = mentions.iter().filter(|m| !m.negated).collect();
    let attribute = find_attribute(&catalog.terms, &text);
    let chinese = text.original.iter().any(|c| is_cjk(*c));

    // Several products named at once ("云服务器，还要异地备份，最好能对接ERP"): the first is the main
    // need and the rest go with it. In a correction, the last named is the right one.
    let named_products: Vec<usize> = positive
        .iter()
        .filter_map(|m| match &m.target {
            Target::Product(p) => Some(*p),
            Target::Plan(candidates) => match candidates.as_slice() {
                [(p, _)] => Some(*p),
                _ => None,
            },
        })
        .collect();
    let several = named_products.iter().any(|p| Some(p) != named_products.first());
    let correction_cued = correcting || mentions.iter().any(|m| m.negated);
    let main = if several && !correction_cued { positive.first() } else { positive.last() };
    let Some(last) = main else {
        // No product named: a follow-up if it points back or asks about an attribute.
        let Some(current) = current else {
            return Resolution { focus: None, change: None, attribute };
        };
        // "不是这个" without naming the right one: nothing to resolve against.
        let negated_anaphora = correcting && attribute.is_none();
        if negated_anaphora || (attribute.is_none() && !text.has_any(ANAPHORA_CUES)) {
            return Resolution { focus: Some(current.clone()), change: None, attribute: None };
        }
        let mut focus = current.clone();
        if attribute.is_some() {
            focus.asked = attribute.clone();
        }
        return Resolution { focus: Some(focus), change: Some(FocusChange::FollowUp), attribute };
    };

    let mentioned_products: Vec<usize> = positive
        .iter()
        .filter_map(|m| match m.target {
            Target::Product(p) => Some(p),
            Target::Plan(_) => None,
        })
        .collect();
    let current_product =
        current.and_then(|f| catalog.products.iter().position(|p| p.id == f.product));
    let (product, plan) = match &last.target {
        Target::Product(p) => {
            // A plan named alongside the product (企业版的CRM), else the plan in focus if the same
            // product is named again.
            let plan = positive.iter().rev().find_map(|m| match &m.target {
                Target::Plan(candidates) => {
                    candidates.iter().find(|(cp, _)| cp == p).map(|(_, k)| *k)
                }
                Target::Product(_) => None,
            });
            let plan = plan.or_else(|| {
                let f = current?;
                if current_product != Some(*p) {
                    return None;
                }
                catalog.products[*p].plans.iter().position(|k| Some(&k.id) == f.plan.as_ref())
            });
            (*p, plan)
        }
        Target::Plan(candidates) => {
            let pick = candidates
                .iter()
                .rev()
                .find(|(p, _)| mentioned_products.contains(p))
                .or_else(|| candidates.iter().find(|(p, _)| Some(*p) == current_product))
                .or(candidates.first());
            match pick {
                Some((p, k)) => (*p, Some(*k)),
                None => return Resolution { focus: current.cloned(), change: None, attribute },
            }
        }
    };

    let p = &catalog.products[product];
    let k = plan.and_then(|k| p.plans.get(k));
    let mut attributes = p.attributes.clone();
    if let Some(k) = k {
        attributes.extend(k.attributes.iter().map(|(a, v)| (a.clone(), v.clone())));
    }
    let name = match (chinese, k) {
        (true, Some(k)) => join_name(&p.name_zh, &k.name_zh),
        (false, Some(k)) => join_name(&p.name_en, &k.name_en),
        (true, None) => p.name_zh.clone(),
        (false, None) => p.name_en.clone(),
    };
    let same = current.is_some_and(|f| f.product == p.id && f.plan == k.map(|k| k.id.clone()));
    let corrected = current.is_some() && !same && correction_cued;
    // "那团队版呢" / "what about the team plan": the question carries over to the new focus, and
    // so it does when the customer corrects which product they asked about.
    let asked = attribute.clone().or_else(|| {
        if corrected || text.has_any(ELLIPSIS_CUES) {
            current.and_then(|f| f.asked.clone())
        } else {
            None
        }
    });
    let focus = Focus {
        product: p.id.clone(),
        plan: k.map(|k| k.id.clone()),
        name,
        attributes,
        asked: asked.clone(),
    };
    let change = if corrected { FocusChange::Corrected } else { FocusChange::Mentioned };
    Resolution { focus: Some(focus), change: Some(change), attribute: asked }
}

/// The products a message names (by product or plan name, not negated), each once, in the order
/// named: "性价比高的云服务器，还要支持异地备份，最好能对接ERP" names three.
pub fn mentioned_products(catalog: &Catalog, text: &str) -> Vec<String> {
    let text = Normalized::new(text);
    let correcting = text.has_any(CORRECTION_CUES);
    let mut ids: Vec<String> = Vec::new();
    for m in find_mentions(catalog, &text, correcting).iter().filter(|m| !m.negated) {
        let product = match &m.target {
            Target::Product(p) => Some(*p),
            // A plan name shared by several products names none of them for sure.
            Target::Plan(candidates) => match candidates.as_slice() {
                [(p, _)] => Some(*p),
                _ => None,
            },
        };
        if let Some(p) = product.and_then(|p| catalog.products.get(p))
            && !ids.contains(&p.id)
        {
            ids.push(p.id.clone());
        }
    }
    ids
}

/// Whether a message asks something: a question mark, 吗 or 呢, a question word (多少, 怎么,
/// an English clause that starts with one: "how much is it", "is installation free"), or a
/// request to be told ("介绍一下", "tell me about the S2 server").
pub fn asks(text: &str) -> bool {
    let text = Normalized::new(text);
    if text.chars.iter().any(|c| matches!(c, '?' | '吗' | '呢'))
        || text.has_any(&["多少", "怎么", "哪些", "哪个", "哪款", "是否"])
        || text.has_any(REQUEST_CUES)
    {
        return true;
    }
    text.chars
        .split(|c| is_boundary(*c))
        .filter_map(|clause| {
            let word: String = clause
                .iter()
                .skip_while(|c| !c.is_ascii_alphabetic())
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            (!word.is_empty()).then_some(word)
        })
        .any(|word| QUESTION_WORDS.contains(&word.as_str()))
}

/// Words that ask to be told about something.
const REQUEST_CUES: &[&str] = &[
    "介绍",
    "说说",
    "讲讲",
    "推荐",
    "想了解",
    "想问",
    "请问",
    "tell me",
    "show me",
    "explain",
    "recommend",
    "details",
    "more about",
    "i'd like to know",
    "i want to know",
];

/// English words that open a question.
const QUESTION_WORDS: &[&str] = &[
    "how", "what", "which", "when", "where", "who", "why", "can", "could", "do", "does", "is",
    "are", "will", "would", "should", "may",
];

fn join_name(product: &str, plan: &str) -> String {
    if plan.is_empty() || product.contains(plan) {
        product.to_owned()
    } else if product.is_empty() {
        plan.to_owned()
    } else {
        format!("{product} {plan}")
    }
}

/// Words that say the customer is correcting what was understood.
const CORRECTION_CUES: &[&str] = &[
    "不是",
    "我是说",
    "我说的是",
    "我指的是",
    "搞错",
    "弄错",
    "说错",
    "换成",
    "改成",
    "应该是",
    "而是",
    "no",
    "not",
    "i meant",
    "i mean",
    "actually",
    "rather",
    "instead",
    "wrong",
];

/// Words that point back at the product in focus.
const ANAPHORA_CUES: &[&str] = &[
    "这个", "那个", "这款", "那款", "这种", "那种", "这套", "那套", "这版", "它", "this one",
    "that one", "this", "that", "it", "the same",
];

/// Words that make a short question inherit the previous one ("那团队版呢", "what about …").
const ELLIPSIS_CUES: &[&str] = &["呢", "what about", "how about", "and the", "and for"];

/// Words that negate the mention right after them.
const NEGATIONS: &[&str] = &["不是", "不要", "不用", "别", "not", "no", "n't", "instead of"];

/// Words that start a new clause for negation scope ("not X but Y", "不是X而是Y").
const CLAUSE_WORDS: &[&str] = &["but", "rather", "而是", "但是", "是"];

/// Words after an English plan name that make it a plan ("team plan", "enterprise edition").
const PLAN_WORDS: &[&str] = &["plan", "edition", "version", "tier", "package", "license"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Product(usize),
    /// A plan name can belong to several products: (product, plan) pairs in catalog order.
    Plan(Vec<(usize, usize)>),
}

/// A plan name to look for, with the (product, plan) pairs it names.
#[derive(Debug)]
struct PlanName {
    needle: Vec<char>,
    /// A bare English plan name: needs context to count (see [`Plan::name_en`]).
    bare_english: bool,
    targets: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct Mention {
    start: usize,
    end: usize,
    target: Target,
    negated: bool,
}

/// The message folded for matching: lower case, full-width ASCII made half-width, spaces next to
/// Chinese dropped ("CRM 云服务" matches "CRM云服务"). `original` keeps the case, char for char.
#[derive(Debug)]
struct Normalized {
    chars: Vec<char>,
    original: Vec<char>,
}

impl Normalized {
    fn new(text: &str) -> Self {
        let raw: Vec<char> = text.chars().map(half_width).collect();
        let mut chars = Vec::with_capacity(raw.len());
        let mut original = Vec::with_capacity(raw.len());
        for (i, &c) in raw.iter().enumerate() {
            if c.is_whitespace() {
                let prev = raw[..i].iter().rev().find(|c| !c.is_whitespace());
                let next = raw[i + 1..].iter().find(|c| !c.is_whitespace());
                if prev.is_none_or(|c| !c.is_ascii()) || next.is_none_or(|c| !c.is_ascii()) {
                    continue;
                }
                if chars.last() == Some(&' ') {
                    continue;
                }
                chars.push(' ');
                original.push(' ');
                continue;
            }
            let mut lower = c.to_lowercase();
            let folded = match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            };
            chars.push(folded);
            original.push(c);
        }
        // "是不是" asks a yes/no question; its 不是 neither negates nor corrects.
        for i in 0..chars.len().saturating_sub(2) {
            if chars[i..i + 3] == ['是', '不', '是'] {
                chars[i + 1] = '否';
            }
        }
        Normalized { chars, original }
    }

    fn fold(s: &str) -> Vec<char> {
        Normalized::new(s).chars
    }

    /// Start positions of `needle` as a whole word (ASCII letters and digits may not continue it).
    fn find_all(&self, needle: &[char]) -> Vec<usize> {
        find_word(&self.chars, needle)
    }

    fn has_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| !self.find_all(&Normalized::fold(w)).is_empty())
    }
}

fn find_word(hay: &[char], needle: &[char]) -> Vec<usize> {
    let (Some(first), Some(last)) = (needle.first(), needle.last()) else {
        return Vec::new();
    };
    if needle.len() > hay.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| hay[i..i + needle.len()] == *needle)
        .filter(|&i| {
            let before_ok =
                !first.is_ascii_alphanumeric() || i == 0 || !hay[i - 1].is_ascii_alphanumeric();
            let after = i + needle.len();
            let after_ok = !last.is_ascii_alphanumeric()
                || after == hay.len()
                || !hay[after].is_ascii_alphanumeric();
            before_ok && after_ok
        })
        .collect()
}

fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '，' | ',' | '。' | '.' | '!' | '！' | '?' | '？' | '；' | ';' | '：' | ':' | '\n' | '、'
    )
}

fn find_mentions(catalog: &Catalog, text: &Normalized, correcting: bool) -> Vec<Mention> {
    let mut found: Vec<Mention> = Vec::new();
    let mut add = |start: usize, len: usize, target: Target| {
        found.push(Mention { start, end: start + len, target, negated: false });
    };
    for (pi, p) in catalog.products.iter().enumerate() {
        for name in [&p.name_zh, &p.name_en].into_iter().chain(&p.aliases) {
            let needle = Normalized::fold(name);
            for start in text.find_all(&needle) {
                add(start, needle.len(), Target::Product(pi));
            }
        }
    }
    // Plan names: the same name in several products makes one mention with several candidates.
    let mut plan_names: Vec<PlanName> = Vec::new();
    for (pi, p) in catalog.products.iter().enumerate() {
        for (ki, k) in p.plans.iter().enumerate() {
            let names = [(&k.name_zh, false), (&k.name_en, true)]
                .into_iter()
                .chain(k.aliases.iter().map(|a| (a, false)));
            for (name, bare_english) in names {
                let needle = Normalized::fold(name);
                if needle.is_empty() {
                    continue;
                }
                let bare_english = bare_english && needle.iter().all(char::is_ascii);
                match plan_names
                    .iter_mut()
                    .find(|n| n.needle == needle && n.bare_english == bare_english)
                {
                    Some(n) => {
                        if !n.targets.contains(&(pi, ki)) {
                            n.targets.push((pi, ki));
                        }
                    }
                    None => {
                        plan_names.push(PlanName { needle, bare_english, targets: vec![(pi, ki)] })
                    }
                }
            }
        }
    }
    for name in &plan_names {
        for start in text.find_all(&name.needle) {
            if name.bare_english
                && !correcting
                && !plan_word_context(text, start, name.needle.len())
            {
                continue;
            }
            add(start, name.needle.len(), Target::Plan(name.targets.clone()));
        }
    }
    // Longest first; a shorter mention inside a longer one is dropped.
    found.sort_by(|a, b| (b.end - b.start).cmp(&(a.end - a.start)).then(a.start.cmp(&b.start)));
    let mut kept: Vec<Mention> = Vec::new();
    for m in found {
        if kept.iter().all(|k| m.end <= k.start || m.start >= k.end) {
            kept.push(m);
        }
    }
    kept.sort_by_key(|m| m.start);
    let mut previous_end = 0;
    for m in &mut kept {
        m.negated = negated(&text.chars[previous_end..m.start]);
        previous_end = m.end;
    }
    kept
}

/// A bare English plan name counts when capitalised ("Enterprise") or followed by a plan word.
fn plan_word_context(text: &Normalized, start: usize, len: usize) -> bool {
    if text.original[start].is_uppercase() {
        return true;
    }
    let rest: String = text.chars[start + len..].iter().collect();
    let next_word = rest.split(|c: char| !c.is_ascii_alphanumeric()).find(|w| !w.is_empty());
    next_word.is_some_and(|w| PLAN_WORDS.contains(&w))
}

/// Whether the text between the previous mention (or clause start) and a mention negates it.
fn negated(window: &[char]) -> bool {
    let clause_start = window.iter().rposition(|c| is_boundary(*c)).map_or(0, |i| i + 1);
    let mut window = &window[clause_start..];
    for word in CLAUSE_WORDS {
        let needle: Vec<char> = word.chars().collect();
        if let Some(&at) = find_word(window, &needle).last() {
            // "不是" contains "是": only a 是 that is not part of a negation starts a clause.
            let part_of_negation = at > 0 && matches!(window[at - 1], '不' | '就');
            if !part_of_negation {
                window = &window[at + needle.len()..];
            }
        }
    }
    NEGATIONS.iter().any(|n| {
        let needle: Vec<char> = n.chars().collect();
        // "n't" is a suffix: search it without word boundaries.
        if *n == "n't" {
            window.windows(needle.len()).any(|w| w == needle.as_slice())
        } else {
            !find_word(window, &needle).is_empty()
        }
    })
}

fn find_attribute(terms: &[AttributeTerm], text: &Normalized) -> Option<String> {
    terms
        .iter()
        .find(|t| t.aliases.iter().any(|a| !text.find_all(&Normalized::fold(a)).is_empty()))
        .map(|t| t.key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    pub(crate) fn catalog() -> Catalog {
        let plan = |id: &str, zh: &str, en: &str, aliases: &[&str], a: &[(&str, &str)]| Plan {
            id: id.into(),
            name_zh: zh.into(),
            name_en: en.into(),
            aliases: aliases.iter().map(|s| (*s).to_owned()).collect(),
            attributes: attrs(a),
        };
        Catalog {
            products: vec![
                CatalogProduct {
                    id: "SAAS".into(),
                    name_zh: "CRM 云服务".into(),
                    name_en: "CRM SaaS".into(),
                    aliases: vec!["CRM".into(), "客服系统".into()],
                    plans: vec![
                        plan(
                            "starter",
                            "入门版",
                            "Starter",
                            &["基础版"],
                            &[("price_year", "1999 CNY")],
                        ),
                        plan("team", "团队版", "Team", &[], &[("price_year", "12800 CNY")]),
                        plan(
                            "ent",
                            "企业版",
                            "Enterprise",
                            &["旗舰版"],
                            &[("price_year", "48000 CNY")],
                        ),
                    ],
                    attributes: attrs(&[("unit", "year")]),
                },
                CatalogProduct {
                    id: "CVM".into(),
                    name_zh: "云服务器".into(),
                    name_en: "Cloud Server".into(),
                    aliases: vec!["服务器".into(), "server".into(), "VPS".into()],
                    plans: vec![
                        plan("s2", "S2", "S2", &["2核4G"], &[("price_month", "99 CNY")]),
                        plan("s4", "S4", "S4", &["4核8G"], &[("price_month", "239 CNY")]),
                    ],
                    attributes: attrs(&[("unit", "month")]),
                },
                CatalogProduct {
                    id: "FRIDGE".into(),
                    name_zh: "风冷无霜冰箱".into(),
                    name_en: "Frost-free Refrigerator".into(),
                    aliases: vec!["冰箱".into(), "fridge".into(), "refrigerator".into()],
                    plans: vec![],
                    attributes: attrs(&[("price", "5299 CNY"), ("warranty", "3 years")]),
                },
            ],
            terms: AttributeTerm::defaults(),
        }
    }

    fn step(focus: Option<&Focus>, text: &str) -> Resolution {
        resolve(&catalog(), focus, text)
    }

    #[test]
    fn a_plan_mention_sets_the_focus_with_its_attributes() {
        let r = step(None, "CRM团队版一年多少钱？");
        let f = r.focus.expect("focus");
        assert_eq!((f.product.as_str(), f.plan.as_deref()), ("SAAS", Some("team")));
        assert_eq!(f.name, "CRM 云服务 团队版");
        assert_eq!(f.attributes["price_year"], "12800 CNY");
        assert_eq!(f.attributes["unit"], "year");
        assert_eq!(f.asked.as_deref(), Some("price_year"));
        assert_eq!(r.change, Some(FocusChange::Mentioned));
    }

    #[test]
    fn a_chinese_follow_up_resolves_against_the_focus() {
        let first = step(None, "你们的企业版支持多少并发？").focus;
        assert_eq!(first.as_ref().and_then(|f| f.asked.as_deref()), Some("concurrency"));
        let r = step(first.as_ref(), "那这个的年费是多少");
        assert_eq!(r.change, Some(FocusChange::FollowUp));
        assert_eq!(r.attribute.as_deref(), Some("price_year"));
        let f = r.focus.expect("focus");
        assert_eq!(f.plan.as_deref(), Some("ent"));
        assert_eq!(f.attributes["price_year"], "48000 CNY");
    }

    #[test]
    fn an_english_follow_up_resolves_against_the_focus() {
        let first = step(None, "Tell me about the Team plan").focus;
        assert_eq!(first.as_ref().map(|f| f.name.as_str()), Some("CRM SaaS Team"));
        let r = step(first.as_ref(), "how much is that one per year");
        assert_eq!(r.change, Some(FocusChange::FollowUp));
        assert_eq!(r.attribute.as_deref(), Some("price_year"));
        assert_eq!(r.focus.and_then(|f| f.plan), Some("team".into()));
    }

    #[test]
    fn a_chinese_correction_replaces_the_focus() {
        let first = step(None, "团队版多少钱").focus;
        let r = step(first.as_ref(), "不是这个，是企业版");
        assert_eq!(r.change, Some(FocusChange::Corrected));
        let f = r.focus.expect("focus");
        assert_eq!((f.product.as_str(), f.plan.as_deref()), ("SAAS", Some("ent")));
        assert_eq!(f.attributes["price_year"], "48000 CNY");
        let r = step(first.as_ref(), "我说的不是团队版，而是旗舰版");
        assert_eq!(r.focus.and_then(|f| f.plan), Some("ent".into()));
        assert_eq!(r.change, Some(FocusChange::Corrected));
    }

    #[test]
    fn an_english_correction_replaces_the_focus() {
        let first = step(None, "How much is the team plan?").focus;
        assert_eq!(first.as_ref().and_then(|f| f.plan.as_deref()), Some("team"));
        let r = step(first.as_ref(), "no, I meant the enterprise plan");
        assert_eq!(r.change, Some(FocusChange::Corrected));
        assert_eq!(r.focus.and_then(|f| f.plan), Some("ent".into()));
        let r = step(first.as_ref(), "not the team plan but the enterprise one");
        assert_eq!(r.change, Some(FocusChange::Corrected));
        assert_eq!(r.focus.and_then(|f| f.plan), Some("ent".into()));
    }

    #[test]
    fn a_correction_keeps_the_question() {
        let first = step(None, "团队版一年多少钱").focus;
        let r = step(first.as_ref(), "不是这个，是企业版");
        assert_eq!(r.change, Some(FocusChange::Corrected));
        assert_eq!(r.attribute.as_deref(), Some("price_year"));
        assert_eq!(r.focus.and_then(|f| f.asked).as_deref(), Some("price_year"));
        let first = step(None, "How much is the S2 per month?").focus;
        let r = step(first.as_ref(), "Sorry, not the S2 but the S4");
        let f = r.focus.expect("s4");
        assert_eq!((f.plan.as_deref(), f.asked.as_deref()), (Some("s4"), Some("price_month")));
        // A new mention without a question cue asks nothing yet.
        let r = step(first.as_ref(), "Tell me about the 4核8G one");
        assert_eq!((r.change, r.attribute), (Some(FocusChange::Mentioned), None));
    }

    #[test]
    fn the_first_of_several_products_named_is_the_focus_and_all_are_mentioned() {
        let text = "想要性价比高的服务器，还要冰箱，最好能对接CRM";
        let r = step(None, text);
        assert_eq!(r.focus.map(|f| f.product).as_deref(), Some("CVM"));
        assert_eq!(mentioned_products(&catalog(), text), ["CVM", "FRIDGE", "SAAS"]);
        // In a correction the last named is the right one.
        let first = step(None, "冰箱多少钱").focus;
        let r = step(first.as_ref(), "不是冰箱，是服务器");
        assert_eq!(r.focus.map(|f| f.product).as_deref(), Some("CVM"));
        assert_eq!(mentioned_products(&catalog(), "不是冰箱，是服务器"), ["CVM"]);
        // A plan named with its product is one product.
        assert_eq!(mentioned_products(&catalog(), "CRM 企业版"), ["SAAS"]);
    }

    #[test]
    fn a_yes_no_question_is_not_a_correction() {
        let first = step(None, "团队版多少钱").focus;
        let r = step(first.as_ref(), "是不是企业版更划算？");
        assert_eq!(r.change, Some(FocusChange::Mentioned));
        assert_eq!(r.focus.and_then(|f| f.plan), Some("ent".into()));
    }

    #[test]
    fn a_bare_english_plan_word_is_not_a_mention() {
        let r = step(None, "our team has 40 people");
        assert_eq!(r.focus, None);
        assert_eq!(r.change, None);
    }

    #[test]
    fn the_question_carries_over_to_a_new_mention() {
        let first = step(None, "企业版年费多少").focus;
        let r = step(first.as_ref(), "那团队版呢？");
        assert_eq!(r.change, Some(FocusChange::Mentioned));
        let f = r.focus.expect("focus");
        assert_eq!(f.plan.as_deref(), Some("team"));
        assert_eq!(f.asked.as_deref(), Some("price_year"));
    }

    #[test]
    fn naming_the_product_again_keeps_the_plan() {
        let first = step(None, "CRM企业版").focus;
        let r = step(first.as_ref(), "CRM 支持单点登录吗");
        assert_eq!(r.focus.and_then(|f| f.plan), Some("ent".into()));
    }

    #[test]
    fn product_aliases_and_full_width_text_match() {
        let r = step(None, "ＶＰＳ 4核8G 怎么卖");
        let f = r.focus.expect("focus");
        assert_eq!((f.product.as_str(), f.plan.as_deref()), ("CVM", Some("s4")));
        assert_eq!(f.asked.as_deref(), Some("price"));
        let r = step(None, "Is the fridge under warranty?");
        let f = r.focus.expect("focus");
        assert_eq!(f.product, "FRIDGE");
        assert_eq!(f.asked.as_deref(), Some("warranty"));
        assert_eq!(f.attributes["warranty"], "3 years");
    }

    #[test]
    fn unrelated_text_keeps_the_focus_without_an_event() {
        let first = step(None, "冰箱多少钱").focus;
        let r = step(first.as_ref(), "好的谢谢");
        assert_eq!(r.change, None);
        assert_eq!(r.focus, first);
        assert_eq!(r.event(first.as_ref(), 5), None);
        assert_eq!(step(None, "你好").event(None, 5), None);
        let r = step(first.as_ref(), "不是这个");
        assert_eq!((r.change, r.focus.as_ref()), (None, first.as_ref()), "which one, then?");
        let r = step(first.as_ref(), "这个呢");
        assert_eq!(r.change, Some(FocusChange::FollowUp));
        assert_eq!(r.event(first.as_ref(), 5), None, "pointing back without a question");
        let r = step(first.as_ref(), "它多少钱");
        assert!(r.event(first.as_ref(), 5).is_some(), "the same question again is recorded");
    }

    proptest::proptest! {
        /// Any text (full-width, combining marks, emoji, lone letters) resolves without a panic,
        /// and a resolution that names no product keeps the current focus.
        #[test]
        fn any_text_resolves(text in proptest::prelude::any::<String>(), with_focus: bool) {
            let current = with_focus.then(|| step(None, "企业版").focus).flatten();
            let r = step(current.as_ref(), &text);
            if r.change.is_none() {
                proptest::prop_assert_eq!(r.focus, current);
            }
        }
    }

    #[test]
    fn resolution_event_sets_the_new_focus() {
        let r = step(None, "团队版多少钱");
        let Some(Event::FocusSet { focus, change, at }) = r.event(None, 7) else {
            panic!("expected a focus event");
        };
        assert_eq!((focus.plan.as_deref(), change, at), (Some("team"), FocusChange::Mentioned, 7));
    }
}
