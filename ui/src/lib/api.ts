// Typed access to the backend's IPC commands. Every call sends its arguments as raw bytes (a
// UTF-8 JSON body) which the backend decodes and validates itself; failures reject with an
// ApiError `{ code, message }`.
import { invoke } from '@tauri-apps/api/core';
import type {
  AddIntentExampleArgs,
  AdoptIntentHeadArgs,
  AnalysisView,
  AnalyzeMessageArgs,
  ApiError,
  AppInfo,
  ConversationArgs,
  ConversationSummary,
  ConversationView,
  ErrorCode,
  ImportModelArgs,
  IntentExampleAdded,
  IntentHeadView,
  IntentsView,
  LeadFieldSaved,
  ModelView,
  ProductView,
  RetrainResult,
  SendReplyArgs,
  SetLeadFieldArgs,
  SetModeArgs,
  AppEvent,
  ChooseModelArgs,
  ConfigureRemoteModelArgs,
  FetchModelArgs,
  SetRemoteModelKeyArgs,
  ConversationDetails,
  CustomerMessageArgs,
  DashboardView,
  ModelStatusView,
  RejectSuggestionArgs,
  RollbackStrategyArgs,
  SaveStrategyDraftArgs,
  SendSuggestionArgs,
  StrategyOverview,
  StrategyTestSample,
  TestStrategyArgs,
  TurnView,
  ConfigureCrmArgs,
  CrmSettings,
  CrmStatusView,
  DeadLetterArgs,
  DeadLetterView,
  EraseLeadConfirmedArgs,
  ErasureView,
  ExportLeadArgs,
  LeadExportView,
  PurgeView,
  RegeneratedView,
  RetentionView,
  SetCrmCredentialArgs,
  SetRetentionArgs,
  SearchHitView,
  SearchMessagesArgs,
  MessageStorageView,
  SetMessageStorageArgs,
  ChannelsView,
  ConfigureChannelsArgs,
  SetWebhookSecretArgs,
} from './bindings';

export type { ApiError, ErrorCode } from './bindings';

export const ERROR_CODES: readonly ErrorCode[] = [
  'invalid_argument',
  'too_large',
  'not_found',
  'corrupt_database',
  'database_too_new',
  'invalid_model',
  'storage',
  'nlu_not_ready',
  'model_not_ready',
  'crm_not_configured',
  'keyring',
  'training_failed',
  'internal',
];

export function isApiError(value: unknown): value is ApiError {
  if (typeof value !== 'object' || value === null) return false;
  const { code, message } = value as { code?: unknown; message?: unknown };
  return typeof message === 'string' && ERROR_CODES.includes(code as ErrorCode);
}

/** Turns whatever a failed call threw into an ApiError. */
export function toApiError(error: unknown): ApiError {
  if (isApiError(error)) return { code: error.code, message: error.message };
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      return { code: 'internal', message: `${code}: ${message}` };
    }
    if (error instanceof Error) return { code: 'internal', message: error.message };
  }
  return { code: 'internal', message: String(error) };
}

const encoder = new TextEncoder();

/** Encodes a command's arguments as the raw JSON body the backend expects. */
export function encodeArgs(args?: object): Uint8Array {
  return encoder.encode(JSON.stringify(args ?? {}));
}

async function call<T>(command: string, args?: object): Promise<T> {
  try {
    return await invoke<T>(command, encodeArgs(args));
  } catch (error) {
    throw toApiError(error);
  }
}

export const api = {
  appInfo: (): Promise<AppInfo> => call('app_info'),

  /** Sorted by urgency: hand-off requested first, then longest waiting. */
  listConversations: (): Promise<ConversationSummary[]> => call('list_conversations'),

  /** Also marks the conversation read. */
  openConversation: (args: ConversationArgs): Promise<ConversationView> =>
    call('open_conversation', args),

  sendReply: (args: SendReplyArgs): Promise<ConversationView> => call('send_reply', args),

  setLeadField: (args: SetLeadFieldArgs): Promise<LeadFieldSaved> => call('set_lead_field', args),

  setMode: (args: SetModeArgs): Promise<ConversationView> => call('set_mode', args),

  listProducts: (): Promise<ProductView[]> => call('list_products'),

  /** The catalog's models and the imported ones, with their install state. */
  listModels: (): Promise<ModelView[]> => call('list_models'),

  /** Validates and installs a user's GGUF file (absolute path). */
  importModel: (args: ImportModelArgs): Promise<ModelView> => call('import_model', args),

  /** The suggestion model's load state and the chosen model. */
  modelStatus: (): Promise<ModelStatusView> => call('model_status'),

  /** Makes an installed model (null: the catalog default) write suggestions; starts loading it. */
  chooseModel: (args: ChooseModelArgs): Promise<ModelStatusView> => call('choose_model', args),
  /** Starts fetching (or, with `verify`, re-hashing) a catalog model; `modelStatus().fetch` shows its progress. */
  fetchModel: (args: FetchModelArgs): Promise<ModelStatusView> => call('fetch_model', args),
  /** Stops the running fetch; it ends as `cancelled`, nothing installed. */
  cancelFetch: (): Promise<ModelStatusView> => call('cancel_fetch'),
  /** Writes suggestions with an OpenAI-compatible server; `modelStatus()` says whether it answered. */
  configureRemoteModel: (args: ConfigureRemoteModelArgs): Promise<ModelStatusView> =>
    call('configure_remote_model', args),
  /** Stores the remote server's API key in the OS keyring (`null` removes it); it never comes back. */
  setRemoteModelKey: (args: SetRemoteModelKeyArgs): Promise<ModelStatusView> =>
    call('set_remote_model_key', args),

  /** A customer message arrives (the simulator box, tests): NLU, policy, streamed suggestions.
   * Takes seconds; the suggestions also stream in as `AppEvent`s. */
  receiveCustomerMessage: (args: CustomerMessageArgs): Promise<TurnView> =>
    call('receive_customer_message', args),

  /** Sends a suggestion as offered, or edited to `text`. */
  sendSuggestion: (args: SendSuggestionArgs): Promise<ConversationView> =>
    call('send_suggestion', args),

  rejectSuggestion: (args: RejectSuggestionArgs): Promise<ConversationView> =>
    call('reject_suggestion', args),

  /** Per-message annotations, the suggestions' history and the hand-off state. */
  conversationDetails: (args: ConversationArgs): Promise<ConversationDetails> =>
    call('conversation_details', args),

  takeOver: (args: ConversationArgs): Promise<ConversationDetails> => call('take_over', args),

  handBack: (args: ConversationArgs): Promise<ConversationDetails> => call('hand_back', args),

  dashboard: (): Promise<DashboardView> => call('dashboard'),

  /** New suggestions for the current customer message (the waiting ones are rejected as
   * `regenerated`); they stream in as `AppEvent`s while this waits. */
  regenerateSuggestions: (args: ConversationArgs): Promise<RegeneratedView> =>
    call('regenerate_suggestions', args),

  /** Messages containing every term (Chinese or English substrings), newest first. */
  searchMessages: (args: SearchMessagesArgs): Promise<SearchHitView[]> => call('search_messages', args),
};

/** The CRM connection. A credential goes one way, into the OS keyring: nothing returns it. */
export const crm = {
  settings: (): Promise<CrmSettings | null> => call('crm_settings'),
  /** Saves which CRM and where, and (re)starts the relay; returns the sync status. */
  configure: (args: ConfigureCrmArgs): Promise<CrmStatusView> => call('configure_crm', args),
  /** Stores a token or secret in the OS keyring; returns the sync status, never the value. */
  setCredential: (args: SetCrmCredentialArgs): Promise<CrmStatusView> =>
    call('set_crm_credential', args),
  status: (): Promise<CrmStatusView> => call('crm_status'),
  deadLetters: (): Promise<DeadLetterView[]> => call('crm_dead_letters'),
  /** Queues a dead-lettered change again; returns the dead letters left. */
  retryDeadLetter: (args: DeadLetterArgs): Promise<DeadLetterView[]> =>
    call('retry_crm_dead_letter', args),
};

export type CrmApi = typeof crm;

/** A customer's data: export, erasure, retention. */
export const privacy = {
  /** Writes the lead's export as a JSON file in the exports folder; returns where. */
  exportLead: (args: ExportLeadArgs): Promise<LeadExportView> => call('export_lead', args),
  /** Erases the lead and everything about it; `confirm` repeats the customer's name. */
  eraseLead: (args: EraseLeadConfirmedArgs): Promise<ErasureView> => call('erase_lead', args),
  retention: (): Promise<RetentionView> => call('retention'),
  setRetention: (args: SetRetentionArgs): Promise<RetentionView> => call('set_retention', args),
  /** Erases what the retention period says is due, now. */
  purgeNow: (): Promise<PurgeView> => call('purge_now'),
  /** Whether customers' messages are stored as written or with personal details masked. */
  messageStorage: (): Promise<MessageStorageView> => call('message_storage'),
  setMessageStorage: (args: SetMessageStorageArgs): Promise<MessageStorageView> =>
    call('set_message_storage', args),
};

export type PrivacyApi = typeof privacy;

/** The strategy editor: versions, draft, diff, test-run, publish, rollback. */
export const strategy = {
  overview: (): Promise<StrategyOverview> => call('strategy_overview'),
  saveDraft: (args: SaveStrategyDraftArgs): Promise<StrategyOverview> =>
    call('save_strategy_draft', args),
  publish: (): Promise<StrategyOverview> => call('publish_strategy'),
  rollback: (args: RollbackStrategyArgs): Promise<StrategyOverview> =>
    call('rollback_strategy', args),
  /** The draft against the published version on sample conversations; nothing is stored. */
  testDraft: (args: TestStrategyArgs = { conversationIds: null }): Promise<StrategyTestSample[]> =>
    call('test_strategy_draft', args),
};

export type StrategyApi = typeof strategy;

/** The name of the event the shell forwards `AppEvent`s under. */
export const APP_EVENT = 'closer://app-event';

/** Calls `handler` for every AppEvent until the returned function is called. */
export async function onAppEvent(handler: (event: AppEvent) => void): Promise<() => void> {
  const { listen } = await import('@tauri-apps/api/event');
  return listen<AppEvent>(APP_EVENT, (e) => handler(e.payload));
}

export type Api = typeof api;

/** The NLU: analysis of one message, and a manager's intent examples and retraining. */
export const nlu = {
  /** Intents, sentiment, entities and lead fields of one message. Rejects with `nlu_not_ready`
   * while the NLU is loading (retry shortly). */
  analyzeMessage: (args: AnalyzeMessageArgs): Promise<AnalysisView> =>
    call('analyze_message', args),

  /** Intent labels with their example counts, and the head in use. */
  listIntents: (): Promise<IntentsView> => call('list_intents'),

  /** Adds a manager's labelled example (a taxonomy label or a new snake_case one). */
  addIntentExample: (args: AddIntentExampleArgs): Promise<IntentExampleAdded> =>
    call('add_intent_example', args),

  /** Trains a candidate intent head (seconds) and scores it beside the active one. */
  retrainIntents: (): Promise<RetrainResult> => call('retrain_intents'),

  /** Makes a candidate head the active one. */
  adoptIntentHead: (args: AdoptIntentHeadArgs): Promise<IntentHeadView> =>
    call('adopt_intent_head', args),
};

export type NluApi = typeof nlu;

/** The customer channels this app runs: the chat widget server and the signed webhook. */
export const channels = {
  settings: (): Promise<ChannelsView> => call('channel_settings'),
  /** Saves the settings and (re)starts or stops the channels. */
  configure: (args: ConfigureChannelsArgs): Promise<ChannelsView> => call('configure_channels', args),
  /** Stores the webhook secret in the OS keyring (null removes it); it never comes back. */
  setWebhookSecret: (args: SetWebhookSecretArgs): Promise<ChannelsView> =>
    call('set_webhook_secret', args),
};

export type ChannelsApi = typeof channels;
