//! CrossWOZ user utterances as a multi-label intent set, for measuring the NLU on public data.
//!
//! The source is ConvLab-3's template file (`convlab/nlg/template/crosswoz/auto_user_template_nlg.json`
//! in the PyPI sdist `convlab==3.0.1`, Apache-2.0): Chinese user utterances keyed by their dialogue
//! acts, e.g. `General+greet+none*Inform+餐馆+评分*Request+餐馆+地址`, with slot values left as
//! placeholders such as `[Inform+餐馆+评分]`.
//!
//! The conversion, fixed so that every run and machine gets the same files:
//! - labels at the act+domain level (`Inform+餐馆`, `Request+酒店`, `General+greet`), one per
//!   distinct pair in the key; the 169 utterances without any act are dropped;
//! - placeholders filled with plausible Beijing values chosen by a hash of the utterance and slot;
//! - split 80/20 **by act combination** (the whole key), in the order of a seeded hash of the key
//!   and stratified so that each label has at most a fifth of its utterances in test (see
//!   [`convert`]): the test set holds combinations, and therefore phrasings, the head never saw.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::NluError;
use crate::data::IntentLine;

/// The member of the convlab sdist that holds the templates.
pub const SDIST_MEMBER: &str = "convlab/nlg/template/crosswoz/auto_user_template_nlg.json";
/// The package it comes from.
pub const PACKAGE: &str = "convlab";
pub const VERSION: &str = "3.0.1";
/// The split's seed: changing it changes the published test set.
pub const SPLIT_SEED: &str = "closer-crosswoz-v1";

/// The converted set.
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub train: Vec<IntentLine>,
    pub test: Vec<IntentLine>,
}

/// Reads the template JSON out of the convlab sdist (`.tar.gz`).
pub fn read_sdist(path: &Path) -> Result<String, NluError> {
    let file = std::fs::File::open(path).map_err(NluError::io(path))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let bad = |message: String| NluError::Data { path: path.to_path_buf(), line: 0, message };
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let name = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
        // Members are `convlab-3.0.1/convlab/...`.
        if name.split_once('/').is_some_and(|(_, rest)| rest == SDIST_MEMBER) {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|e| bad(e.to_string()))?;
            return Ok(text);
        }
    }
    Err(bad(format!("the archive holds no {SDIST_MEMBER}")))
}

fn digest(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The act+domain labels of a key, sorted and unique.
pub fn labels_of(key: &str) -> Vec<String> {
    let mut labels: Vec<String> = key
        .split('*')
        .filter_map(|act| {
            let mut parts = act.split('+');
            let (intent, domain) = (parts.next()?, parts.next()?);
            (!intent.is_empty() && !domain.is_empty()).then(|| format!("{intent}+{domain}"))
        })
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

/// Plausible values for a placeholder's domain and slot.
fn values(domain: &str, slot: &str, flag: Option<&str>) -> &'static [&'static str] {
    match (domain, slot, flag) {
        (_, "门票", Some("免费")) => &["免费", "免门票", "不要门票"],
        ("景点", "名称", _) => &[
            "故宫博物院",
            "天坛公园",
            "颐和园",
            "八达岭长城",
            "北海公园",
            "南锣鼓巷",
            "什刹海",
            "798艺术区",
            "景山公园",
            "圆明园",
            "恭王府",
            "雍和宫",
            "香山公园",
            "中国国家博物馆",
            "北京动物园",
            "奥林匹克森林公园",
        ],
        ("餐馆", "名称", _) => &[
            "全聚德(前门店)",
            "东来顺饭庄",
            "海底捞火锅(王府井店)",
            "便宜坊烤鸭店",
            "四季民福烤鸭店",
            "大董烤鸭店",
            "护国寺小吃",
            "鼎泰丰(国贸店)",
            "眉州东坡酒楼",
            "西贝莜面村",
            "老北京炸酱面大王",
            "局气(西单店)",
            "金鼎轩",
            "花家怡园",
        ],
        ("酒店", "名称", _) => &[
            "北京饭店",
            "王府井希尔顿酒店",
            "如家快捷酒店(西单店)",
            "汉庭酒店(北京站店)",
            "北京国际饭店",
            "7天连锁酒店(天安门店)",
            "北京香格里拉饭店",
            "桔子酒店(国贸店)",
            "全季酒店(前门店)",
            "北京诺富特和平宾馆",
            "北京京伦饭店",
            "锦江之星(王府井店)",
        ],
        (_, "评分", _) => {
            &["4.5分以上", "4.7分", "4分以上", "4.8分", "5分", "4.6分以上", "4.2分"]
        }
        ("餐馆", "人均消费", _) => {
            &["50-100元", "100元左右", "150-200元", "100-150元", "50元以下", "200元以上"]
        }
        ("餐馆", "推荐菜", _) => &[
            "北京烤鸭",
            "涮羊肉",
            "炸酱面",
            "宫保鸡丁",
            "卤煮",
            "豆汁",
            "烤鸭卷饼",
            "麻婆豆腐",
            "水煮鱼",
            "糖醋里脊",
            "京酱肉丝",
            "爆肚",
        ],
        ("景点", "游玩时间", _) => {
            &["1小时 - 2小时", "2小时 - 3小时", "3小时 - 4小时", "半天", "1天", "1小时"]
        }
        ("景点", "门票", _) => &["免费", "20元", "40元", "60元", "10元", "100元以下"],
        ("酒店", "价格", _) => {
            &["300-400元", "500元", "200元左右", "600-800元", "1000元以上", "400元"]
        }
        ("酒店", "酒店类型", _) => &["经济型", "舒适型", "高档型", "豪华型"],
        ("酒店", "酒店设施", _) => &[
            "免费WiFi",
            "叫醒服务",
            "停车场",
            "健身房",
            "游泳池",
            "会议室",
            "接机服务",
            "早餐服务",
            "24小时热水",
            "行李寄存",
            "洗衣服务",
            "无烟房",
        ],
        ("地铁" | "出租", "出发地" | "目的地", _) => &[
            "故宫博物院",
            "北京站",
            "北京西站",
            "首都机场",
            "天坛公园",
            "王府井",
            "三里屯",
            "颐和园",
            "国贸",
            "西单",
            "鸟巢",
            "南锣鼓巷",
        ],
        _ => &["这里"],
    }
}

/// Fills every `[Act+Domain+Slot…]` placeholder of `utterance` (the `index`-th of its key).
pub fn fill(utterance: &str, key: &str, index: usize) -> String {
    let mut out = String::with_capacity(utterance.len() + 32);
    let mut rest = utterance;
    let index = index.to_string();
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            out.push_str(&rest[open..]);
            return out;
        };
        let placeholder = &rest[open + 1..close];
        let parts: Vec<&str> = placeholder.split('+').collect();
        if parts.len() >= 3 {
            let domain = parts[1];
            let slot = parts[2].trim_end_matches(|c: char| c.is_ascii_digit());
            let flag = parts.get(3).map(|f| f.trim_end_matches(|c: char| c.is_ascii_digit()));
            let choices = values(domain, slot, flag);
            let pick = digest(&[SPLIT_SEED, key, &index, placeholder]) as usize % choices.len();
            out.push_str(choices[pick]);
        } else {
            out.push_str(&rest[open..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Converts the template JSON into the train and test sets.
///
/// The split assigns whole act combinations. Going through the combinations in the order of a
/// seeded hash, a combination goes to test while each of its labels still has room there (test
/// holds at most a fifth of each label's utterances), else to train. A combination that alone
/// holds more than a fifth of a label's utterances (`General+thank+none` has thousands) therefore
/// always trains, and every label is tested on combinations the head never saw.
pub fn convert(json: &str) -> Result<Split, NluError> {
    let templates: BTreeMap<String, Vec<String>> = serde_json::from_str(json).map_err(|e| {
        NluError::Data { path: SDIST_MEMBER.into(), line: e.line(), message: e.to_string() }
    })?;
    let mut keys: Vec<(u64, &String, Vec<String>, usize)> = templates
        .iter()
        .map(|(key, utterances)| {
            (digest(&[SPLIT_SEED, key]), key, labels_of(key), utterances.len())
        })
        .filter(|(_, _, labels, _)| !labels.is_empty())
        .collect();
    keys.sort();
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, labels, n) in &keys {
        for l in labels {
            *total.entry(l.as_str()).or_default() += n;
        }
    }
    let mut in_test: BTreeMap<String, usize> = BTreeMap::new();
    let mut split = Split::default();
    for (_, key, labels, n) in &keys {
        let fits = labels.iter().all(|l| {
            let room = total[l.as_str()] / 5;
            in_test.get(l).copied().unwrap_or(0) + n <= room
        });
        if fits {
            for l in labels {
                *in_test.entry(l.clone()).or_default() += n;
            }
        }
        for (i, u) in templates[*key].iter().enumerate() {
            let text = fill(u, key, i);
            if text.trim().is_empty() {
                continue;
            }
            let line = IntentLine { text, labels: labels.clone(), lang: Some("zh".into()) };
            if fits { split.test.push(line) } else { split.train.push(line) }
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_act_and_domain() {
        assert_eq!(
            labels_of("General+greet+none*Inform+餐馆+评分*Request+餐馆+地址*Inform+餐馆+名称"),
            vec!["General+greet", "Inform+餐馆", "Request+餐馆"]
        );
        assert!(labels_of("").is_empty());
    }

    #[test]
    fn placeholders_are_filled_deterministically() {
        let key = "Inform+酒店+价格*Inform+酒店+评分";
        let u = "我想入住一家最低价格是[Inform+酒店+价格]，评分是[Inform+酒店+评分]的酒店";
        let a = fill(u, key, 3);
        assert!(!a.contains('['), "{a}");
        assert_eq!(a, fill(u, key, 3));
        assert!(a.contains('元') && a.contains('分'), "{a}");
        assert_eq!(fill("免费[Inform+景点+门票+免费]", "k", 0).matches('[').count(), 0);
    }

    #[test]
    fn split_is_by_act_combination() {
        let mut json = BTreeMap::new();
        for k in 0..200 {
            json.insert(
                format!("Inform+餐馆+名称*Request+酒店+x{k}"),
                vec![format!("句子{k}a"), format!("句子{k}b")],
            );
        }
        json.insert(String::new(), vec!["没有标注".to_owned()]);
        let split = convert(&serde_json::to_string(&json).expect("json")).expect("convert");
        assert_eq!(split.train.len() + split.test.len(), 400);
        // Both utterances of a key land on the same side.
        for line in &split.test {
            let sibling = if line.text.ends_with('a') { 'b' } else { 'a' };
            let other = format!("{}{sibling}", &line.text[..line.text.len() - 1]);
            assert!(split.test.iter().any(|l| l.text == other), "{}", line.text);
        }
        // Every label has at most a fifth of its utterances in test, and each gets some.
        let count = |lines: &[IntentLine], label: &str| {
            lines.iter().filter(|l| l.labels.iter().any(|x| x == label)).count()
        };
        assert!(count(&split.test, "Inform+餐馆") <= 80, "{}", split.test.len());
        assert!(count(&split.test, "Inform+餐馆") >= 60, "{}", split.test.len());
    }
}
