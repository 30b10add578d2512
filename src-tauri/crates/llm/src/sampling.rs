//! Token choice and stop strings.

use candle_core::Tensor;
use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::{LlmError, SamplingParams};

/// Picks the next token of one suggestion: repeat penalty, then candle's sampler.
pub(crate) struct Sampler {
    processor: LogitsProcessor,
    repeat_penalty: f32,
    repeat_last_n: usize,
}

impl Sampler {
    /// Suggestion `index` samples with seed `params.seed + index`.
    pub(crate) fn new(params: &SamplingParams, index: usize) -> Self {
        let temperature = params.temperature;
        let sampling = if temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match (params.top_k, params.top_p) {
                (None, None) => Sampling::All { temperature },
                (Some(k), None) => Sampling::TopK { k, temperature },
                (None, Some(p)) => Sampling::TopP { p, temperature },
                (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
            }
        };
        Self {
            processor: LogitsProcessor::from_sampling(
                params.seed.wrapping_add(index as u64),
                sampling,
            ),
            repeat_penalty: params.repeat_penalty,
            repeat_last_n: params.repeat_last_n,
        }
    }

    /// `history` is every token so far (prompt and generated).
    pub(crate) fn next(&mut self, logits: &Tensor, history: &[u32]) -> Result<u32, LlmError> {
        let logits = if self.repeat_penalty != 1.0 && self.repeat_last_n > 0 {
            let start = history.len().saturating_sub(self.repeat_last_n);
            candle_transformers::utils::apply_repeat_penalty(
                logits,
                self.repeat_penalty,
                &history[start..],
            )?
        } else {
            logits.clone()
        };
        Ok(self.processor.sample(&logits)?)
    }
}

/// Watches streamed text for stop strings. Text that might be the start of a stop string is held
/// back until it is clear, so a stop string never reaches the reader even in part.
#[derive(Debug, Default)]
pub(crate) struct StopMatcher {
    stops: Vec<String>,
    /// Everything accepted so far.
    text: String,
    /// How much of `text` has been released.
    released: usize,
}

/// What [`StopMatcher::push`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Matched {
    /// Text that is safe to show now (may be empty).
    Continue(String),
    /// A stop string appeared: the text before it that was not yet released.
    Stop(String),
}

impl StopMatcher {
    pub(crate) fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), ..Self::default() }
    }

    pub(crate) fn push(&mut self, piece: &str) -> Matched {
        let search_from = self.released.saturating_sub(self.max_stop_len());
        self.text.push_str(piece);
        let found = self
            .stops
            .iter()
            .filter_map(|s| {
                let from = floor_char_boundary(&self.text, search_from);
                self.text[from..].find(s.as_str()).map(|i| from + i)
            })
            .min();
        if let Some(at) = found {
            let out = self.text[self.released.min(at)..at].to_owned();
            self.text.truncate(at);
            self.released = at;
            return Matched::Stop(out);
        }
        let hold = self.partial_suffix();
        let until = self.text.len() - hold;
        let out = self.text[self.released..until].to_owned();
        self.released = until;
        Matched::Continue(out)
    }

    /// The text held back at the end of generation (no stop string came).
    pub(crate) fn flush(&mut self) -> String {
        let out = self.text[self.released..].to_owned();
        self.released = self.text.len();
        out
    }

    /// The full text so far (stop string excluded).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    fn max_stop_len(&self) -> usize {
        self.stops.iter().map(String::len).max().unwrap_or(0)
    }

    /// Length of the longest suffix of the unreleased text that is a proper prefix of a stop.
    fn partial_suffix(&self) -> usize {
        let pending = &self.text[self.released..];
        let mut best = 0;
        for stop in &self.stops {
            for (i, _) in stop.char_indices().skip(1) {
                if i > best && pending.ends_with(&stop[..i]) {
                    best = i;
                }
            }
        }
        best
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut shown = String::new();
        for p in pieces {
            match m.push(p) {
                Matched::Continue(t) => shown.push_str(&t),
                Matched::Stop(t) => {
                    shown.push_str(&t);
                    assert_eq!(m.text(), shown);
                    return (shown, true);
                }
            }
        }
        shown.push_str(&m.flush());
        (shown, false)
    }

    #[test]
    fn stop_string_split_across_pieces_is_never_shown() {
        assert_eq!(run(&["\nCustomer:"], &["Sure", "!\nCus", "tomer: hi"]), ("Sure!".into(), true));
        assert_eq!(run(&["客户："], &["好的，", "客", "户：", "你好"]), ("好的，".into(), true));
    }

    #[test]
    fn a_false_start_is_released() {
        assert_eq!(run(&["END"], &["the E", "ND"]), ("the ".into(), true));
        assert_eq!(run(&["END"], &["the E", "arth"]), ("the Earth".into(), false));
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
    }

    #[test]
    fn earliest_stop_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
    }

    #[test]
    fn held_back_text_waits_for_the_next_piece() {
        let mut m = StopMatcher::new(&["<|im_end|>".to_string()]);
        assert_eq!(m.push("hello <|im"), Matched::Continue("hello ".into()));
        assert_eq!(m.push("_start"), Matched::Continue("<|im_start".into()));
    }
}
