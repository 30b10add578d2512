// Generated from the Rust types by `cargo test -p closer-app bindings` with
// UPDATE_BINDINGS=1. Do not edit by hand.

export type ErrorCode = "invalid_argument" | "too_large" | "not_found" | "corrupt_database" | "database_too_new" | "invalid_model" | "storage" | "internal";

export type ApiError = { code: ErrorCode, message: string, };

export type Role = "customer" | "salesperson" | "ai" | "system";

export type Mode = "off" | "draft" | "auto";

export type Stage = "new" | "engaged" | "qualified" | "proposal" | "negotiation" | "won" | "lost" | "handed_off";

export type Channel = "widget" | "webhook" | "simulator" | "call";

export type FieldSource = "ai" | "crm" | "salesperson";

export type AppInfo = { version: string, dataDir: string, database: string, logDir: string, schemaVersion: number, };

export type ConversationSummary = { id: number, customerName: string, channel: Channel, 
/**
 * `zh` or `en`: the customer's language.
 */
language: string, stage: Stage, mode: Mode, handoffRequested: boolean, lastMessageRole: Role | null, lastMessageText: string, lastMessageAt: number | null, 
/**
 * Since when the customer has been waiting for a reply (Unix ms), if they are.
 */
waitingSince: number | null, unread: number, };

export type MessageView = { role: Role, text: string, at: number, };

export type LeadFieldView = { field: string, value: string, source: FieldSource, confidence: number, updatedAt: number, };

export type LeadView = { id: number, 
/**
 * The stable key the CRM upserts by.
 */
externalKey: string, crmId: string | null, 
/**
 * Changes waiting for the CRM relay.
 */
pendingSync: number, fields: Array<LeadFieldView>, };

export type ConversationView = { summary: ConversationSummary, stageReason: string, messages: Array<MessageView>, lead: LeadView, };

export type LeadFieldSaved = { 
/**
 * False when the value was already stored.
 */
changed: boolean, conversation: ConversationView, };

export type ProductView = { id: number, sku: string, category: string, nameEn: string, nameZh: string, descriptionEn: string, descriptionZh: string, priceCents: number, currency: string, unit: string, };

export type ModelView = { id: string, name: string, architecture: string, installed: boolean, 
/**
 * The demo default from the catalog.
 */
isDefault: boolean, 
/**
 * `catalog` or `imported`.
 */
source: string, 
/**
 * Installed file size, else the catalog's expected size.
 */
sizeBytes: number, sha256: string | null, requantization: string | null, path: string | null, };

export type NoArgs = Record<symbol, never>;

export type ConversationArgs = { conversationId: number, };

export type SendReplyArgs = { conversationId: number, text: string, };

export type SetLeadFieldArgs = { conversationId: number, field: string, value: string, };

export type SetModeArgs = { conversationId: number, mode: Mode, };

export type ImportModelArgs = { 
/**
 * An absolute path to a `.gguf` file.
 */
path: string, };
