//! The TypeScript declarations of every type that crosses IPC, generated from the Rust types.

use ts_rs::{Config, TS};

use crate::args::{
    AddIntentExampleArgs, AdoptIntentHeadArgs, AnalyzeMessageArgs, BottleCrmArgs, ChooseModelArgs,
    ConfigureChannelsArgs, ConfigureCrmArgs, ConfigureRemoteModelArgs, ConversationArgs,
    CustomerMessageArgs, DeadLetterArgs, EraseLeadConfirmedArgs, FetchModelArgs, HubSpotArgs,
    ImportModelArgs, NoArgs, RejectSuggestionArgs, RollbackStrategyArgs, SaveStrategyDraftArgs,
    SendReplyArgs, SendSuggestionArgs, SetCrmCredentialArgs, SetLeadFieldArgs, SetModeArgs,
    SetRemoteModelKeyArgs, SetWebhookSecretArgs, TestStrategyArgs, WebhookArgs,
};
use crate::console::{
    ChannelsView, ConversationDetails, CountView, DashboardView, FunnelStepView, HandoffView,
    ModelStatusView, RegeneratedView, ResponseTimeView, SavedChannels, SentimentSeriesView,
    StrategyChangeView, StrategyIssueView, StrategyOverview, StrategyTestSample, StrategyTrial,
    StrategyVersionView, SuggestionRecordView, SuggestionStatsView, TurnAnnotationView,
    VersionStatsView,
};
use crate::crm::{CrmSecret, CrmSettings, CrmStatusView, DeadLetterView};
use crate::dto::{
    AnalysisView, AppInfo, ConversationSummary, ConversationView, DeliveryView, ExportTableView,
    IntentExampleAdded, IntentHeadView, IntentLabelView, IntentTestScores, IntentsView,
    LabelScoreView, LeadExportView, LeadFieldSaved, LeadFieldView, LeadSyncView, LeadView,
    MessageView, ModelView, NluStatus, ProductView, RetentionView, RetrainResult, ScoreSummary,
};
use crate::engine::{DecisionView, SuggestionStream, SuggestionView, TurnView};
use crate::events::AppEvent;
use crate::privacy::{
    ErasureView, ExportLeadArgs, MessageStorageMode, MessageStorageView, PurgeView,
    SetMessageStorageArgs, SetRetentionArgs,
};
use crate::search::{SearchHitView, SearchMessagesArgs, SearchOrderArg, SnippetPartView};
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
        DeliveryView::decl(&cfg),
        LeadFieldView::decl(&cfg),
        LeadSyncView::decl(&cfg),
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
        TurnAnnotationView::decl(&cfg),
        SuggestionRecordView::decl(&cfg),
        HandoffView::decl(&cfg),
        ConversationDetails::decl(&cfg),
        StrategyVersionView::decl(&cfg),
        StrategyChangeView::decl(&cfg),
        StrategyIssueView::decl(&cfg),
        StrategyOverview::decl(&cfg),
        StrategyTrial::decl(&cfg),
        StrategyTestSample::decl(&cfg),
        CountView::decl(&cfg),
        FunnelStepView::decl(&cfg),
        SuggestionStatsView::decl(&cfg),
        VersionStatsView::decl(&cfg),
        ResponseTimeView::decl(&cfg),
        SentimentSeriesView::decl(&cfg),
        DashboardView::decl(&cfg),
        crate::models::RemoteModelView::decl(&cfg),
        crate::models::FetchView::decl(&cfg),
        ModelStatusView::decl(&cfg),
        CustomerMessageArgs::decl(&cfg),
        SendSuggestionArgs::decl(&cfg),
        RejectSuggestionArgs::decl(&cfg),
        SaveStrategyDraftArgs::decl(&cfg),
        RollbackStrategyArgs::decl(&cfg),
        TestStrategyArgs::decl(&cfg),
        ChooseModelArgs::decl(&cfg),
        FetchModelArgs::decl(&cfg),
        ConfigureRemoteModelArgs::decl(&cfg),
        SetRemoteModelKeyArgs::decl(&cfg),
        RegeneratedView::decl(&cfg),
        CrmSettings::decl(&cfg),
        CrmSecret::decl(&cfg),
        CrmStatusView::decl(&cfg),
        DeadLetterView::decl(&cfg),
        BottleCrmArgs::decl(&cfg),
        HubSpotArgs::decl(&cfg),
        WebhookArgs::decl(&cfg),
        ConfigureCrmArgs::decl(&cfg),
        SetCrmCredentialArgs::decl(&cfg),
        DeadLetterArgs::decl(&cfg),
        ExportTableView::decl(&cfg),
        LeadExportView::decl(&cfg),
        ErasureView::decl(&cfg),
        PurgeView::decl(&cfg),
        RetentionView::decl(&cfg),
        ExportLeadArgs::decl(&cfg),
        EraseLeadConfirmedArgs::decl(&cfg),
        SetRetentionArgs::decl(&cfg),
        SearchOrderArg::decl(&cfg),
        SearchMessagesArgs::decl(&cfg),
        SnippetPartView::decl(&cfg),
        SearchHitView::decl(&cfg),
        MessageStorageMode::decl(&cfg),
        MessageStorageView::decl(&cfg),
        SetMessageStorageArgs::decl(&cfg),
        SavedChannels::decl(&cfg),
        ChannelsView::decl(&cfg),
        ConfigureChannelsArgs::decl(&cfg),
        SetWebhookSecretArgs::decl(&cfg),
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
    out.push_str(STRATEGY_DOCUMENT);
    out
}

/// The strategy document's JSON shape (`closer_dialogue::document::StrategyDocument`, which has
/// no TypeScript derive: it is written here by hand and read back by the API, which checks it).
const STRATEGY_DOCUMENT: &str = r#"
export type Bilingual = { zh: string; en: string };

export type LeadFieldSpecJson = { key: string; field_type: string; required: boolean; label_zh: string; label_en: string; ask_zh: string; ask_en: string; cues: string[]; crm_field: string | null };

export type StrategyDocumentJson = { schema: number; persona: Bilingual; tone: Bilingual; goals: Bilingual[]; proactivity: 'low' | 'balanced' | 'high'; handoff_threshold: number; misunderstanding_limit: number; max_promotions: number; auto_send_objections: boolean; lead_fields: LeadFieldSpecJson[]; examples: { language: string; customer: string; reply: string }[]; playbook: { objection: string; responses: Bilingual[]; cues?: string[] }[]; promotions: { id: string; eligibility: { stages: Stage[]; products: string[] }; offer: Bilingual; discount: unknown }[]; scripts: { id: string; scenario: string; name: Bilingual; steps: { kind: string; text: Bilingual }[]; [key: string]: unknown }[] };
"#;
