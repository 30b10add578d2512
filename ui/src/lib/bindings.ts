// Generated from the Rust types by `cargo test -p closer-app bindings` with
// UPDATE_BINDINGS=1. Do not edit by hand.

export type ErrorCode = "invalid_argument" | "too_large" | "not_found" | "corrupt_database" | "database_too_new" | "invalid_model" | "storage" | "nlu_not_ready" | "model_not_ready" | "crm_not_configured" | "keyring" | "training_failed" | "busy" | "remote_failed" | "internal";

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

export type MessageView = { role: Role, text: string, at: number, 
/**
 * A reply posted to a webhook platform: where its delivery stands (none for other
 * channels, whose replies go over the visitor's own connection).
 */
delivery: DeliveryView | null, };

export type DeliveryView = { 
/**
 * `pending`, `delivered` or `failed`.
 */
state: string, 
/**
 * Why it failed: `not_configured`, `refused`, `gave_up`, `expired`.
 */
code: string | null, attempts: number, };

export type LeadFieldView = { field: string, value: string, source: FieldSource, confidence: number, updatedAt: number, };

export type LeadSyncView = { "state": "not_queued" } | { "state": "synced", at: number, crmId: string | null, } | { "state": "pending", attempts: number, nextAttemptAt: number, lastError: string | null, } | { "state": "dead", reason: string, at: number, };

export type LeadView = { id: number, 
/**
 * The stable key the CRM upserts by.
 */
externalKey: string, crmId: string | null, 
/**
 * Changes waiting for the CRM relay.
 */
pendingSync: number, 
/**
 * Where the lead stands with the CRM.
 */
sync: LeadSyncView, fields: Array<LeadFieldView>, };

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

export type IntentScore = { 
/**
 * A label of the intent taxonomy, e.g. `price_inquiry` (see design.md).
 */
label: string, confidence: number, };

export type Sentiment = "positive" | "neutral" | "hesitant" | "negative" | "angry";

export type SentimentScore = { label: Sentiment, confidence: number, };

export type EntityKind = "phone" | "email" | "wechat" | "resident_id" | "bank_card" | "money" | "quantity" | "date_time" | "company" | "person";

export type Entity = { kind: EntityKind, 
/**
 * The text as written.
 */
text: string, 
/**
 * The normalised value (see [`EntityKind`]).
 */
value: string, start: number, end: number, confidence: number, };

export type FieldProposal = { 
/**
 * The schema field's key, e.g. `phone`, `budget`.
 */
field: string, value: string, confidence: number, };

export type AnalysisView = { 
/**
 * Intents above their thresholds, most confident first; empty means unknown.
 */
intents: Array<IntentScore>, 
/**
 * The most confident intent, even below its threshold.
 */
topIntent: IntentScore | null, sentiment: SentimentScore, 
/**
 * Entities found by the rules; `start..end` are UTF-8 byte offsets into the text.
 */
entities: Array<Entity>, 
/**
 * Values proposed for the lead fields of the active strategy (or the default schema).
 */
fields: Array<FieldProposal>, 
/**
 * `zh` or `en`.
 */
language: string, 
/**
 * The encoder used (`none`: n-gram-only heads).
 */
encoder: string, 
/**
 * The adopted intent head's id; null for the head trained on the bundled set.
 */
intentHeadId: number | null, elapsedMs: number, };

export type NluStatus = "idle" | "loading" | "ready" | "failed";

export type IntentLabelView = { label: string, 
/**
 * Part of the bundled taxonomy (else a label a manager added).
 */
inTaxonomy: boolean, bundledExamples: number, addedExamples: number, };

export type LabelScoreView = { label: string, 
/**
 * Test messages that carry the label.
 */
support: number, precision: number, recall: number, f1: number, };

export type ScoreSummary = { 
/**
 * Test messages.
 */
n: number, microF1: number, macroF1: number, 
/**
 * Share of messages whose predicted set equals the labelled set.
 */
subsetAccuracy: number, perLabel: Array<LabelScoreView>, };

export type IntentTestScores = { all: ScoreSummary, zh: ScoreSummary, en: ScoreSummary, };

export type IntentHeadView = { 
/**
 * Its id (to adopt it); null for the head trained on the bundled set.
 */
id: number | null, 
/**
 * The encoder it reads (`none`: n-grams only).
 */
encoder: string, 
/**
 * Training messages.
 */
examples: number, labels: Array<string>, trainedAt: number | null, 
/**
 * Since when it is active; null if it is not adopted.
 */
adoptedAt: number | null, 
/**
 * Its scores on the bundled test set, if measured.
 */
scores: IntentTestScores | null, };

export type IntentsView = { status: NluStatus, labels: Array<IntentLabelView>, 
/**
 * The head analyses use; null until the NLU is ready.
 */
activeHead: IntentHeadView | null, };

export type IntentExampleAdded = { 
/**
 * False when the label already had this text as an example.
 */
added: boolean, label: string, addedExamples: number, bundledExamples: number, };

export type RetrainResult = { candidate: IntentHeadView, candidateScores: IntentTestScores, active: IntentHeadView, activeScores: IntentTestScores, 
/**
 * Labels the candidate knows that the test set has no messages of (not measured).
 */
unmeasuredLabels: Array<string>, 
/**
 * Manager-added examples in its training set.
 */
managerExamples: number, trainSecs: number, };

export type DecisionView = { 
/**
 * `answer`, `ask_field`, `handle_objection`, `offer_promotion`, `hand_off`, `close`, `engage`.
 */
action: string, 
/**
 * The reason code.
 */
reason: string, field: string | null, objection: string | null, promotion: string | null, mayAutoSend: boolean, };

export type SuggestionView = { id: string, text: string, 
/**
 * `model` or `template` (the strategy's fallback).
 */
source: string, 
/**
 * Why the model's text was replaced by the template (a check code, or `model_failed`,
 * `model_not_ready`; `hand_off`: a person takes over, the template is the holding message).
 */
replacedBecause: string | null, };

export type SuggestionStream = { "kind": "piece", index: number, text: string, } | { "kind": "done", index: number, suggestion: SuggestionView, };

export type TurnView = { conversation: ConversationView, decision: DecisionView, suggestions: Array<SuggestionView>, 
/**
 * The id of the suggestion sent without a person (auto mode), if one was.
 */
autoSent: string | null, 
/**
 * How long the NLU, the composition and the model took, in milliseconds.
 */
nluMs: number, suggestMs: number, };

export type AppEvent = { "kind": "conversationUpdated", conversationId: number, } | { "kind": "customerMessage", conversationId: number, 
/**
 * The message's time (its `MessageView.at`).
 */
at: number, } | { "kind": "messageAnalysed", conversationId: number, at: number, decision: DecisionView, } | { "kind": "replyDelivery", conversationId: number, replyId: string, state: string, code: string | null, message: string | null, attempts: number, } | { "kind": "suggestion", conversationId: number, stream: SuggestionStream, };

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

export type AnalyzeMessageArgs = { text: string, };

export type AddIntentExampleArgs = { label: string, text: string, };

export type AdoptIntentHeadArgs = { id: number, };

export type TurnAnnotationView = { 
/**
 * The customer message's time (matches its `MessageView.at`).
 */
at: number, intents: Array<IntentScore>, topIntent: IntentScore | null, sentiment: SentimentScore, language: string, };

export type SuggestionRecordView = { id: string, offeredText: string, text: string, 
/**
 * The policy's action it carried out (`answer`, `ask_field`, …).
 */
action: string, field: string | null, objection: string | null, promotion: string | null, 
/**
 * `offered`, `edited`, `sent` or `rejected`.
 */
status: string, sentBy: Role | null, offeredAt: number, decidedAt: number | null, };

export type HandoffView = { 
/**
 * `requested` (the AI asks for a person) or `taken` (a person has it).
 */
state: string, 
/**
 * The policy's reason code for a request.
 */
reason: string | null, at: number, };

export type ConversationDetails = { conversationId: number, 
/**
 * One per annotated customer message, in order.
 */
turns: Array<TurnAnnotationView>, 
/**
 * Every suggestion offered, in order.
 */
suggestions: Array<SuggestionRecordView>, handoff: HandoffView | null, 
/**
 * The product or plan in focus.
 */
focus: string | null, };

export type StrategyVersionView = { version: number, 
/**
 * `draft`, `published` or `retired`.
 */
status: string, note: string, createdAt: number, publishedAt: number | null, };

export type StrategyChangeView = { path: string, 
/**
 * `added`, `removed`, `changed`, `reordered`.
 */
kind: string, before: string | null, after: string | null, };

export type StrategyIssueView = { code: string, message: string, };

export type StrategyOverview = { name: string, versions: Array<StrategyVersionView>, publishedVersion: number, 
/**
 * The published document (a `StrategyDocument` as JSON).
 */
published: StrategyDocumentJson, draftVersion: number | null, draft: StrategyDocumentJson | null, 
/**
 * Published → draft, field by field (empty without a draft).
 */
changes: Array<StrategyChangeView>, 
/**
 * Why the draft could not be published now (empty when it could).
 */
issues: Array<StrategyIssueView>, };

export type StrategyTrial = { decision: DecisionView, 
/**
 * The strategy's own reply for that decision (what the template writes; the model is steered
 * by the same action, field, objection answer and promotion).
 */
reply: string, };

export type StrategyTestSample = { conversationId: number, customerName: string, message: string, before: StrategyTrial, after: StrategyTrial, changed: boolean, };

export type CountView = { key: string, count: number, };

export type FunnelStepView = { stage: Stage, reached: number, current: number, conversion: number | null, };

export type SuggestionStatsView = { offered: number, sentAsIs: number, sentEdited: number, rejected: number, 
/**
 * Still waiting for a decision.
 */
pending: number, 
/**
 * Shares of the decided ones.
 */
acceptanceRate: number | null, editRate: number | null, rejectRate: number | null, 
/**
 * Mean Levenshtein distance (characters) between offered and sent text, over edited sends.
 */
meanEditDistance: number | null, };

export type VersionStatsView = { version: number, stats: SuggestionStatsView, };

export type ResponseTimeView = { by: Role, replies: number, meanSecs: number, p50Secs: number, p90Secs: number, };

export type SentimentSeriesView = { sentiment: Sentiment, counts: Array<number>, };

export type DashboardView = { conversations: number, messages: number, funnel: Array<FunnelStepView>, 
/**
 * Lost and handed-off conversations now.
 */
lost: number, handedOff: number, 
/**
 * Intents of annotated customer messages, most frequent first.
 */
intents: Array<CountView>, 
/**
 * UTC day starts (Unix ms) of the sentiment series.
 */
days: number[], sentiment: Array<SentimentSeriesView>, suggestions: SuggestionStatsView, byVersion: Array<VersionStatsView>, responseTimes: Array<ResponseTimeView>, 
/**
 * Rejection reasons given, most frequent first (`""` is no reason).
 */
rejectReasons: Array<CountView>, };

export type RemoteModelView = { baseUrl: string, model: string, keyStored: boolean, };

export type FetchView = { 
/**
 * The catalog model.
 */
id: string, 
/**
 * Re-hashing an installed file rather than installing.
 */
verify: boolean, 
/**
 * `starting`, `download` (packages), `assemble` (bytes), `hash` (bytes), `requantize`
 * (tensors), `copy` (bytes), `done`, `failed` or `cancelled`.
 */
phase: string, 
/**
 * The package, file or tensor being worked on.
 */
item: string, done: number, total: number, 
/**
 * Why it failed (names the file or package).
 */
error: string | null, finished: boolean, 
/**
 * A cancel was asked for and the fetch has not stopped yet.
 */
cancelling: boolean, };

export type ModelStatusView = { 
/**
 * `idle`, `loading`, `ready`, `failed`.
 */
status: string, 
/**
 * Layers loaded of the total while a local model loads.
 */
loaded: number, total: number, 
/**
 * The chosen model's id (`null`: the catalog's default), or `remote`.
 */
chosen: string | null, 
/**
 * What runs once loaded: the model's name, or the remote server's model.
 */
running: string | null, 
/**
 * Why the load failed, when it did.
 */
error: string | null, 
/**
 * The remote server from the settings, whether in use or not.
 */
remote: RemoteModelView | null, 
/**
 * The model fetch started from the settings, running or last run.
 */
fetch: FetchView | null, };

export type CustomerMessageArgs = { conversationId: number, text: string, };

export type SendSuggestionArgs = { conversationId: number, id: string, text: string, };

export type RejectSuggestionArgs = { conversationId: number, id: string, reason: string, };

export type SaveStrategyDraftArgs = { 
/**
 * A `StrategyDocument` as JSON (read and checked by the API).
 */
document: StrategyDocumentJson, note: string, };

export type RollbackStrategyArgs = { version: number, note: string, };

export type TestStrategyArgs = { conversationIds: number[] | null, };

export type ChooseModelArgs = { id: string | null, };

export type FetchModelArgs = { id: string, verify: boolean, };

export type ConfigureRemoteModelArgs = { 
/**
 * `http(s)://host:port` or `…/v1`.
 */
baseUrl: string, 
/**
 * The model name the server serves.
 */
model: string, };

export type SetRemoteModelKeyArgs = { value: string | null, };

export type RegeneratedView = { 
/**
 * The policy's decision, taken again on the conversation as it stands.
 */
decision: DecisionView, suggestions: Array<SuggestionView>, 
/**
 * Suggestions that were still waiting and are now rejected as `regenerated`.
 */
replaced: Array<string>, };

export type CrmSettings = { "kind": "bottlecrm", baseUrl: string, intakeId: string, } | { "kind": "hubspot", baseUrl: string, } | { "kind": "webhook", url: string, };

export type CrmSecret = "bottlecrm_intake_key" | "bottlecrm_api_token" | "hubspot_token" | "webhook_secret";

export type CrmStatusView = { 
/**
 * `bottlecrm`, `hubspot`, `webhook`, or `None` when no CRM is set up.
 */
crm: string | null, 
/**
 * Whether the relay is running in this process.
 */
running: boolean, pending: number, dead: number, oldestPendingAt: number | null, lastError: string | null, lastDeliveredAt: number | null, };

export type DeadLetterView = { id: number, leadId: number, reason: string, deadAt: number, attempts: number, };

export type BottleCrmArgs = { baseUrl: string, intakeId: string, };

export type HubSpotArgs = { baseUrl: string, };

export type WebhookArgs = { url: string, };

export type ConfigureCrmArgs = { "kind": "bottlecrm" } & BottleCrmArgs | { "kind": "hubspot" } & HubSpotArgs | { "kind": "webhook" } & WebhookArgs;

export type SetCrmCredentialArgs = { secret: CrmSecret, value: string, };

export type DeadLetterArgs = { id: number, };

export type ExportTableView = { table: string, rows: number, };

export type LeadExportView = { 
/**
 * The file's absolute path.
 */
path: string, 
/**
 * The folder it is in (shown so the user can find it).
 */
folder: string, bytes: number, redacted: boolean, 
/**
 * Tables the export covers, with their row counts.
 */
tables: Array<ExportTableView>, };

export type ErasureView = { leadId: number, conversationId: number | null, 
/**
 * Rows deleted, by table.
 */
rows: { [key in string]: number }, 
/**
 * The CRM's id of the lead, if it had reached the CRM: its copy there must be deleted too.
 */
crmId: string | null, externalKey: string, walTruncated: boolean, };

export type PurgeView = { retentionDays: number | null, erased: Array<ErasureView>, auditRowsRewritten: number, };

export type RetentionView = { days: number | null, 
/**
 * Where exports are written.
 */
exportsDir: string, };

export type ExportLeadArgs = { conversationId: number, 
/**
 * Mask phones, e-mails, IDs, cards, WeChat IDs and names in the export.
 */
redacted: boolean, };

export type EraseLeadConfirmedArgs = { conversationId: number, confirm: string, };

export type SetRetentionArgs = { days: number | null, };

export type SearchOrderArg = "newest" | "relevance";

export type SearchMessagesArgs = { 
/**
 * What the user typed: whitespace-separated terms, every one must occur (as a substring).
 */
query: string, 
/**
 * At most this many hits (1–200, default 50).
 */
limit?: number, order?: SearchOrderArg, 
/**
 * Only conversations in this channel, stage or mode.
 */
channel?: Channel, stage?: Stage, mode?: Mode, };

export type SnippetPartView = { text: string, hit: boolean, };

export type SearchHitView = { conversationId: number, 
/**
 * The message's stable id (its event id).
 */
messageId: number, 
/**
 * Its position in the conversation view's `messages` (0-based), to scroll to it.
 */
messageIndex: number, role: Role, at: number, customerName: string, channel: Channel, 
/**
 * The text around the first match, cut with `…`, matches marked.
 */
snippet: Array<SnippetPartView>, };

export type MessageStorageMode = "original" | "redacted";

export type MessageStorageView = { mode: MessageStorageMode, };

export type SetMessageStorageArgs = { mode: MessageStorageMode, };

export type SavedChannels = { enabled: boolean, port: number, lan: boolean, allowedOrigins: Array<string>, };

export type ChannelsView = { settings: SavedChannels, 
/**
 * Whether a webhook secret is stored (the webhook runs only with one).
 */
webhookSecretStored: boolean, running: boolean, 
/**
 * The chat page's address while the channels run.
 */
url: string | null, 
/**
 * Why the channels (or the webhook) could not start.
 */
error: string | null, };

export type ConfigureChannelsArgs = { 
/**
 * Run the channels in this app.
 */
enabled: boolean, 
/**
 * 0 picks a free port; else 1024 to 65535.
 */
port: number, 
/**
 * Listen on every interface (customers on the local network), not only on 127.0.0.1.
 */
lan: boolean, 
/**
 * Sites besides the chat page that may open the chat (http(s) origins).
 */
allowedOrigins: Array<string>, };

export type SetWebhookSecretArgs = { value: string | null, };

export type Bilingual = { zh: string; en: string };

export type LeadFieldSpecJson = { key: string; field_type: string; required: boolean; label_zh: string; label_en: string; ask_zh: string; ask_en: string; cues: string[]; crm_field: string | null };

export type StrategyDocumentJson = { schema: number; persona: Bilingual; tone: Bilingual; goals: Bilingual[]; proactivity: 'low' | 'balanced' | 'high'; handoff_threshold: number; misunderstanding_limit: number; max_promotions: number; auto_send_objections: boolean; lead_fields: LeadFieldSpecJson[]; examples: { language: string; customer: string; reply: string }[]; playbook: { objection: string; responses: Bilingual[]; cues?: string[] }[]; promotions: { id: string; eligibility: { stages: Stage[]; products: string[] }; offer: Bilingual; discount: unknown }[]; scripts: { id: string; scenario: string; name: Bilingual; steps: { kind: string; text: Bilingual }[]; [key: string]: unknown }[] };
