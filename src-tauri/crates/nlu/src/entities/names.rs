//! Companies and people, found only through cues: a company suffix (有限公司, 集团, Inc, GmbH),
//! "我们是XX的", "work at X", "this is Sarah from X"; a name after 我叫 / 我是 / my name is, a
//! surname with a title (王先生, 张总). Precision over recall: a missed name is better than a
//! wrong one, so surnames come from a list and given names stop at function words.

use std::sync::LazyLock;

use closer_dialogue::EntityKind;
use regex::Regex;

use super::fold::{Folded, is_clause_break, is_han};
use super::{Candidate, Found};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

/// Common surnames that are rarely anything else after 我是 (most frequent first).
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖董袁潘蒋蔡杜叶程苏魏吕丁沈姚卢姜崔钟谭陆汪范廖贾夏韦邹孟熊秦邱薛闫段雷侯史陶黎贺顾毛郝龚邵钱严覃戴莫孔汤施樊葛邢乔伍庞颜倪聂鲁岳翟殷詹耿焦俞柳祝舒阮柯纪梅凌裴霍涂苗盛翁冉骆靳蒙鲍喻祁蒲滕饶娄窦戚岑晏臧闵邬卞姬栾隋刁甄鞠荆郁蔺阚屠谌奚粟冼禹祖";
/// Surnames that are also everyday characters: accepted after 我叫 / 姓 or with a title only.
const WEAK_SURNAMES: &str = "高田于任石金方白江龙万武常温康文牛安齐易章尚符毕季成谷曲蓝路游辛管柴华房屈艾尤阳时穆司卓古吉简车项连麦景党宫费冷卫米宗桂全应边师和仇商沙荣巫寇桑郎池官封谈匡惠乐冀胥南班储原燕楚劳皮满闻厉伊区海花权强帅豆盖练廉井丰支卿国平计索宣晋相初门云容敬来都普鹿薄羊宁申付左关包甘向欧单兰";
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "慕容", "令狐", "皇甫", "尉迟", "公孙", "长孙", "宇文",
    "司徒", "夏侯", "端木", "南宫", "独孤", "西门",
];
/// Characters that end a given name (function words, verbs that follow a name).
const NOT_IN_NAME: &str = "的是在了吗呢啊吧呀哦嘛哈么我你您他她它们这那个想要来去说问找做买卖用有没不和跟与及或就也都还很太先女士总经理老师公司，。、手电微邮号码姓名叫今后昨下上本周星期天年月日点刚正已从自对给让把被请谢好啦哇呗咯喔哟嘿";
/// Words that may follow a name and start with a character that could be a given name.
const AFTER_NAME: &[&str] = &[
    "明天", "今天", "后天", "昨天", "明早", "明晚", "今晚", "现在", "目前", "这边", "这里", "那边",
    "来自", "想要", "需要", "负责", "主要", "公司", "电话", "手机", "微信", "邮箱", "打算", "准备",
    "刚才", "刚刚", "已经", "一直", "大概", "希望", "联系",
];
const TITLES: &str = "先生|女士|小姐|姐|哥|工|总监|总经理|总|经理|老师|主任|老板|律师|医生|教授|博士|董事长|院长|校长|部长|处长|科长|会计|主管|秘书|助理|工程师|顾问|专员|组长|店长|厂长|局长|师傅|阿姨";
/// Capitalised words that follow "I'm" / "this is" and are not names.
const NOT_NAMES: &[&str] = &[
    "interested",
    "looking",
    "here",
    "from",
    "with",
    "not",
    "sure",
    "just",
    "also",
    "the",
    "a",
    "an",
    "in",
    "on",
    "at",
    "good",
    "fine",
    "ok",
    "okay",
    "happy",
    "glad",
    "sorry",
    "ready",
    "calling",
    "writing",
    "reaching",
    "trying",
    "still",
    "very",
    "so",
    "really",
    "currently",
    "thinking",
    "wondering",
    "hoping",
    "planning",
    "going",
    "considering",
    "comparing",
    "evaluating",
    "based",
    "located",
    "working",
    "responsible",
    "part",
    "head",
    "manager",
    "director",
    "ceo",
    "cto",
    "cfo",
    "coo",
    "founder",
    "owner",
    "chinese",
    "english",
    "american",
    "new",
    "sales",
    "customer",
    "your",
    "our",
    "my",
    "this",
    "that",
    "it",
    "what",
    "who",
    "how",
    "why",
    "when",
    "where",
    "which",
    "great",
    "excited",
    "busy",
    "available",
    "free",
    "back",
    "done",
    "after",
    "about",
    "asking",
    "curious",
    "concerned",
    "worried",
    "afraid",
    "buying",
    "using",
    "after",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "please",
    "yes",
    "no",
    "mr",
    "ms",
    "mrs",
    "dr",
    "miss",
    "sir",
    "madam",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "interested",
    "fine",
    "well",
    "pleased",
    "familiar",
    "new",
    "retired",
    "only",
    "one",
    "two",
    "there",
    "coming",
    "contacting",
    "following",
    "inquiring",
    "emailing",
    "messaging",
    "texting",
    "purchasing",
    "procurement",
    "it",
    "hr",
    "ops",
    "engineering",
    "marketing",
    "finance",
    "operations",
    "leading",
    "running",
    "representing",
    "overseeing",
    "speaking",
    "reading",
    "the",
    "and",
    "or",
    "but",
    "if",
    "because",
    "we",
    "they",
    "he",
    "she",
    "best",
    "kind",
    "regards",
    "dear",
    "morning",
    "afternoon",
    "evening",
    "please",
    "quick",
    "merry",
    "meet",
    "let",
    "lets",
    "can",
    "could",
    "would",
    "should",
    "will",
    "do",
    "does",
    "is",
    "are",
    "any",
    "some",
    "all",
    "sounds",
    "looks",
    "perfect",
    "cool",
    "nice",
    "awesome",
    "got",
    "need",
    "want",
    "send",
    "call",
    "email",
    "text",
    "ship",
    "deliver",
    "order",
    "price",
    "budget",
    "demo",
    "invoice",
    "contact",
    "attn",
    "note",
    "re",
    "fw",
    "fwd",
    "subject",
    "team",
    "support",
    "office",
    "greetings",
    "sent",
    "from",
    "regarding",
    "following",
    "welcome",
    "congratulations",
    "anytime",
    "asap",
    "now",
    "when",
    "maybe",
    "directly",
    "first",
    "again",
    "back",
    "tomorrow",
    "today",
    "bye",
    "goodbye",
    "later",
    "soon",
    "cheers",
    "regards",
    "sincerely",
    "yours",
    "talk",
    "see",
    "street",
    "road",
    "avenue",
    "st",
    "rd",
    "ave",
    "lane",
    "drive",
    "boulevard",
    "suite",
    "floor",
    "building",
    "united",
    "states",
    "kingdom",
    "hong",
    "kong",
    "north",
    "south",
    "east",
    "west",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "christmas",
    "easter",
    "central",
    "park",
    "city",
    "county",
];
const COMPANY_SUFFIX_EN: &str = r"Sons|Brothers|Bros|Plumbing|HVAC|Electric|Electrical|Roofing|Landscaping|Heating|Cooling|Inc|Incorporated|Ltd|Limited|LLC|L\.L\.C|Corp|Corporation|GmbH|Co|Company|Group|Holdings|Technologies|Technology|Tech|Solutions|Systems|Labs|Software|PLC|Pty|AG|SA|SAS|BV|AB|Industries|Enterprises|Partners|Consulting|Logistics|Studio|Studios|LLP|LP|NV|Oy|KK|Associates|Builders|Dental|Legal|Clinic|Traders|Foods|Health|Healthcare|Media|Realty|Bakery|Cafe|Motors|Capital|Ventures|Networks|Digital|Analytics|Robotics|Energy|Pharma|Pharmaceuticals|Hotels|Hotel|Construction|Manufacturing|Electronics|Apparel|Interiors|Design|Designs|Works|Supply|Supplies|Insurance|Bank|Hospital|University|College|Academy|Agency|Fitness|Farms|Restaurant|Restaurants|Trading|Imports|Exports|Marketing|Services|Medical|Pharmacy|Properties|Partners|Outfitters|Brewing|Coffee|Architects|Engineering|Automotive|Textiles|Furniture|Printing|Packaging|Freight|Shipping|Transport|Telecom|Wireless|Security|Solar|Chemicals|Plastics|Steel|Metals|Foundation|Institute|Clinics|Labs|Lab";

static ZH_COMPANY_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"股份有限公司|有限责任公司|有限公司|集团公司|集团|公司|科技|工作室|事务所|研究院|研究所|医院|商行|商贸|贸易行|实业|厂|机械|建材|物流|医药|传媒|信息技术|贸易|控股|地产|置业|装饰|化工|服饰|纺织|家居|环保|光电|通讯|通信|制药|物业|五金|印务|精密|新材料",
    )
});
/// `我在阿里巴巴上班`.
static ZH_WORK_AT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:我在|我们在|目前在|现在在)(?P<n>[\p{Han}A-Za-z0-9&]{2,12}?)(?:上班|工作|任职|做事|做|当|负责)|一家叫(?P<d>[\p{Han}A-Za-z0-9&]{2,12}?)的",
    )
});
static ZH_WE_ARE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:(?:我们是|我们这边是|我这边是|我们单位是)\s*(?P<d>[\p{Han}A-Za-z0-9&]{2,16}?)的|(?:我们公司是|我们公司叫|公司名叫|公司名字叫|公司名称是|公司叫|我来自|来自|就职于|任职于|供职于)\s*(?P<n>[\p{Han}A-Za-z0-9&]{2,16}?)(?:的|,|\.|!|\s|$|。|公司|这边))",
    )
});
static EN_COMPANY_SUFFIXED: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?-u:\b)(?P<n>[A-Z][A-Za-z0-9&'.-]*(?:\s+(?:&\s+)?[A-Z][A-Za-z0-9&'.-]*){{0,4}}\s*,?\s+(?:&\s+)?(?:{COMPANY_SUFFIX_EN})(?-u:\b)(?:\.|\s+(?:{COMPANY_SUFFIX_EN})(?-u:\b))?)"
    ))
});
static EN_COMPANY_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:\b(?:work|working|worked)\s+(?:at|for)|\bi'?m\s+(?:with|at)|\bi\s+am\s+(?:with|at)|\bwe\s+are(?:\s+with)?|\bwe're(?:\s+with)?|\bhere\s+at|\bi\s+represent|\brepresenting|\bon\s+behalf\s+of|\b(?:calling|writing|reaching\s+out|emailing|messaging)\s+from|\bcompany(?:'s)?(?:\s+name)?\s*(?:is|:)|\borgani[sz]ation\s*(?:is|:)|\bemployer\s*(?:is|:)|\b(?:owner|founder|co-founder|ceo|cto|cfo|manager|director|head|lead|president|partner)\s+(?:of|at)|\b(?:called|named)|\bour\s+(?:firm|company|business|shop|store|clinic|agency|practice)\s*,)\s+(?P<n>[A-Z][A-Za-z0-9&'-]*(?:\s+(?:&\s+)?[A-Z][A-Za-z0-9&'-]*){0,3})",
    )
});
static EN_THIS_IS_FROM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:(?i:\bthis\s+is|\bi'?m|\bi\s+am|\bmy\s+name\s+is|\bname's|\bit'?s|\bcan|\bcould|\bwill|\bwould|\bshould|\bhave|\blet|\bask|\btell)\s+|^(?:(?i:hi|hello|hey|dear)\b[\s,]*)?)(?P<p>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s+(?:(?i:here)\s+)?(?i:from|at|with|of)\s+(?P<n>[A-Z][A-Za-z0-9&'-]*(?:\s+(?:&\s+)?[A-Z][A-Za-z0-9&'-]*){0,3})",
    )
});
/// `a subsidiary of Siemens`, `part of Acme`.
static EN_PART_OF: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:\b(?:subsidiary|division|branch|part|member)\s+of)\s+(?P<n>[A-Z][A-Za-z0-9&'-]*(?:\s+[A-Z][A-Za-z0-9&'-]*){0,3})",
    )
});
/// `我是宏达物流的徐伟`: an organisation named before 的 and a name or a role.
static ZH_ORG_OF: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:我是|我这边是|这边是|我们是|^|[,.!?;:\s])(?P<n>[\p{Han}A-Za-z0-9&]{2,12}?)的")
});
/// A name at a clause start followed by what the person does.
static ZH_NAME_ACTS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:^|[,.!?;:\s。])(?P<n>\p{Han}{2,3}?)(?:让我|让你|叫我|说|负责|会|在吗|明天|今天|下午|上午|电话|手机|微信|邮箱|:)",
    )
});
/// A name that owns contact details: `孙晓燕的电话`.
static ZH_NAME_OWNS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?P<n>\p{Han}{2,4})的(?:电话|手机|手机号|微信|邮箱|号码|联系方式|座机)"));
/// Roles after which a name follows: `采购经理刘洋`, `同事孙晓燕`.
static ZH_ROLE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:同事|经理|总监|主管|助理|负责人|老板|采购|合伙人|创始人|股东|董事长|校长|院长|店长|厂长|对接人|搜|户名|收件人|收货人|签收人|联系|找|转告|转给|交给|他叫|她叫|名叫|叫做)(?:我们的|我们|一下|下)?[:\s]*(?:是|叫)?[:\s]*",
    )
});
/// English cues before a name: `Contact is Mark Evans`, `attn Nina Brooks`, `ship … to Jenna Wu`.
static EN_NAME_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:\bcontact(?:\s+person)?(?:\s+is)?\s*:?|\battn\s*:?|\battention\s*:?|\bask\s+for|\bspeak\s+(?:to|with)|\breach|(?:regards|thanks|cheers|sincerely|best)\s*[,!.]|\b(?:colleague|coworker|co-worker|boss|manager|ceo|cfo|cto|coo|director|assistant|partner|name)\s*[,:]?|\bcc:?|\b(?:talk|speak|reach\s+out)\s+to|\b(?:ship|send|deliver|mail|address)\b[^,.;!?]{0,30}?\bto)\s+(?P<n>(?:(?:Mr|Ms|Mrs|Miss|Dr|Prof)\.?\s+)?[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)?(?:\s+[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)?)?)",
    )
});
/// `Dr. Patel`, `Ms. Rivera`, `Mr. Zhang`.
static EN_TITLED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)(?P<n>(?:Mr|Ms|Mrs|Miss|Dr|Prof)\.?\s+[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)?(?:\s+[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)?)?)",
    )
});
/// A message that opens with a name: `Sarah Lee will sign`, `Ben Ortiz, +1 …`, `Ken here`.
static EN_OPENING_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?i:hi|hello|hey|dear)\b[\s,]*)?(?:(?P<n>[A-Z][a-z]+\s+[A-Z][a-z]+)(?:\s*,|\s+(?i:here|will|from|speaking)\b)|(?P<n1>[A-Z][a-z]+)\s+(?i:here)\b)",
    )
});
static EN_PERSON: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:\bmy\s+name\s+is|\bmy\s+name's|\bname's|\bthis\s+is|\bi'?m|\bi\s+am|\bcall\s+me|\bit's|\bthe\s+name\s+is)\s+(?P<n>[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)?(?:\s+[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)?)?)",
    )
});
static ZH_PERSON_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?P<cue>我叫|叫我|(?:^|[,;:\s])叫|我的名字叫|我的名字是|名字叫|名字写|名字:|名字|本人叫|我姓名是|姓名是|姓名:|姓名|我是|本人是|本人|鄙人|联系人是|联系人:|联系人|户名是|户名:|户名|收件人:|收件人|收货人:|收货人)\s*",
    )
});
static ZH_SURNAME_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:免贵姓|免贵|我姓|本人姓|鄙人姓|(?:^|[,.;!?:\s。])姓|(?:老板|经理|负责人|联系人|客户|老师|领导)姓)\s*(?P<s>\p{Han})",
    )
});
static ZH_TITLED: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?P<s>\p{{Han}}{{1,2}})(?P<t>{TITLES})")));

pub(crate) fn detect(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    zh_companies(f, out);
    en_companies(f, out);
    zh_people(f, out);
    en_people(f, out);
}

fn push(
    out: &mut Vec<Candidate>,
    kind: EntityKind,
    start: usize,
    end: usize,
    value: &str,
    confidence: f32,
) {
    out.push(Candidate::new(Found::Entity(kind), start, end, value.trim().to_string(), confidence));
}

// ---- companies -----------------------------------------------------------------------------

/// Words before a company suffix that make it a generic phrase, not a name.
const GENERIC_COMPANY: &[&str] = &[
    "科技",
    "网络",
    "贸易",
    "外贸",
    "互联网",
    "软件",
    "电商",
    "物流",
    "上市",
    "创业",
    "初创",
    "外企",
    "国企",
    "私企",
    "民营",
    "一家",
    "这家",
    "那家",
    "哪家",
    "什么",
    "你们",
    "我们",
    "他们",
    "咱们",
    "贵",
    "本",
    "小",
    "大",
    "新",
    "老",
    "分",
    "子",
    "母",
    "总",
    "高",
    "做",
    "搞",
    "其他",
    "别的",
    "同一",
    "这个",
    "那个",
    "一个",
    "信息",
    "技术",
    "医疗",
    "教育",
    "金融",
    "咨询",
    "广告",
    "装修",
    "家",
    "我司",
    "你司",
    "贵司",
    "跨境电商",
    "传统",
    "中小",
    "合资",
    "独资",
    "保险",
    "投资",
    "的",
];
/// Characters that cannot be inside a company name before its suffix: a name starts after them.
const COMPANY_BREAK: &str = "是在于叫的从为给跟和替我们你他她这那里边自职个家请问想要找做搞开去来了吗呢吧呀啊哦嘛有没到送回等年";

/// Suffixes that make a company name wherever they stand.
const STRONG_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "集团",
    "公司",
    "科技",
    "工作室",
    "事务所",
    "研究院",
    "研究所",
    "医院",
    "商行",
    "商贸",
    "贸易行",
    "实业",
    "厂",
];

fn zh_companies(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    let matches: Vec<_> = ZH_COMPANY_SUFFIX.find_iter(t).collect();
    for (i, m) in matches.iter().enumerate() {
        // 科技有限公司: the suffix ends at the last suffix in the run.
        if let Some(next) = matches.get(i + 1)
            && t[m.end()..next.start()].chars().count() <= 4
            && t[m.end()..next.start()].chars().all(is_han)
        {
            continue;
        }
        let end = m.end();
        // Walk left over the name: Han, ASCII letters and digits, up to 20 characters.
        let mut start = m.start();
        for (i, c) in t[..m.start()].char_indices().rev().take(20) {
            if !(is_han(c) || c.is_ascii_alphanumeric() || c == '&') || COMPANY_BREAK.contains(c) {
                break;
            }
            start = i;
        }
        // The first suffix in the run starts the suffix part (科技有限公司 after the name).
        let first_suffix = matches[..=i]
            .iter()
            .rev()
            .take_while(|s| s.start() >= start)
            .last()
            .map_or(m.start(), |s| s.start());
        let core = &t[start..first_suffix];
        let generic = core.chars().count() < 2
            || generic_org(core)
            || GENERIC_COMPANY.contains(&core)
            || GENERIC_COMPANY
                .iter()
                .any(|g| core.ends_with(g) && core.chars().count() <= g.chars().count() + 1);
        // 备注一下公司; 欧洲子公司, 英国分公司: a branch described by its place, not named.
        let branch = (core.ends_with('子') || core.ends_with('分')) && core.chars().count() <= 4;
        if generic
            || branch
            || core.contains("一下")
            || m.as_str() == "厂" && core.chars().count() < 3
        {
            continue;
        }
        // A trade word as suffix (恒通机械, 宏达物流) names a company only when it stands as a
        // name: a Han core of 2–6 characters after a clause start or a cue, and no word going on.
        let strong = matches[..=i]
            .iter()
            .any(|s| s.start() >= first_suffix && STRONG_SUFFIXES.contains(&s.as_str()));
        if !strong {
            let before = f.before(start);
            let bounded = before.is_none_or(|b| !is_han(b) || "是在叫的自于为".contains(b));
            let next = f.after(end);
            let word_ends = next.is_none_or(|n| !is_han(n) || "的有在是和与跟这那也都".contains(n));
            let n = core.chars().count();
            if !bounded || !word_ends || !(2..=6).contains(&n) || !core.chars().all(is_han) {
                continue;
            }
        }
        let confidence =
            if m.as_str().contains("公司") || m.as_str() == "集团" { 0.9 } else { 0.75 };
        push(out, EntityKind::Company, start, end, &t[start..end], confidence);
    }
    for c in ZH_WE_ARE.captures_iter(t).chain(ZH_WORK_AT.captures_iter(t)) {
        let Some(n) = c.name("n").or_else(|| c.name("d")) else { continue };
        let name = n.as_str();
        if !plausible_company(name) {
            continue;
        }
        push(out, EntityKind::Company, n.start(), n.end(), name, 0.7);
    }
    // 我是宏达物流的徐伟 / 我是宏达物流的采购: the organisation, and the name after 的.
    for c in ZH_ORG_OF.captures_iter(t) {
        let (Some(n), Some(m)) = (c.name("n"), c.get(0)) else { continue };
        // The cue may sit inside a match that began at the clause start.
        let mut name = n.as_str();
        let mut start = n.start();
        let mut self_intro = ["我是", "这"].iter().any(|p| m.as_str().starts_with(p));
        for cue in ["我这边是", "我们是", "这边是", "我是"] {
            if let Some(rest) = name.strip_prefix(cue) {
                start += cue.len();
                name = rest;
                self_intro = true;
                break;
            }
        }
        let after = &t[m.end()..];
        let name_len = full_name_at(after, false).filter(|_| !titled_at(after));
        let role = ROLES.iter().any(|r| after.starts_with(r)) || titled_at(after);
        // 我是宏达物流的，… : an organisation named by its trade, said about themselves.
        let ends = after.chars().next().is_none_or(|c| is_clause_break(c) || c.is_whitespace());
        let trade_named =
            ZH_COMPANY_SUFFIX.find(name).is_some_and(|s| s.end() == name.len() && s.start() >= 6);
        let cueless_ok = self_intro
            || !name
                .chars()
                .any(|c| COMPANY_BREAK.contains(c) || "能会专挺很太更最比都也就还才又".contains(c));
        if !(name_len.is_some() || role || (self_intro && ends && trade_named))
            || !cueless_ok
            || !plausible_company(name)
        {
            continue;
        }
        push(out, EntityKind::Company, start, n.end(), name, 0.7);
        if let Some(len) = name_len {
            push(out, EntityKind::Person, m.end(), m.end() + len, &after[..len], 0.8);
        }
    }
}

/// Roles a customer names after their organisation (我是X的采购).
const ROLES: &[&str] = &[
    "采购",
    "经理",
    "负责人",
    "老板",
    "员工",
    "销售",
    "工程师",
    "行政",
    "财务",
    "技术",
    "人事",
    "HR",
    "IT",
    "主管",
    "总监",
    "助理",
    "运营",
    "市场",
    "创始人",
    "法务",
    "客服",
    "合伙人",
    "校长",
    "院长",
    "店长",
    "厂长",
    "股东",
    "董事长",
    "老师",
];

/// A description of a kind of organisation (外贸, 律所, 金融行业, 小公司), not a name.
fn generic_org(core: &str) -> bool {
    /// Categories: a name ending in one describes a kind (金融行业, 政府单位, 越南工厂).
    const CATEGORIES: &[&str] =
        &["行业", "单位", "机构", "企业", "工厂", "门店", "律所", "团队", "部门", "政府", "业"];
    /// Trades: alone (or with one more character, 制造业) they describe, not name.
    const TRADES: &[&str] = &[
        "外贸",
        "跨境",
        "电商",
        "金融",
        "教育",
        "医疗",
        "设计",
        "餐饮",
        "零售",
        "制造",
        "物流",
        "贸易",
        "科技",
        "网络",
        "软件",
        "互联网",
        "信息",
        "技术",
        "咨询",
        "广告",
        "装修",
        "保险",
        "投资",
    ];
    /// Adjectives right before a suffix: 适合小公司, 正规公司, 越南工厂.
    const ADJECTIVES: &[&str] = &[
        "正规",
        "大型",
        "小型",
        "中型",
        "中小",
        "私营",
        "国有",
        "上市",
        "外资",
        "合资",
        "家族",
        "创业",
        "初创",
        "传统",
        "适合",
        "靠谱",
        "专业",
        "其他",
        "小",
        "大",
        "新",
        "老",
        "好",
        "别",
        "工",
        "做",
        "国际",
        "国内",
        "第三方",
        "冷链",
        "快递",
        "同城",
        "进口",
        "出口",
        "家用",
        "工业",
        "房",
        "二手",
    ];
    let n = core.chars().count();
    CATEGORIES.iter().any(|k| core.ends_with(k) && (*k != "业" || n <= 3))
        || TRADES.iter().any(|k| core.starts_with(k) && n <= k.chars().count() + 1)
        // 粤海进出口(贸易有限公司): 进出口 after a name is the trade it names, not 出口 alone.
        || (ADJECTIVES.iter().any(|k| core.ends_with(k)) && !(core.ends_with("进出口") && n >= 5))
}

/// "我们是XX的": XX is a company unless it is a trade, a place or a role.
fn plausible_company(name: &str) -> bool {
    const NOT_COMPANY: &[&str] = &[
        "做",
        "搞",
        "从事",
        "干",
        "卖",
        "开",
        "一家",
        "一个",
        "个",
        "来",
        "想",
        "专门",
        "主要",
        "小",
        "大",
        "新",
        "老",
        "这",
        "那",
        "你",
        "我",
        "他",
        "刚",
        "第",
        "在",
        "本地",
        "外地",
        "国内",
        "国外",
        "海外",
        "负责",
        "采购",
        "销售",
        "老板",
        "客户",
        "用户",
        "朋友",
        "学生",
        "个人",
        "公司",
        "工厂",
        "门店",
        "创业",
        "初创",
        "自己",
        "同行",
        "经销",
        "代理",
        "外包",
        "传统",
        "线上",
        "线下",
        "去年",
        "今年",
        "通过",
        "看到",
        "听说",
        "之前",
        "贵司",
        "贵公司",
        "长期",
        "合作",
    ];
    const PLACES: &[&str] = &[
        "北京",
        "上海",
        "天津",
        "重庆",
        "广州",
        "深圳",
        "杭州",
        "南京",
        "苏州",
        "成都",
        "武汉",
        "西安",
        "长沙",
        "郑州",
        "青岛",
        "厦门",
        "宁波",
        "东莞",
        "佛山",
        "合肥",
        "福州",
        "济南",
        "沈阳",
        "大连",
        "哈尔滨",
        "长春",
        "昆明",
        "贵阳",
        "南宁",
        "南昌",
        "太原",
        "石家庄",
        "兰州",
        "乌鲁木齐",
        "呼和浩特",
        "海口",
        "三亚",
        "香港",
        "澳门",
        "台湾",
        "广东",
        "广西",
        "浙江",
        "江苏",
        "福建",
        "山东",
        "河南",
        "河北",
        "湖南",
        "湖北",
        "四川",
        "云南",
        "贵州",
        "陕西",
        "山西",
        "辽宁",
        "吉林",
        "黑龙江",
        "安徽",
        "江西",
        "甘肃",
        "青海",
        "宁夏",
        "新疆",
        "西藏",
        "内蒙古",
        "海南",
        "珠海",
        "无锡",
        "常州",
        "温州",
        "义乌",
        "中山",
        "惠州",
        "泉州",
        "烟台",
        "潍坊",
        "徐州",
        "绍兴",
        "嘉兴",
        "金华",
        "台州",
        "中国",
        "美国",
        "日本",
        "韩国",
        "英国",
        "德国",
        "法国",
        "新加坡",
        "马来西亚",
        "越南",
        "泰国",
        "印度",
        "本市",
        "当地",
        "南方",
        "北方",
        "华东",
        "华南",
        "华北",
        "华中",
        "西南",
        "西北",
        "东北",
    ];
    let n = name.chars().count();
    !name.contains("公司")
        && !name.chars().any(|c| "我你他她们这那是请问想要找在了吗呢吧啊的和跟给".contains(c))
        && !generic_org(name)
        && (2..=12).contains(&n)
        && !NOT_COMPANY.iter().any(|w| name.starts_with(w))
        && !PLACES
            .iter()
            .any(|p| name.starts_with(p) && name.chars().count() <= p.chars().count() + 1)
        && !name.chars().any(|c| c.is_ascii_digit())
        && !name.ends_with('人')
        && !name.contains('做')
        && !name.contains("一下")
        // 广州天河区, 浙江省, 南山科技园: an address, not a name.
        && !["区", "市", "省", "县", "镇", "村", "路", "街", "园", "州"].iter().any(|w| name.ends_with(w))
}

/// Capitalised sentence words that may open a run before a company name.
const LEADING_WORDS: &[&str] = &[
    "at", "from", "for", "with", "this", "i", "i'm", "we", "our", "the", "hi", "hello", "dear",
    "and", "is", "of", "we're", "it's", "my", "thanks", "hey",
];

fn en_companies(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    for c in EN_COMPANY_SUFFIXED.captures_iter(t) {
        let Some(n) = c.name("n") else { continue };
        // Drop a leading cue word caught by the capitalised run ("At Acme Inc").
        let mut name = n.as_str();
        while let Some((first, rest)) = name.split_once(char::is_whitespace) {
            let lead = first.to_ascii_lowercase();
            if !LEADING_WORDS.contains(&lead.as_str()) {
                break;
            }
            name = rest.trim_start();
        }
        let start = n.end() - name.len();
        // Acme Inc. keeps the period of its abbreviation.
        let abbreviated =
            ["Inc.", "Corp.", "Ltd.", "Co.", "Bros."].iter().any(|a| name.ends_with(a));
        let name = if abbreviated { name } else { name.trim_end_matches(['.', ',']).trim_end() };
        let end = start + name.len();
        if name.split_whitespace().count() < 2 {
            continue;
        }
        push(out, EntityKind::Company, start, end, name, 0.85);
    }
    for c in EN_COMPANY_CUE
        .captures_iter(t)
        .chain(EN_THIS_IS_FROM.captures_iter(t))
        .chain(EN_PART_OF.captures_iter(t))
    {
        let Some(n) = c.name("n") else { continue };
        if let Some(p) = c.name("p")
            && !plausible_en_name(p.as_str())
        {
            continue;
        }
        let name = trim_trailing_words(n.as_str());
        if name.is_empty()
            || NOT_NAMES.contains(&name.to_ascii_lowercase().as_str())
            || is_place_en(name)
        {
            continue;
        }
        push(out, EntityKind::Company, n.start(), n.start() + name.len(), name, 0.7);
    }
}

/// Trailing words of a capitalised run that are not part of a name.
fn trim_trailing_words(s: &str) -> &str {
    let mut s = s.trim_end();
    loop {
        let Some((head, last)) = s.rsplit_once(char::is_whitespace) else { return s };
        if matches!(
            last.to_ascii_lowercase().as_str(),
            "and" | "i" | "we" | "in" | "the" | "our" | "my" | "is" | "are" | "for" | "to"
        ) {
            s = head.trim_end();
        } else {
            return s;
        }
    }
}

fn is_place_en(s: &str) -> bool {
    const PLACES: &[&str] = &[
        "china",
        "beijing",
        "shanghai",
        "shenzhen",
        "guangzhou",
        "hangzhou",
        "hong kong",
        "taiwan",
        "singapore",
        "japan",
        "korea",
        "usa",
        "us",
        "uk",
        "america",
        "germany",
        "france",
        "india",
        "london",
        "new york",
        "california",
        "texas",
        "europe",
        "asia",
        "canada",
        "australia",
        "the us",
        "home",
        "toronto",
        "vancouver",
        "sydney",
        "melbourne",
        "paris",
        "berlin",
        "tokyo",
        "seoul",
        "dubai",
        "mumbai",
        "delhi",
        "chicago",
        "boston",
        "seattle",
        "austin",
        "denver",
        "miami",
        "dallas",
        "houston",
        "atlanta",
        "san francisco",
        "los angeles",
        "leeds",
        "manchester",
        "rotterdam",
        "amsterdam",
        "madrid",
        "rome",
        "milan",
        "ohio",
        "florida",
        "ireland",
        "scotland",
        "england",
        "wales",
        "mexico",
        "brazil",
        "spain",
        "italy",
        "vietnam",
        "thailand",
        "malaysia",
        "indonesia",
        "philippines",
        "africa",
        "the uk",
        "the states",
        "abroad",
        "overseas",
        "work",
        "the office",
        "school",
    ];
    PLACES.contains(&s.to_ascii_lowercase().as_str())
}

// ---- people --------------------------------------------------------------------------------

fn surname_at(s: &str, weak_ok: bool) -> Option<usize> {
    if let Some(c) = COMPOUND_SURNAMES.iter().find(|c| s.starts_with(*c)) {
        return Some(c.len());
    }
    let c = s.chars().next()?;
    (SURNAMES.contains(c) || (weak_ok && WEAK_SURNAMES.contains(c))).then_some(c.len_utf8())
}

/// The length of a full name (surname + one or two given characters) at the start of `s`.
fn full_name_at(s: &str, weak_ok: bool) -> Option<usize> {
    let surname = surname_at(s, weak_ok)?;
    let mut end = surname;
    for (count, (i, c)) in s[surname..].char_indices().enumerate() {
        if count == 2 || !is_han(c) || NOT_IN_NAME.contains(c) {
            break;
        }
        // 张伟明天: 明天 follows the name.
        if AFTER_NAME.iter().any(|w| s[surname + i..].starts_with(w)) {
            break;
        }
        end = surname + i + c.len_utf8();
    }
    (end > surname && !NOT_A_NAME.iter().any(|w| s[..end].starts_with(w))).then_some(end)
}

/// Words that start with a surname character and are not names.
const NOT_A_NAME: &[&str] = &[
    "周末", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "周天", "黄金", "高端", "高级",
    "江湖", "程序", "程度", "许多", "许可", "韩国", "韩文", "苏州", "郑州", "徐州", "常州", "温州",
    "许昌", "岳阳", "邵阳", "周口", "黄山", "马上", "毛病", "方便", "方案", "方式", "方面", "关于",
    "关系", "关注", "金额", "安装", "安全", "时间", "时候", "文件", "文档", "张家", "宋体", "陈列",
    "于是", "高兴", "曾经", "童装", "钱包", "余额", "何时", "杨浦", "卢湾", "武汉", "宁波", "吉林",
    "郭家", "林业", "华为", "祝您", "祝你", "贺卡", "冯家", "蒋家", "田园", "孔雀", "潘家", "戴尔",
    "尤其", "任何", "任务", "陆续", "丁点", "白天", "包括", "包装", "石材", "成本", "曹家", "章程",
    "万一", "谢谢", "朱家", "管理", "付款",
];

/// A clause that is nothing but a name: `，刘洋`, `实名信息：钱芳，`, `（李）`.
fn clause_names(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    let mut start = 0;
    for (i, c) in t.char_indices().chain(std::iter::once((t.len(), '\n'))) {
        if !(is_clause_break(c) || c == ':' || c.is_whitespace()) {
            continue;
        }
        let clause = &t[start..i];
        let in_parens = f.before(start) == Some('(') && c == ')';
        if let Some(len) = full_name_at(clause, false).filter(|l| *l == clause.len()) {
            push(out, EntityKind::Person, start, start + len, clause, 0.7);
        } else if in_parens && clause.chars().count() == 1 && surname_at(clause, false).is_some() {
            push(out, EntityKind::Person, start, i, clause, 0.7);
        }
        start = i + c.len_utf8();
    }
}

fn zh_people(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    let first = out.len();
    // 孙晓燕的电话 / 王磊的微信: a name owning contact details.
    for c in ZH_NAME_OWNS.captures_iter(t) {
        let Some(n) = c.name("n") else { continue };
        let start = n.start();
        let mut from = start;
        // The name is the last two or three characters before 的.
        for back in [3usize, 2] {
            let chars: Vec<(usize, char)> = t[..n.end()].char_indices().collect();
            if chars.len() < back {
                continue;
            }
            let at = chars[chars.len() - back].0;
            if at >= start && full_name_at(&t[at..], back == 3).is_some_and(|l| at + l == n.end()) {
                from = at;
                break;
            }
        }
        if from > start
            || (from == start
                && full_name_at(&t[start..], false).is_some_and(|l| start + l == n.end()))
        {
            push(out, EntityKind::Person, from, n.end(), &t[from..n.end()], 0.75);
        }
    }
    for c in ZH_PERSON_CUE.captures_iter(t).chain(ZH_ROLE_CUE.captures_iter(t)) {
        let Some(m) = c.get(0) else { continue };
        let at = m.end();
        let rest = &t[at..];
        let cue = c.name("cue").map(|c| c.as_str());
        let strong_cue = cue.is_some_and(|c| !matches!(c, "我是" | "本人是" | "本人" | "鄙人"));
        // 联系人：市场部刘婷婷 — a department before the name.
        let (at, rest) = match rest.char_indices().take(5).find(|&(_, c)| c == '部') {
            Some((i, _))
                if strong_cue
                    && rest[..i].chars().all(is_han)
                    && full_name_at(&rest[i + '部'.len_utf8()..], true).is_some() =>
            {
                let skip = i + '部'.len_utf8();
                (at + skip, &rest[skip..])
            }
            _ => (at, rest),
        };
        if let Some(len) = full_name_at(rest, strong_cue) {
            // 我是王磊 — but 我是王总的助理 is someone else's name.
            let after = &rest[len..];
            let self_intro = matches!(cue, Some("我是" | "本人是" | "本人" | "鄙人"));
            if (self_intro && after.starts_with('的'))
                || after.starts_with("公司")
                || after.starts_with("集团")
                || titled_at(rest)
            {
                continue;
            }
            push(
                out,
                EntityKind::Person,
                at,
                at + len,
                &rest[..len],
                if strong_cue { 0.9 } else { 0.8 },
            );
            continue;
        }
        // 我叫小李 / 我是老王: a familiar name.
        if cue.is_some()
            && let Some(prefix) = rest.strip_prefix('小').or_else(|| rest.strip_prefix('老'))
            && let Some(len) = surname_at(prefix, strong_cue)
            && prefix[len..].chars().next().is_none_or(|c| !is_han(c) || NOT_IN_NAME.contains(c))
        {
            let end = at + '小'.len_utf8() + len;
            push(out, EntityKind::Person, at, end, &t[at..end], 0.75);
            continue;
        }
        // An English name after a Chinese cue: 我叫Lily.
        if cue.is_some()
            && let Some(n) = EN_NAME.find(rest).filter(|n| n.start() == 0)
            && plausible_en_name(n.as_str())
            && !rest[n.end()..].starts_with('的')
            && (strong_cue || n.as_str().len() >= 3)
        {
            push(out, EntityKind::Person, at, at + n.end(), n.as_str(), 0.8);
        }
    }
    for c in ZH_SURNAME_ONLY.captures_iter(t) {
        let Some(s) = c.name("s") else { continue };
        if surname_at(s.as_str(), true).is_none() || titled_at(&t[s.start()..]) {
            continue;
        }
        let rest = &t[s.end()..];
        if rest.starts_with(|c: char| is_han(c) && !NOT_IN_NAME.contains(c))
            && let Some(len) = full_name_at(&t[s.start()..], true)
        {
            push(
                out,
                EntityKind::Person,
                s.start(),
                s.start() + len,
                &t[s.start()..s.start() + len],
                0.8,
            );
            continue;
        }
        push(out, EntityKind::Person, s.start(), s.end(), s.as_str(), 0.85);
    }
    for c in ZH_TITLED.captures_iter(t) {
        let (Some(s), Some(title)) = (c.name("s"), c.name("t")) else { continue };
        // The surname is the last one or two characters before the title: 找王总, 欧阳先生.
        let (start, name) = if COMPOUND_SURNAMES.contains(&s.as_str()) {
            (s.start(), s.as_str())
        } else {
            let i = s.as_str().char_indices().last().map_or(0, |(i, _)| i);
            (s.start() + i, &s.as_str()[i..])
        };
        if surname_at(name, true).is_none() {
            continue;
        }
        let before = &t[..start];
        let prev = before.chars().next_back();
        let t_str = title.as_str();
        // 叫我杨姐: familiar titles only when the customer offers them.
        if matches!(t_str, "姐" | "哥") && !before.ends_with('叫') && !before.ends_with("叫我")
        {
            continue;
        }
        let cue_before = before.ends_with("一下")
            || ROLE_BEFORE.iter().any(|r| before.ends_with(r))
            || prev.is_none_or(|b| {
                !is_han(b) || "是叫找给和跟请问我您的位好与及向对让被把替帮联系哪人名部".contains(b)
            });
        // 来总 in 一年下来总费用: an everyday character before a title is a name only after a cue.
        let weak = surname_at(name, false).is_none();
        if !cue_before
            || (weak && prev.is_some_and(|b| is_han(b) && !"是叫找给请问您联系".contains(b)))
        {
            continue;
        }
        let next = f.after(title.end());
        if t_str == "总"
            && next.is_some_and(|n| "部是共价额数体之计结量裁监经代费成账包".contains(n))
        {
            continue;
        }
        // 张工带上合同, 孙工明天来: what the engineer does next; not 施工进度.
        if t_str == "工"
            && next.is_some_and(|n| {
                is_han(n)
                    && !"的说在吧呢啊吗，带来去过会到帮给跟和也就都已把让要想打那这电明今"
                        .contains(n)
            })
        {
            continue;
        }
        push(out, EntityKind::Person, start, title.end(), &t[start..title.end()], 0.85);
    }
    clause_names(f, out);
    // 王磊让我联系你们 / 张伟负责采购: a name opening a clause, then what the person does.
    for c in ZH_NAME_ACTS.captures_iter(t) {
        let Some(n) = c.name("n") else { continue };
        if full_name_at(n.as_str(), false) == Some(n.len()) {
            push(out, EntityKind::Person, n.start(), n.end(), n.as_str(), 0.7);
        }
    }
    // 我姓刘…刘洋 / 我姓杨，叫我杨姐: the surname alone gives way to the fuller name.
    let found: Vec<(usize, String)> = out[first..]
        .iter()
        .enumerate()
        .filter(|(_, c)| c.found == Found::Entity(EntityKind::Person))
        .map(|(i, c)| (first + i, c.value.clone()))
        .collect();
    let drop: Vec<usize> = found
        .iter()
        .filter(|(_, v)| v.chars().count() == 1)
        .filter(|(i, v)| {
            found.iter().any(|(j, w)| j != i && w.len() > v.len() && w.starts_with(v.as_str()))
        })
        .map(|(i, _)| *i)
        .collect();
    for i in drop.into_iter().rev() {
        out.remove(i);
    }
}

/// Words after which a titled surname is a person: 老板郭总, 我们经理王总.
const ROLE_BEFORE: &[&str] = &[
    "老板",
    "领导",
    "经理",
    "同事",
    "上司",
    "主管",
    "总监",
    "老师",
    "客户",
    "朋友",
    "合伙人",
    "股东",
    "负责人",
    "师傅",
    "对接人",
];

/// A surname with a title starts `s` (王总, 李女士).
fn titled_at(s: &str) -> bool {
    ZH_TITLED.captures(s).and_then(|c| c.get(0)).is_some_and(|m| m.start() == 0)
}

static EN_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Z][a-z]+(?:\s[A-Z][a-z]+)?"));

/// Capitalised words that may be a name: none of them a common word or a company suffix.
fn plausible_en_name(name: &str) -> bool {
    !name.is_empty()
        && name.split_whitespace().all(|w| {
            !NOT_NAMES.contains(&w.to_ascii_lowercase().as_str())
                && !COMPANY_SUFFIX_EN.split('|').any(|s| s == w)
                && !is_place_en(w)
        })
}

/// `Thanks John` at the end of a message.
static EN_THANKS_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i:thanks|thank\s+you|cheers)[,!.]?\s+(?P<n>[A-Z][a-z]+)\s*[.!]?\s*$"));

/// `my name is tom`: a lower-case name after an unmistakable cue.
static EN_LOWER_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i:\bmy\s+name\s+is|\bmy\s+name's|\bname's)\s+(?P<n>[a-z][a-z]+)(?:\s*$|\s*[,.!?;])")
});

/// A clause that is nothing but a first and last name: `…, Maria Lopez`, `Rachel Green, +44 …`.
static EN_CLAUSE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:^|[,;:!?.]\s*|\s-\s)(?P<n>[A-Z][a-z]+\s[A-Z][a-z]+)\s*(?:$|[,;!?.]|\s-\s)")
});

/// Someone named by what they are asked to do or where they are from: `Can Hamish call me`,
/// `Book Omar for Tuesday`, `Can Ken from Ridgeline`, `Liam from Harbor Freight again`.
static EN_ACTOR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:(?i:\b(?:can|could|will|would|should|may|might|have|let|ask|tell))\s+(?P<n>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s+(?i:call|ring|phone|email|e-mail|text|contact|reach|meet|visit|come|drop|swing|stop|send|give|check|help|join|sign|from)\b|(?i:\b(?:book|schedule|assign))\s+(?P<b>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s+(?i:for|on|to|at)\b|^(?P<o>[A-Z][a-z]+)\s+(?i:from)\s+[A-Z])",
    )
});

fn en_people(f: &Folded<'_>, out: &mut Vec<Candidate>) {
    let t = &f.text;
    for c in EN_ACTOR.captures_iter(t) {
        let Some(n) = c.name("n").or_else(|| c.name("b")).or_else(|| c.name("o")) else {
            continue;
        };
        if plausible_en_name(n.as_str()) {
            push(out, EntityKind::Person, n.start(), n.end(), n.as_str(), 0.7);
        }
    }
    for c in EN_CLAUSE_NAME.captures_iter(t) {
        let Some(n) = c.name("n") else { continue };
        // Not the start of a longer capitalised run (Acme Widgets, Ltd).
        let after = t[n.end()..].trim_start_matches([',', ' ']);
        let followed_by_suffix = COMPANY_SUFFIX_EN.split('|').any(|s| after.starts_with(s));
        if plausible_en_name(n.as_str()) && !followed_by_suffix {
            push(out, EntityKind::Person, n.start(), n.end(), n.as_str(), 0.7);
        }
    }
    for c in EN_LOWER_NAME.captures_iter(t) {
        let Some(n) = c.name("n") else { continue };
        if plausible_en_name(n.as_str()) && n.as_str().len() >= 2 {
            push(out, EntityKind::Person, n.start(), n.end(), n.as_str(), 0.7);
        }
    }
    for c in EN_PERSON.captures_iter(t) {
        let (Some(m), Some(n)) = (c.get(0), c.name("n")) else { continue };
        let cue = m.as_str()[..n.start() - m.start()].trim().to_ascii_lowercase();
        let mut words: Vec<&str> = n.as_str().split_whitespace().collect();
        if !plausible_en_name(words[0]) {
            continue;
        }
        if words.len() == 2 && !plausible_en_name(words[1]) {
            words.truncate(1);
        }
        let last = words[words.len() - 1];
        let end = n.start() + n.as_str().rfind(last).unwrap_or(0) + last.len();
        let strong = ["my name", "name", "call", "the name"].iter().any(|c| cue.starts_with(c));
        // "I'm X" / "this is X" name someone only when the name ends the phrase.
        let follow = t[end..].trim_start().to_ascii_lowercase();
        let ends_phrase = follow.is_empty()
            || follow.starts_with(|c: char| ",.!?;:)-".contains(c) || !c.is_ascii())
            || ["from ", "and ", "at ", "with ", "here", "of ", "speaking", "calling", "again"]
                .iter()
                .any(|w| follow.starts_with(w));
        if !strong && !ends_phrase {
            continue;
        }
        push(
            out,
            EntityKind::Person,
            n.start(),
            end,
            &words.join(" "),
            if strong { 0.9 } else { 0.75 },
        );
    }
    for c in EN_NAME_CUE
        .captures_iter(t)
        .chain(EN_TITLED.captures_iter(t))
        .chain(EN_OPENING_NAME.captures_iter(t))
        .chain(EN_THANKS_NAME.captures_iter(t))
    {
        let Some(n) = c.name("n").or_else(|| c.name("n1")) else { continue };
        let mut name = n.as_str();
        let titled = name.starts_with(|c: char| c.is_ascii_uppercase())
            && ["Mr", "Ms", "Mrs", "Miss", "Dr", "Prof"]
                .iter()
                .any(|p| name.split([' ', '.']).next() == Some(p));
        let plain = if titled {
            name.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim())
        } else {
            name
        };
        // Drop a second word that is not a name (Mr. Zhang at …, Jenna Wu Ltd).
        if let Some((first, second)) = plain.rsplit_once(' ')
            && !plausible_en_name(second)
        {
            name = &name[..name.len() - plain.len() + first.len()];
        }
        let plain = if titled {
            name.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim())
        } else {
            name
        };
        if !plausible_en_name(plain) {
            continue;
        }
        push(
            out,
            EntityKind::Person,
            n.start(),
            n.start() + name.len(),
            name,
            if titled { 0.85 } else { 0.75 },
        );
    }
}
