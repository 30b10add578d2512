//! The TypeScript declarations of every type that crosses IPC, generated from the Rust types.

use ts_rs::{Config, TS};

use crate::args::{
    AddIntentExampleArgs, AdoptIntentHeadArgs, AnalyzeMessageArgs, ConversationArgs,
    ImportModelArgs, NoArgs, SendReplyArgs, SetLeadFieldArgs, SetModeArgs,
};
use crate::dto::{
    AnalysisView, AppInfo, ConversationSummary, ConversationView, IntentExampleAdded,
    IntentHeadView, IntentLabelView, IntentTestScores, IntentsView, LabelScoreView, LeadFieldSaved,
    LeadFieldView, LeadView, MessageView, ModelView, NluStatus, ProductView, RetrainResult,
    ScoreSummary,
};
use crate::engine::{DecisionView, SuggestionStream, SuggestionView, TurnView};
use crate::events::AppEvent;
use crate::{ApiError, ErrorCode};
use closer_dialogue::{
    Channel, Entity, EntityKind, FieldProposal, FieldSource, IntentScore, Mode, Role, Sentiment,
    SentimentScore, Stage,
};

/// Where the generated file lives, relative to the repository root.
pub const BINDINGS_PATH: &str = "ui/src/lib/bindings.ts";

/// The content of `ui/src/lib/bindings.ts`.
pub fn typescript() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        ErrorCode::decl(&cfg),
        ApiError::decl(&cfg),
        Role::decl(&cfg),
        Mode::decl(&cfg),
        Stage::decl(&cfg),
        Channel::decl(&cfg),
        FieldSource::decl(&cfg),
        AppInfo::decl(&cfg),
        ConversationSummary::decl(&cfg),
        MessageView::decl(&cfg),
        LeadFieldView::decl(&cfg),
        LeadView::decl(&cfg),
        ConversationView::decl(&cfg),
        LeadFieldSaved::decl(&cfg),
        ProductView::decl(&cfg),
        ModelView::decl(&cfg),
        IntentScore::decl(&cfg),
        Sentiment::decl(&cfg),
        SentimentScore::decl(&cfg),
        EntityKind::decl(&cfg),
        Entity::decl(&cfg),
        FieldProposal::decl(&cfg),
        AnalysisView::decl(&cfg),
        NluStatus::decl(&cfg),
        IntentLabelView::decl(&cfg),
        LabelScoreView::decl(&cfg),
        ScoreSummary::decl(&cfg),
        IntentTestScores::decl(&cfg),
        IntentHeadView::decl(&cfg),
        IntentsView::decl(&cfg),
        IntentExampleAdded::decl(&cfg),
        RetrainResult::decl(&cfg),
        DecisionView::decl(&cfg),
        SuggestionView::decl(&cfg),
        SuggestionStream::decl(&cfg),
        TurnView::decl(&cfg),
        AppEvent::decl(&cfg),
        NoArgs::decl(&cfg),
        ConversationArgs::decl(&cfg),
        SendReplyArgs::decl(&cfg),
        SetLeadFieldArgs::decl(&cfg),
        SetModeArgs::decl(&cfg),
        ImportModelArgs::decl(&cfg),
        AnalyzeMessageArgs::decl(&cfg),
        AddIntentExampleArgs::decl(&cfg),
        AdoptIntentHeadArgs::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by `cargo test -p closer-app bindings` with\n\
         // UPDATE_BINDINGS=1. Do not edit by hand.\n",
    );
    for decl in decls {
        out.push_str("\nexport ");
        out.push_str(&decl);
        out.push('\n');
    }
    out
}
