//! The labelled JSONL formats the heads are trained and measured on.
//!
//! - Intents: `{"text": "...", "labels": ["a", "b"], "lang": "zh"}` (`lang` optional).
//! - Sentiment: `{"text": "...", "label": "hesitant", "lang": "en"}` (`lang` optional).
//!
//! A line that does not parse is an error naming the file and line; blank lines are skipped.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::NluError;

/// One labelled message of an intent set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentLine {
    pub text: String,
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// One labelled message of a sentiment set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentLine {
    pub text: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// Parses JSONL text; `path` names it in errors.
pub fn parse_jsonl<T: DeserializeOwned>(path: &Path, text: &str) -> Result<Vec<T>, NluError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| NluError::Data {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Reads a JSONL file.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, NluError> {
    let text = std::fs::read_to_string(path).map_err(NluError::io(path))?;
    parse_jsonl(path, &text)
}

/// Writes JSONL, via a temporary file and a rename.
pub fn write_jsonl<T: Serialize>(path: &Path, lines: &[T]) -> Result<(), NluError> {
    let mut out = String::new();
    for line in lines {
        let json = serde_json::to_string(line).map_err(|e| NluError::Data {
            path: path.to_path_buf(),
            line: 0,
            message: e.to_string(),
        })?;
        out.push_str(&json);
        out.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(NluError::io(dir))?;
    }
    let part = path.with_extension(format!("part-{}", std::process::id()));
    std::fs::write(&part, out).map_err(NluError::io(&part))?;
    std::fs::rename(&part, path).map_err(NluError::io(path))
}

/// The labelled sets bundled with the app (`data/`, see its README): the default heads are
/// trained on the train parts and candidate heads are measured on the test parts.
pub const BUNDLED_SALES_TRAIN: &str = include_str!("../data/sales/train.jsonl");
pub const BUNDLED_SALES_TEST: &str = include_str!("../data/sales/test.jsonl");
pub const BUNDLED_SENTIMENT_TRAIN: &str = include_str!("../data/sentiment/train.jsonl");
pub const BUNDLED_SENTIMENT_TEST: &str = include_str!("../data/sentiment/test.jsonl");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named() {
        let text = "{\"text\":\"hi\",\"labels\":[\"greeting\"]}\n\n{\"text\": 3}\n";
        let err = parse_jsonl::<IntentLine>(Path::new("x.jsonl"), text).expect_err("bad line");
        assert!(err.to_string().starts_with("x.jsonl:3:"), "{err}");
        let ok =
            parse_jsonl::<IntentLine>(Path::new("x.jsonl"), text.lines().next().expect("line"))
                .expect("good");
        assert_eq!(ok[0].labels, ["greeting"]);
    }
}
