// The console's state: the inbox, the open conversation and the salesperson's drafts, kept in
// sync with the backend by polling (live events come later).
import { api as defaultApi, toApiError, type Api } from './api';
import type {
  ApiError,
  AppInfo,
  ConversationSummary,
  ConversationView,
  Mode,
} from './bindings';

export const POLL_MS = 5_000;
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

  /** Loads everything and starts polling; returns a function that stops it. */
  start(): () => void {
    void this.loadInfo();
    void this.refresh();
    const poll = setInterval(() => void this.refresh(), POLL_MS);
    const tick = setInterval(() => (this.now = Date.now()), TICK_MS);
    return () => {
      clearInterval(poll);
      clearInterval(tick);
    };
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
      const view = await this.#api.openConversation({ conversationId: id });
      if (token === this.#openToken && this.selectedId === id) this.view = view;
    } catch (error) {
      if (token === this.#openToken && showProgress) this.actionError = toApiError(error);
    } finally {
      if (token === this.#openToken) this.opening = false;
    }
  }

  /** Moves the selection up or down the inbox. */
  move(delta: number): void {
    const list = this.conversations;
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
