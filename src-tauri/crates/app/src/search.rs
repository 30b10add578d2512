//! Full-text search over stored messages (SQLite FTS5), for the console inbox.
//!
//! The store does the work ([`closer_store::search`]: a trigram index, so Chinese and English
//! substrings both match; 1–2 character terms by a bounded `LIKE`; the query is always data, never
//! FTS syntax). This module checks the console's arguments and shapes the hits: each snippet is a
//! list of parts marked `hit` or not, which the console renders as text (never as markup).

use closer_dialogue::{Channel, Mode, Role, Stage};
use closer_store::{SearchHit, SearchOrder, SearchQuery, SnippetPart};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ApiError;
use crate::args::Validate;

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Hits returned when the console does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most hits one search may ask for.
pub const MAX_LIMIT: u32 = 200;

/// How the hits are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SearchOrderArg {
    /// Newest message first (the default).
    #[default]
    Newest,
    /// Best match first.
    Relevance,
}

/// Arguments of `search_messages`.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchMessagesArgs {
    /// What the user typed: whitespace-separated terms, every one must occur (as a substring).
    pub query: String,
    /// At most this many hits (1–200, default 50).
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<u32>,
    #[serde(default)]
    #[ts(optional)]
    pub order: Option<SearchOrderArg>,
    /// Only conversations in this channel, stage or mode.
    #[serde(default)]
    #[ts(optional)]
    pub channel: Option<Channel>,
    #[serde(default)]
    #[ts(optional)]
    pub stage: Option<Stage>,
    #[serde(default)]
    #[ts(optional)]
    pub mode: Option<Mode>,
}

impl Validate for SearchMessagesArgs {
    fn validate(&self) -> Result<(), ApiError> {
        let chars = self.query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(ApiError::new(
                crate::ErrorCode::TooLarge,
                format!("the search query is {chars} characters; the limit is {MAX_QUERY_CHARS}"),
            ));
        }
        if closer_store::search::terms(&self.query).is_empty() {
            return Err(ApiError::invalid("the search query is empty"));
        }
        if let Some(limit) = self.limit
            && !(1..=MAX_LIMIT).contains(&limit)
        {
            return Err(ApiError::invalid(format!("limit {limit} (1 to {MAX_LIMIT})")));
        }
        Ok(())
    }
}

/// A piece of a hit's snippet: matched text (`hit`) or the text around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SnippetPartView {
    pub text: String,
    pub hit: bool,
}

/// One message that matched.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchHitView {
    #[ts(type = "number")]
    pub conversation_id: i64,
    /// The message's stable id (its event id).
    #[ts(type = "number")]
    pub message_id: i64,
    /// Its position in the conversation view's `messages` (0-based), to scroll to it.
    #[ts(type = "number")]
    pub message_index: i64,
    pub role: Role,
    #[ts(type = "number")]
    pub at: i64,
    pub customer_name: String,
    pub channel: Channel,
    /// The text around the first match, cut with `…`, matches marked.
    pub snippet: Vec<SnippetPartView>,
}

impl From<SearchHit> for SearchHitView {
    fn from(h: SearchHit) -> Self {
        Self {
            conversation_id: h.conversation_id,
            message_id: h.message_id,
            message_index: h.message_index,
            role: h.role,
            at: h.at,
            customer_name: h.customer_name,
            channel: h.channel,
            snippet: h
                .snippet
                .into_iter()
                .map(|SnippetPart { text, hit }| SnippetPartView { text, hit })
                .collect(),
        }
    }
}

impl crate::Api {
    /// Messages containing every term of the query, newest (or best) first.
    pub fn search_messages(
        &self,
        args: SearchMessagesArgs,
    ) -> Result<Vec<SearchHitView>, ApiError> {
        args.validate()?;
        let query = SearchQuery {
            text: args.query,
            limit: args.limit.unwrap_or(DEFAULT_LIMIT) as usize,
            order: match args.order.unwrap_or_default() {
                SearchOrderArg::Newest => SearchOrder::Newest,
                SearchOrderArg::Relevance => SearchOrder::Relevance,
            },
            channel: args.channel,
            stage: args.stage,
            mode: args.mode,
        };
        let hits = self.store.search_messages(&query)?;
        Ok(hits.into_iter().map(SearchHitView::from).collect())
    }
}
