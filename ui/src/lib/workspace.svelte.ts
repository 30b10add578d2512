// The console's state: the inbox, the open conversation (with its annotations, suggestions and
// hand-off state) and the salesperson's drafts, kept in sync with the backend by the engine's
// live events, with a slow poll as a safety net.
import { api as defaultApi, toApiError, type Api } from './api';
import type {
  ApiError,
  AppEvent,
  AppInfo,
  ConversationDetails,
  ConversationSummary,
  ConversationView,
  DecisionView,
  Mode,
  SuggestionRecordView,
  SuggestionView,
  TurnAnnotationView,
} from './bindings';
import {
  applyStream,
  emptyFilters,
  filterConversations,
  pendingSuggestions,
  type InboxFilters,
  type StreamSlot,
} from './live';

export const POLL_MS = 15_000;
export const TICK_MS = 30_000;

export type LeadError = { field: string; error: ApiError };

/** Whether the inbox shows something the open conversation does not have yet. */
export function isStale(view: ConversationView, summary: ConversationSummary): boolean {
  const current = view.summary;
  return (
    summary.lastMessageAt !== current.lastMessageAt ||
    summary.stage !== current.stage ||
    summary.mode !== current.mode ||
    summary.handoffRequested !== current.handoffRequested ||
    summary.unread > 0
  );
}

export class Workspace {
  info = $state<AppInfo | null>(null);
  conversations = $state<ConversationSummary[]>([]);
  /** True once the inbox has loaded at least once. */
  loaded = $state(false);
  selectedId = $state<number | null>(null);
  view = $state<ConversationView | null>(null);
  opening = $state(false);
  sending = $state(false);
  /** The inbox could not be loaded (shown above the panes). */
  loadError = $state<ApiError | null>(null);
  /** A reply, mode change or open failed (shown in the conversation view). */
  actionError = $state<ApiError | null>(null);
  /** Saving a lead field failed (shown at that field). */
  leadError = $state<LeadError | null>(null);
  /** Unsent replies, per conversation. */
  drafts = $state<Record<number, string>>({});
  /** "Now" for waiting times; advanced by the ticker and by every refresh. */
  now = $state(Date.now());
  /** The open conversation's annotations, suggestions and hand-off state. */
  details = $state<ConversationDetails | null>(null);
  /** Suggestions as the model writes them, per conversation, by index. */
  streams = $state<Record<number, StreamSlot[]>>({});
  /** The policy's last decision per conversation (from a message received in this session). */
  decisions = $state<Record<number, DecisionView>>({});
  /** Conversations whose customer message is being processed (NLU + model). */
  receiving = $state<Record<number, boolean>>({});
  /** A suggestion being sent or rejected. */
  deciding = $state<string | null>(null);
  filters = $state<InboxFilters>(emptyFilters());
  /** A message to bring into view (a search hit): its conversation and index. */
  focus = $state<{ conversationId: number; index: number } | null>(null);

  #api: Api;
  #refreshing: Promise<void> | null = null;
  #refreshAgain = false;
  #openToken = 0;

  constructor(backend: Api = defaultApi) {
    this.#api = backend;
  }

  get unreadTotal(): number {
    return this.conversations.reduce((sum, c) => sum + c.unread, 0);
  }

  /** The inbox after the filters. */
  get visible(): ConversationSummary[] {
    return filterConversations(this.conversations, this.filters);
  }

  /** The open conversation's annotation of the customer message at `at`. */
  annotationAt(at: number): TurnAnnotationView | undefined {
    return this.details?.turns.find((t) => t.at === at);
  }

  /** The suggestions waiting for the salesperson in the open conversation: the latest batch
   * still offered, and any being written now. */
  get pending(): { index: number; text: string; suggestion: SuggestionView | SuggestionRecordView | null }[] {
    const id = this.selectedId;
    if (id === null) return [];
    return pendingSuggestions(this.details?.conversationId === id ? this.details.suggestions : [], this.streams[id] ?? []);
  }

  /** Loads everything, listens to the engine and polls slowly; returns a function that stops it. */
  start(subscribe?: (handler: (event: AppEvent) => void) => Promise<() => void>): () => void {
    void this.loadInfo();
    void this.refresh();
    let unlisten: (() => void) | null = null;
    let stopped = false;
    if (subscribe) {
      void subscribe((event) => this.onEvent(event)).then((stop) => {
        if (stopped) stop();
        else unlisten = stop;
      });
    }
    const poll = setInterval(() => void this.refresh(), POLL_MS);
    const tick = setInterval(() => (this.now = Date.now()), TICK_MS);
    return () => {
      stopped = true;
      unlisten?.();
      clearInterval(poll);
      clearInterval(tick);
    };
  }

  #eventRefresh: ReturnType<typeof setTimeout> | null = null;

  /** One event from the engine. */
  onEvent(event: AppEvent): void {
    if (event.kind === 'suggestion') {
      const slots = this.streams[event.conversationId] ?? [];
      this.streams[event.conversationId] = applyStream(slots, event.stream);
      return;
    }
    if (event.conversationId === this.selectedId) void this.#open(event.conversationId, false);
    // Many events arrive together (a turn, then its suggestions): refresh the inbox once.
    if (this.#eventRefresh === null) {
      this.#eventRefresh = setTimeout(() => {
        this.#eventRefresh = null;
        void this.refresh();
      }, 150);
    }
  }

  async loadInfo(): Promise<void> {
    try {
      this.info = await this.#api.appInfo();
    } catch (error) {
      this.loadError = toApiError(error);
    }
  }

  /**
   * Reloads the inbox, and the open conversation if it changed. One load runs at a time; a
   * refresh asked for meanwhile runs once more after it, so a mutation's effect always shows.
   */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#refreshAgain = false;
        await this.#loadInbox();
      } while (this.#refreshAgain);
    })().finally(() => (this.#refreshing = null));
    return this.#refreshing;
  }

  async #loadInbox(): Promise<void> {
    try {
      this.conversations = await this.#api.listConversations();
      this.loadError = null;
    } catch (error) {
      this.loadError = toApiError(error);
      return;
    } finally {
      this.loaded = true;
      this.now = Date.now();
    }
    const view = this.view;
    const summary = this.conversations.find((c) => c.id === this.selectedId);
    if (view && summary && !this.opening && !this.sending && isStale(view, summary)) {
      await this.#open(summary.id, false);
    }
  }

  /** Opens a conversation (marking it read). */
  async select(id: number): Promise<void> {
    if (id !== this.selectedId) {
      this.actionError = null;
      this.leadError = null;
    }
    this.selectedId = id;
    await this.#open(id, true);
    await this.refresh();
  }

  async #open(id: number, showProgress: boolean): Promise<void> {
    const token = ++this.#openToken;
    if (showProgress) this.opening = true;
    try {
      const [view, details] = await Promise.all([
        this.#api.openConversation({ conversationId: id }),
        this.#api.conversationDetails({ conversationId: id }),
      ]);
      if (token === this.#openToken && this.selectedId === id) {
        this.view = view;
        this.details = details;
      }
    } catch (error) {
      if (token === this.#openToken && showProgress) this.actionError = toApiError(error);
    } finally {
      if (token === this.#openToken) this.opening = false;
    }
  }

  /** Moves the selection up or down the inbox. */
  move(delta: number): void {
    const list = this.visible;
    if (list.length === 0) return;
    const index = list.findIndex((c) => c.id === this.selectedId);
    const next = index === -1 ? (delta > 0 ? 0 : list.length - 1) : index + delta;
    const target = list[Math.min(list.length - 1, Math.max(0, next))];
    if (target && target.id !== this.selectedId) void this.select(target.id);
  }

  draft(id: number): string {
    return this.drafts[id] ?? '';
  }

  setDraft(id: number, text: string): void {
    this.drafts[id] = text;
  }

  /** Sends the open conversation's draft; on failure the draft stays for another try. */
  async sendReply(): Promise<boolean> {
    const id = this.selectedId;
    if (id === null || this.sending) return false;
    const text = this.draft(id).trim();
    if (text === '') return false;
    this.sending = true;
    try {
      this.#apply(await this.#api.sendReply({ conversationId: id, text }));
      this.drafts[id] = '';
      this.actionError = null;
      return true;
    } catch (error) {
      this.actionError = toApiError(error);
      return false;
    } finally {
      this.sending = false;
      void this.refresh();
    }
  }

  async setMode(mode: Mode): Promise<void> {
    const id = this.selectedId;
    if (id === null) return;
    try {
      this.#apply(await this.#api.setMode({ conversationId: id, mode }));
      this.actionError = null;
    } catch (error) {
      this.actionError = toApiError(error);
    } finally {
      void this.refresh();
    }
  }

  /** Saves a lead field as the salesperson's; true when saved. */
  async setLeadField(field: string, value: string): Promise<boolean> {
    const id = this.selectedId;
    if (id === null) return false;
    try {
      const saved = await this.#api.setLeadField({ conversationId: id, field, value });
      this.#apply(saved.conversation);
      this.leadError = null;
      return true;
    } catch (error) {
      this.leadError = { field, error: toApiError(error) };
      return false;
    } finally {
      void this.refresh();
    }
  }

  /** A customer message arrives in the open conversation (the simulator box): understood,
   * decided on and answered with suggestions that stream in while this waits. */
  async receiveCustomerMessage(text: string): Promise<boolean> {
    const id = this.selectedId;
    if (id === null || text.trim() === '' || this.receiving[id]) return false;
    this.receiving[id] = true;
    this.streams[id] = [];
    try {
      const turn = await this.#api.receiveCustomerMessage({ conversationId: id, text });
      this.decisions[id] = turn.decision;
      this.#apply(turn.conversation);
      this.actionError = null;
      return true;
    } catch (error) {
      this.actionError = toApiError(error);
      return false;
    } finally {
      this.receiving[id] = false;
      if (this.selectedId === id) await this.#open(id, false);
      void this.refresh();
    }
  }

  /** Sends suggestion `suggestionId` as offered, or edited to `text`. */
  async sendSuggestion(suggestionId: string, text: string): Promise<boolean> {
    const id = this.selectedId;
    if (id === null || this.deciding !== null || text.trim() === '') return false;
    this.deciding = suggestionId;
    try {
      this.#apply(await this.#api.sendSuggestion({ conversationId: id, id: suggestionId, text }));
      this.actionError = null;
      return true;
    } catch (error) {
      this.actionError = toApiError(error);
      return false;
    } finally {
      this.deciding = null;
      if (this.selectedId === id) await this.#open(id, false);
      void this.refresh();
    }
  }

  async rejectSuggestion(suggestionId: string, reason: string): Promise<boolean> {
    const id = this.selectedId;
    if (id === null || this.deciding !== null) return false;
    this.deciding = suggestionId;
    try {
      this.#apply(await this.#api.rejectSuggestion({ conversationId: id, id: suggestionId, reason }));
      this.actionError = null;
      return true;
    } catch (error) {
      this.actionError = toApiError(error);
      return false;
    } finally {
      this.deciding = null;
      if (this.selectedId === id) await this.#open(id, false);
      void this.refresh();
    }
  }

  /** New suggestions for the open conversation's current customer message: the waiting ones
   * are replaced, and the new ones stream in while this waits. */
  async regenerate(): Promise<boolean> {
    const id = this.selectedId;
    if (id === null || this.receiving[id]) return false;
    this.receiving[id] = true;
    this.streams[id] = [];
    try {
      const out = await this.#api.regenerateSuggestions({ conversationId: id });
      this.decisions[id] = out.decision;
      this.actionError = null;
      return true;
    } catch (error) {
      this.actionError = toApiError(error);
      return false;
    } finally {
      this.receiving[id] = false;
      if (this.selectedId === id) await this.#open(id, false);
      void this.refresh();
    }
  }

  /** Opens a conversation at one of its messages (a search hit). */
  async jumpTo(conversationId: number, index: number): Promise<void> {
    this.focus = { conversationId, index };
    await this.select(conversationId);
  }

  /** Forgets a conversation that no longer exists (erased): closes it and reloads the inbox. */
  async forget(id: number): Promise<void> {
    if (this.selectedId === id) {
      this.#openToken++;
      this.selectedId = null;
      this.view = null;
      this.details = null;
    }
    delete this.streams[id];
    delete this.decisions[id];
    delete this.drafts[id];
    await this.refresh();
  }

  /** Takes the open conversation over (or hands it back to the AI). */
  async toggleTakeOver(): Promise<void> {
    const id = this.selectedId;
    if (id === null) return;
    const taken = this.details?.handoff?.state === 'taken';
    try {
      const details = taken
        ? await this.#api.handBack({ conversationId: id })
        : await this.#api.takeOver({ conversationId: id });
      if (this.selectedId === id) this.details = details;
      this.actionError = null;
    } catch (error) {
      this.actionError = toApiError(error);
    } finally {
      if (this.selectedId === id) await this.#open(id, false);
      void this.refresh();
    }
  }

  setFilter<K extends keyof InboxFilters>(key: K, value: InboxFilters[K]): void {
    this.filters = { ...this.filters, [key]: value };
  }

  dismissActionError(): void {
    this.actionError = null;
  }

  dismissLeadError(): void {
    this.leadError = null;
  }

  /** Shows a conversation the backend returned, if it is still the open one. */
  #apply(view: ConversationView): void {
    if (view.summary.id === this.selectedId) {
      this.#openToken++; // a slower open in flight must not overwrite this newer view
      this.opening = false;
      this.view = view;
    }
  }
}
