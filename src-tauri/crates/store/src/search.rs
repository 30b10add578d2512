//! Full-text search over stored messages (SQLite FTS5, migration 0004).
//!
//! Key decisions:
//! - **Trigram index.** `message_fts` indexes every 3-character window of each message, so a
//!   query matches any substring, in Chinese (no spaces between words) as in English, ignoring
//!   case. Triggers on `conversation_events` keep it in sync; erasure and purge delete through them.
//! - **The query is data, never FTS syntax.** Each whitespace-separated term becomes one quoted
//!   FTS5 string (`"` doubled), terms are ANDed; `AND`, `NEAR`, `*`, `:`, `^`, parentheses and
//!   quotes in what the user typed are matched literally and cannot make the query fail.
//! - **Short terms.** A trigram index cannot answer a term of 1 or 2 characters (`价`, `报价`, `5G`).
//!   Such terms are checked with `LIKE` (wildcards escaped) on the rows the long terms matched;
//!   a query of short terms only scans the newest [`SHORT_QUERY_SCAN`] messages.
//! - **Snippets are structured.** A hit carries its snippet as parts marked hit / not hit, cut
//!   around the first match; the console renders them as text, so nothing in a message can
//!   become markup.

use closer_dialogue::{Channel, Millis, Mode, Role, Stage};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params_from_iter};

use crate::{Store, StoreError};

/// The most messages a query of only 1–2 character terms examines (newest first).
pub const SHORT_QUERY_SCAN: i64 = 200_000;
/// The most hits one search returns.
pub const MAX_HITS: usize = 500;
/// Characters of context kept before the first match in a snippet.
const SNIPPET_BEFORE: usize = 20;
/// Characters a snippet holds at most (beyond that the text is cut with `…`).
const SNIPPET_CHARS: usize = 96;

/// How hits are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SearchOrder {
    /// Most recently stored message first.
    #[default]
    Newest,
    /// Best match first (FTS5 bm25); ties and short-term-only queries newest first.
    Relevance,
}

/// A search over message text.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// What the user typed.
    pub text: String,
    /// At most this many hits (capped at [`MAX_HITS`]).
    pub limit: usize,
    pub order: SearchOrder,
    /// Only conversations in this channel / stage / mode.
    pub channel: Option<Channel>,
    pub stage: Option<Stage>,
    pub mode: Option<Mode>,
}

/// A piece of a snippet: matched text or the text around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

/// One message that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub conversation_id: i64,
    /// The message's event id (stable; `conversation_events.id`).
    pub message_id: i64,
    /// Its position among the conversation's messages (0-based), as the conversation view lists them.
    pub message_index: i64,
    pub role: Role,
    pub at: Millis,
    pub customer_name: String,
    pub channel: Channel,
    pub snippet: Vec<SnippetPart>,
}

/// The terms of a query: whitespace-separated, control characters dropped, empty ones skipped.
pub fn terms(query: &str) -> Vec<String> {
    query
        .split_whitespace()
        .map(|t| t.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|t| !t.is_empty())
        .collect()
}

/// One term as an FTS5 string: quoted, inner quotes doubled. Everything inside is literal.
pub fn fts_string(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// One term as a `LIKE` pattern with `\` as the escape character.
pub fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn is_long(term: &str) -> bool {
    term.chars().count() >= 3
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// The snippet of `text` around the matches of `terms` (case-insensitive).
pub fn snippet(text: &str, terms: &[String]) -> Vec<SnippetPart> {
    let chars: Vec<char> = text.chars().collect();
    let folded: Vec<char> = chars.iter().map(|c| fold(*c)).collect();
    let mut marked = vec![false; chars.len()];
    for term in terms {
        let t: Vec<char> = term.chars().map(fold).collect();
        if t.is_empty() || t.len() > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - t.len() {
            if folded[start..start + t.len()] == t[..] {
                marked[start..start + t.len()].iter_mut().for_each(|m| *m = true);
            }
        }
    }
    let first = marked.iter().position(|m| *m).unwrap_or(0);
    let mut from = first.saturating_sub(SNIPPET_BEFORE);
    let to = (from + SNIPPET_CHARS).min(chars.len());
    if to - from < SNIPPET_CHARS {
        from = to.saturating_sub(SNIPPET_CHARS);
    }
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut push = |c: char, hit: bool| match parts.last_mut() {
        Some(p) if p.hit == hit => p.text.push(c),
        _ => parts.push(SnippetPart { text: c.to_string(), hit }),
    };
    if from > 0 {
        push('…', false);
    }
    for i in from..to {
        push(chars[i], marked[i]);
    }
    if to < chars.len() {
        push('…', false);
    }
    parts
}

impl Store {
    /// Messages whose text contains every term of the query (see the module doc). An empty query
    /// finds nothing.
    pub fn search_messages(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let terms = terms(&query.text);
        let limit = query.limit.min(MAX_HITS);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let (long, short): (Vec<&String>, Vec<&String>) = terms.iter().partition(|t| is_long(t));
        let mut args: Vec<Value> = Vec::new();
        let mut filters: Vec<String> = Vec::new();
        for term in &short {
            args.push(Value::Text(like_pattern(term)));
            filters.push(format!("f.text LIKE ?{} ESCAPE '\\'", args.len()));
        }
        for (column, value) in [
            ("c.channel", query.channel.map(Channel::as_str)),
            ("c.stage", query.stage.map(Stage::as_str)),
            ("c.mode", query.mode.map(Mode::as_str)),
        ] {
            if let Some(v) = value {
                args.push(Value::Text(v.to_owned()));
                filters.push(format!("{column} = ?{}", args.len()));
            }
        }
        let conn = self.conn();
        let order = if long.is_empty() {
            // Only 1–2 character terms: the newest SHORT_QUERY_SCAN messages, scanned newest
            // first (FTS5 walks rowids in order and stops at the limit).
            let lowest: i64 = conn
                .query_row(
                    "SELECT rowid FROM message_fts ORDER BY rowid DESC LIMIT 1 OFFSET ?1",
                    [SHORT_QUERY_SCAN - 1],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(i64::MIN);
            args.push(Value::Integer(lowest));
            filters.push(format!("f.rowid >= ?{}", args.len()));
            "f.rowid DESC"
        } else {
            let expr = long.iter().map(|t| fts_string(t)).collect::<Vec<_>>().join(" ");
            args.push(Value::Text(expr));
            filters.push(format!("message_fts MATCH ?{}", args.len()));
            match query.order {
                SearchOrder::Newest => "f.rowid DESC",
                SearchOrder::Relevance => "f.rank, f.rowid DESC",
            }
        };
        args.push(Value::Integer(limit as i64));
        // CROSS JOIN keeps the index as the outer loop, so the limit stops the scan early.
        let sql = format!(
            "SELECT f.rowid, f.conversation_id, f.role, f.at, f.text, c.customer_name, c.channel,
                    (SELECT count(*) FROM conversation_events e
                      WHERE e.conversation_id = f.conversation_id AND e.kind = 'message'
                        AND e.id < f.rowid)
             FROM message_fts f CROSS JOIN conversations c ON c.id = f.conversation_id
             WHERE {}
             ORDER BY {order} LIMIT ?{}",
            filters.join(" AND "),
            args.len()
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                let role: String = r.get(2)?;
                let channel: String = r.get(6)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    role,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    channel,
                    r.get::<_, i64>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(message_id, conversation_id, role, at, text, customer_name, channel, index)| {
                Ok(SearchHit {
                    conversation_id,
                    message_id,
                    message_index: index,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::BadValue(format!("role {role:?}")))?,
                    at,
                    customer_name,
                    channel: Channel::parse(&channel)
                        .ok_or_else(|| StoreError::BadValue(format!("channel {channel:?}")))?,
                    snippet: snippet(&text, &terms),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_strings_are_quoted_literals() {
        assert_eq!(fts_string("a\"b"), "\"a\"\"b\"");
        assert_eq!(fts_string("NEAR(x"), "\"NEAR(x\"");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("5%_\\"), "%5\\%\\_\\\\%");
    }

    #[test]
    fn snippet_marks_matches_and_cuts_long_text() {
        let text = format!("{}价格是多少{}", "很".repeat(50), "呢".repeat(100));
        let parts = snippet(&text, &["价格".to_owned()]);
        assert_eq!(
            parts.iter().filter(|p| p.hit).map(|p| p.text.as_str()).collect::<Vec<_>>(),
            ["价格"]
        );
        assert!(
            parts[0].text.starts_with('…') && parts.last().is_some_and(|p| p.text.ends_with('…'))
        );
        let total: usize = parts.iter().map(|p| p.text.chars().count()).sum();
        assert!(total <= SNIPPET_CHARS + 2, "{total}");
        let en = snippet("The PRICE of price", &["price".to_owned()]);
        assert_eq!(en.iter().filter(|p| p.hit).count(), 2);
    }
}
