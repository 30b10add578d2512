//! PII masking for logs, exports and remote prompts: every masked character is replaced by a mask
//! of the same UTF-8 length (`*`, or `＊` for a three-byte character), so byte offsets into the
//! masked text are the offsets into the original.

use closer_dialogue::{Entity, EntityKind};

/// `text` with its PII entities masked: resident IDs and bank cards keep the first 6 and last 4
/// digits (`110105********002X`), phones the first 3 and last 4 of the national number
/// (`138****5678`), emails the first letter and the domain (`z*******@example.com`), WeChat IDs
/// and names their first character. Separators inside a number are kept; non-PII kinds are left
/// as they are. Entities with offsets that do not fit `text` are skipped.
pub fn mask(text: &str, entities: &[Entity]) -> String {
    let mut spans: Vec<&Entity> = entities.iter().filter(|e| e.kind.is_pii()).collect();
    spans.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in spans {
        let (start, end) = (e.start as usize, e.end as usize);
        if start < at || start >= end || text.get(start..end).is_none() {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&mask_span(e.kind, &text[start..end]));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn is_digit_like(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c) || matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn mask_span(kind: EntityKind, span: &str) -> String {
    match kind {
        EntityKind::ResidentId | EntityKind::BankCard => keep_ends(span, 6, 4, is_digit_like),
        EntityKind::Phone => {
            let n = span.chars().filter(|c| is_digit_like(*c)).count();
            if n >= 11 {
                keep_ends(span, n - 8, 4, is_digit_like)
            } else {
                keep_ends(span, n / 3, n / 3, is_digit_like)
            }
        }
        EntityKind::Email => match span.find(['@', '＠']) {
            Some(at) => keep_ends(&span[..at], 1, 0, |_| true) + &span[at..],
            None => keep_ends(span, 1, 0, is_word_char),
        },
        EntityKind::Wechat => keep_ends(span, 1, 0, |c| !c.is_whitespace()),
        EntityKind::Person => keep_ends(span, 1, 0, is_word_char),
        _ => span.to_string(),
    }
}

/// Masks the content characters of `span` except the first `first` and last `last` of them.
fn keep_ends(span: &str, first: usize, last: usize, content: impl Fn(char) -> bool) -> String {
    let n = span.chars().filter(|c| content(*c)).count();
    let mut out = String::with_capacity(span.len());
    let mut i = 0;
    for c in span.chars() {
        if !content(c) {
            out.push(c);
            continue;
        }
        if i < first || i + last >= n {
            out.push(c);
        } else {
            match c.len_utf8() {
                3 => out.push('＊'),
                len => out.extend(std::iter::repeat_n('*', len)),
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(kind: EntityKind, text: &str, all: &str) -> Entity {
        let start = all.find(text).unwrap_or(0);
        Entity {
            kind,
            text: text.into(),
            value: String::new(),
            start: start as u32,
            end: (start + text.len()) as u32,
            confidence: 1.0,
        }
    }

    #[test]
    fn masks_keep_lengths() {
        let text =
            "身份证11010519491231002X，电话138 1234 5678，邮箱zhang.san@example.com，我叫王磊";
        let entities = [
            entity(EntityKind::ResidentId, "11010519491231002X", text),
            entity(EntityKind::Phone, "138 1234 5678", text),
            entity(EntityKind::Email, "zhang.san@example.com", text),
            entity(EntityKind::Person, "王磊", text),
        ];
        let masked = mask(text, &entities);
        assert_eq!(
            masked,
            "身份证110105********002X，电话138 **** 5678，邮箱z********@example.com，我叫王＊"
        );
        assert_eq!(masked.len(), text.len());
    }
}
