//! The TypeScript declarations of every type that crosses IPC, generated from the Rust types.

use ts_rs::{Config, TS};

use crate::args::{
    ConversationArgs, ImportModelArgs, NoArgs, SendReplyArgs, SetLeadFieldArgs, SetModeArgs,
};
use crate::dto::{
    AppInfo, ConversationSummary, ConversationView, LeadFieldSaved, LeadFieldView, LeadView,
    MessageView, ModelView, ProductView,
};
use crate::{ApiError, ErrorCode};
use closer_dialogue::{Channel, FieldSource, Mode, Role, Stage};

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
        NoArgs::decl(&cfg),
        ConversationArgs::decl(&cfg),
        SendReplyArgs::decl(&cfg),
        SetLeadFieldArgs::decl(&cfg),
        SetModeArgs::decl(&cfg),
        ImportModelArgs::decl(&cfg),
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
