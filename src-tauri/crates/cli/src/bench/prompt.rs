//! The benchmark's conversation: a Chinese + English sales chat of about `--prefix-tokens`
//! tokens (a system prompt with a persona, product facts and the lead fields to collect, then
//! turns), and the new customer messages that extend it for the warm-prefix runs.
//!
//! The length is fitted with the model's own tokenizer, so the same target gives a similar
//! amount of text to every model: turns are added while they fit, then the next assistant reply
//! (or, for small targets, the system prompt) is cut to the last character that still fits.

use closer_llm::{ChatMessage, LlmError};

/// The system prompt: persona, product facts, policies and the lead fields.
const SYSTEM: &str = "你是「智会科技」的线上销售顾问小智 (Closer assistant for Zhihui Tech). \
Reply in the customer's language (中文或英文), warmly and concisely, and never invent prices, \
stock or discounts that are not listed below.

产品 / Products:
1. 智会 M1 会议平板 (65 寸 4K 触控, 内置摄像头与 8 麦克风阵列): 标准价 ¥12,800 / 台, 适合 4–8 人小会议室.
2. 智会 M2 会议平板 (86 寸, 双系统 Android + Windows, 无线投屏): ¥23,500 / 台, 适合 10–20 人会议室.
3. 智会 Cloud 会议软件: ¥199 / 房间 / 月, 年付 9 折; 支持飞书、钉钉、企业微信与 Microsoft Teams 日历同步.
4. 上门安装与培训: 每间 ¥800, 满 5 间免费. Delivery: 3–5 working days in stock, 2 weeks for 10+ units.
Warranty: 3 years on hardware, on-site repair within 48 hours in tier-1 cities. 7 天无理由退货 (未拆封).
Discounts: 教育与非营利机构 8.5 折 (需资质证明); 10 台以上可申请项目价, 需销售经理审批.
Payment: 对公转账或信用卡; 项目单 30% 定金, 到货验收后付清; 可开增值税专用发票.

需要收集的线索字段 / Lead fields to collect (ask for at most one missing field per reply):
name 姓名, company 公司, role 职位, phone 电话, email 邮箱, headcount 团队人数, rooms 会议室数量,
budget 预算, timeline 采购时间, decision_maker 决策人, current_solution 现有方案, city 城市.

Rules: 不要承诺清单之外的折扣; 涉及项目价时说明需要经理审批; 客户询问竞品时只陈述我们的事实;
if the customer is ready to buy, summarise the order and propose the next step (报价单 or a demo).";

/// Earlier turns of the conversation: (customer, assistant).
const TURNS: &[(&str, &str)] = &[
    (
        "你好，我们公司在找会议室的视频会议设备，想了解一下你们的产品。",
        "您好，我是智会科技的销售顾问小智，很高兴为您服务！我们有 M1 (65 寸) 和 M2 (86 寸) 两款会议平板，\
         以及智会 Cloud 会议软件。请问贵公司大概有几间会议室需要改造？",
    ),
    (
        "We have about 50 people and 6 meeting rooms, two of them are large, maybe 15 people each.",
        "Thanks! For the two 15-person rooms the M2 (86\", ¥23,500) fits best; for the four smaller \
         rooms the M1 (65\", ¥12,800) is usually enough. May I ask which company you are with?",
    ),
    (
        "我们是上海的一家跨境电商公司，叫海帆贸易。我是行政经理李薇。",
        "谢谢李经理！海帆贸易在上海，我们在一线城市提供 48 小时上门维修。请问你们现在用的是什么会议方案？",
    ),
    (
        "现在用的是投影仪加笔记本，经常连不上，声音也不好。Teams 和钉钉都在用。",
        "明白了，投影加笔记本确实容易出问题。M1 和 M2 都支持无线投屏，8 麦克风阵列能覆盖整个房间；\
         智会 Cloud 可以同步 Teams 和钉钉的日历，会议室预约一目了然。",
    ),
    (
        "What about price? If we buy 6 units, is there any discount?",
        "For 6 units the list total is 2 × ¥23,500 + 4 × ¥12,800 = ¥98,200, and installation is free \
         from 5 rooms. A project price is possible from 10 units with manager approval, so for 6 \
         units the list price applies. What budget range do you have in mind?",
    ),
    (
        "预算还没最终定，老板说控制在十万左右。我们希望下个月底前装好。",
        "好的，预算十万左右、下个月底前完成安装，这个时间没问题：现货 3–5 个工作日发货，安装当天完成。\
         请问最终由哪位来拍板决定呢？",
    ),
    (
        "决策人是我们 COO 王总，不过他会听我的建议。你们的软件是必须买的吗？",
        "平板本身可以单独使用，无线投屏和本地会议都不需要软件。智会 Cloud (¥199/房间/月, 年付 9 折) \
         主要提供日历同步和远程管理，建议先给大会议室开通试用。",
    ),
    (
        "Can you send me a quote? Also, how long is the warranty?",
        "Of course. Hardware warranty is 3 years with on-site repair within 48 hours in Shanghai. \
         I will prepare a quote for 2 × M2 and 4 × M1 with free installation. Which email should I \
         send it to?",
    ),
    (
        "发到 li.wei@haifan-trade.com 就可以。另外能不能先安排一次演示？",
        "收到，报价单会发到 li.wei@haifan-trade.com。演示可以安排在我们上海展厅，也可以带样机上门，\
         请问您这周哪天方便？",
    ),
    (
        "周四下午可以，最好能上门，王总也想看看。",
        "好的，已为您预约周四下午上门演示，届时会带 M2 样机，王总也可以现场体验无线投屏和远程会议。",
    ),
];

/// The customer's latest message: one that calls for a long, detailed reply, so the greedy
/// decode runs to `--new-tokens` rather than stopping early.
const LAST: &str = "Please compare M1 and M2 in detail for our case (screen, audio, price, delivery, \
     warranty), then give your recommendation for all six rooms with the total price. \
     请尽量详细，用中文和英文各写一遍。";

/// New customer messages (about 40 tokens each) for the warm runs. Each starts differently, so a
/// warm run reuses nothing of the previous one beyond the shared conversation.
const NEW_MESSAGES: &[&str] = &[
    "另外，我们财务想问能不能开增值税专用发票？如果智会 Cloud 年付的话有没有额外折扣？Our CFO also asks for the quote in USD.",
    "Quick follow-up: can the installation be done on a Saturday? 我们办公室工作日不方便施工，周六上午可以吗？",
    "我刚和老板确认了，预算可以放到十二万以内，决策人是 COO 王总，他希望下周三前拿到正式方案。",
    "Do you support Feishu calendars too? 我们深圳分公司用飞书，会议室预约要能和上海这边同步，可以吗？",
    "如果我们先买两台 M1 试用一个月，不满意可以退吗？退货需要我们承担运费吗？拆封以后还能退吗？",
    "My phone is 138-0013-8000, WeChat is the same number. 请把报价单和合同模板都发给我，我周五前回复。",
    "上次你提到教育优惠，我们在杭州还有一个培训中心，算不算教育机构？需要提供什么资质证明？",
    "What is the lead time for 12 units if we order before the end of this month? 需要预付多少定金？",
];

/// The conversation cut to about `target` prompt tokens, as counted by `count`.
pub fn conversation(
    target: usize,
    count: &dyn Fn(&[ChatMessage]) -> Result<usize, LlmError>,
) -> Result<Vec<ChatMessage>, LlmError> {
    let with_turns = |system: &str, turns: &[ChatMessage]| {
        let mut messages = vec![ChatMessage::system(system)];
        messages.extend_from_slice(turns);
        messages.push(ChatMessage::user(LAST));
        messages
    };
    // A small target: only part of the system prompt fits.
    if count(&with_turns(SYSTEM, &[]))? > target {
        let keep = longest_fitting(SYSTEM, |s| Ok(count(&with_turns(s, &[]))? <= target))?;
        return Ok(with_turns(&SYSTEM[..keep], &[]));
    }
    let mut turns: Vec<ChatMessage> = Vec::new();
    // Cycle through the turns if the target is longer than all of them.
    for (customer, assistant) in TURNS.iter().cycle().take(TURNS.len() * 8) {
        let mut next = turns.clone();
        next.push(ChatMessage::user(*customer));
        next.push(ChatMessage::assistant(*assistant));
        if count(&with_turns(SYSTEM, &next))? <= target {
            turns = next;
            continue;
        }
        // The next turn does not fit whole: keep as much of the reply as fits.
        next.pop();
        let fits = |reply: &str| {
            let mut candidate = next.clone();
            candidate.push(ChatMessage::assistant(reply));
            Ok(count(&with_turns(SYSTEM, &candidate))? <= target)
        };
        let keep = longest_fitting(assistant, fits)?;
        if keep > 0 {
            next.push(ChatMessage::assistant(&assistant[..keep]));
            turns = next;
        }
        break;
    }
    Ok(with_turns(SYSTEM, &turns))
}

/// The new customer message of warm run `run`.
pub fn new_message(run: usize) -> String {
    let text = NEW_MESSAGES[run % NEW_MESSAGES.len()];
    match run / NEW_MESSAGES.len() {
        0 => text.to_owned(),
        round => format!("{text} (第 {} 次确认)", round + 1),
    }
}

/// A short unrelated prompt, to warm up threads and allocators before anything is timed.
pub fn warm_up() -> Vec<ChatMessage> {
    vec![ChatMessage::user("Hello! 你好")]
}

/// The largest char-boundary cut `n` of `text` with `fits(&text[..n])`, by bisection (`fits` is
/// monotone: a shorter text never has more tokens). 0 when nothing fits.
fn longest_fitting(
    text: &str,
    fits: impl Fn(&str) -> Result<bool, LlmError>,
) -> Result<usize, LlmError> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    // Invariant: bounds[lo] fits (the empty text is taken to fit), bounds[hi] does not.
    let (mut lo, mut hi) = (0, bounds.len());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(&text[..bounds[mid]])? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(bounds[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in tokenizer: one token per char plus four per message.
    fn chars(messages: &[ChatMessage]) -> Result<usize, LlmError> {
        Ok(messages.iter().map(|m| m.content.chars().count() + 4).sum())
    }

    #[test]
    fn the_conversation_fits_the_target_closely() {
        for target in [200, 600, 1200, 3000] {
            let messages = conversation(target, &chars).expect("fits");
            let n = chars(&messages).expect("count");
            assert!(n <= target && n + 8 >= target, "target {target}: {n}");
            assert_eq!(messages[0].content.get(..10), SYSTEM.get(..10));
            assert_eq!(messages.last().map(|m| m.content.as_str()), Some(LAST));
        }
    }

    #[test]
    fn new_messages_differ_from_the_first_char() {
        let firsts: Vec<_> = (0..20).map(|i| new_message(i).chars().next()).collect();
        assert!(firsts.windows(2).all(|w| w[0] != w[1]));
        assert_ne!(new_message(0), new_message(NEW_MESSAGES.len()));
    }
}
