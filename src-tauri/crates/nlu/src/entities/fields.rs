//! Lead-field proposals: entities mapped onto the manager's schema by field type, and free-text
//! fields read after one of their cue words (行业 → 跨境电商).

use closer_dialogue::{Entity, EntityKind, FieldProposal, FieldSpec, FieldType};

use super::fold::{Folded, is_clause_break};

/// Proposes values for `schema`'s fields from a message and its entities. The n-th field of a
/// type takes the n-th entity of the matching kind, except that an entity right after one of the
/// field's cues (预算 → budget) is preferred. A `text` field takes the phrase after one of its
/// cues, trimmed to the clause. Fields with nothing to propose are left out.
pub fn propose_fields(schema: &[FieldSpec], text: &str, entities: &[Entity]) -> Vec<FieldProposal> {
    let lower = text.to_ascii_lowercase();
    let mut used = vec![false; entities.len()];
    let mut proposals = Vec::new();
    for field in schema {
        let kind = match field.field_type {
            FieldType::Text => {
                if let Some(value) = phrase_after_cue(text, &field.cues) {
                    proposals.push(FieldProposal {
                        field: field.key.clone(),
                        value,
                        confidence: 0.7,
                    });
                }
                continue;
            }
            FieldType::Phone => EntityKind::Phone,
            FieldType::Email => EntityKind::Email,
            FieldType::Wechat => EntityKind::Wechat,
            FieldType::Money => EntityKind::Money,
            FieldType::Quantity => EntityKind::Quantity,
            FieldType::Date => EntityKind::DateTime,
            FieldType::Company => EntityKind::Company,
            FieldType::Person => EntityKind::Person,
        };
        let free = || entities.iter().enumerate().filter(|(i, e)| !used[*i] && e.kind == kind);
        let pick = free()
            .find(|(_, e)| cue_before(&lower, e.start as usize, &field.cues))
            .or_else(|| free().next())
            .map(|(i, e)| (i, e.value.clone(), e.confidence));
        if let Some((i, value, confidence)) = pick {
            used[i] = true;
            proposals.push(FieldProposal { field: field.key.clone(), value, confidence });
        }
    }
    proposals
}

/// One of `cues` in the clause just before byte `at` (at most 12 characters back).
fn cue_before(lower: &str, at: usize, cues: &[String]) -> bool {
    let Some(before) = lower.get(..at) else { return false };
    let clause = before
        .rfind(|c: char| is_clause_break(crate::entities::fold::fold_char(c)))
        .map_or(before, |i| &before[i..]);
    let window: String =
        clause.chars().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    cues.iter().any(|c| !c.is_empty() && window.contains(&c.to_ascii_lowercase()))
}

/// Fillers between a cue and its value: `行业是`, `industry: `, `主要是`.
const FILLERS: &[&str] = &[
    "主要是",
    "主要",
    "属于",
    "就是",
    "是",
    "为",
    ":",
    "：",
    "-",
    "呢",
    "的话",
    "方面",
    "大概",
    "is",
    "are",
    "in",
    "the",
    "a",
];
/// Trailing words that are not part of the value: `跨境电商的`, `教育这块`.
const TRAILING: &[&str] =
    &["这块", "这一块", "方面", "领域", "的", "啦", "呀", "哈", "吧", "呢", "啊", "哦", "嘛", "了"];

/// The phrase after the earliest cue in `text`, up to the end of its clause.
fn phrase_after_cue(text: &str, cues: &[String]) -> Option<String> {
    let folded = Folded::new(text);
    let lower = folded.text.to_ascii_lowercase();
    let (at, cue) = cues
        .iter()
        .filter(|c| !c.trim().is_empty())
        .filter_map(|c| {
            let c = Folded::new(c).text.to_ascii_lowercase();
            lower.find(&c).map(|i| (i, c))
        })
        .min_by_key(|(i, c)| (*i, usize::MAX - c.len()))?;
    let mut rest = &folded.text[at + cue.len()..];
    'fill: loop {
        let trimmed = rest.trim_start();
        for filler in FILLERS {
            if let Some(head) = trimmed.get(..filler.len())
                && head.eq_ignore_ascii_case(filler)
                && (!filler.is_ascii()
                    || !filler.chars().all(|c| c.is_ascii_alphabetic())
                    || !trimmed[filler.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
            {
                rest = &trimmed[filler.len()..];
                continue 'fill;
            }
        }
        rest = trimmed;
        break;
    }
    let end = rest.find(is_clause_break).unwrap_or(rest.len());
    let mut value = rest[..end].trim();
    'trail: loop {
        for t in TRAILING {
            if let Some(v) = value.strip_suffix(t)
                && !v.trim().is_empty()
            {
                value = v.trim_end();
                continue 'trail;
            }
        }
        break;
    }
    if value.is_empty() || value.chars().count() > 40 {
        return None;
    }
    // Map the folded value back to the original text.
    let start = folded.text.len() - rest.len();
    let (s, e) = folded.original_range(start, start + value.len());
    text.get(s..e).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_field_after_cue() {
        let cues = ["行业".to_string(), "industry".to_string(), "我们是做".to_string()];
        assert_eq!(
            phrase_after_cue("我们是做跨境电商的，想了解一下", &cues).as_deref(),
            Some("跨境电商")
        );
        assert_eq!(phrase_after_cue("行业：教育，规模100人", &cues).as_deref(), Some("教育"));
        assert_eq!(phrase_after_cue("Our industry is retail.", &cues).as_deref(), Some("retail"));
        assert_eq!(phrase_after_cue("你好", &cues), None);
    }
}
