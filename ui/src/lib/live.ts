// Pure helpers for the live console: folding streamed suggestion pieces, choosing the suggestions
// that wait for the salesperson, and filtering the inbox. Kept free of Svelte so vitest covers them.
import type {
  Channel,
  ConversationSummary,
  Mode,
  Stage,
  SuggestionRecordView,
  SuggestionStream,
  SuggestionView,
} from './bindings';

/** One suggestion as it streams: its text so far, and the final form once it is done. */
export type StreamSlot = { text: string; done: SuggestionView | null };

/** Applies one stream event. A piece for a slot that was already done starts a new batch. */
export function applyStream(slots: StreamSlot[], event: SuggestionStream): StreamSlot[] {
  const first = slots[0]?.done;
  const fresh =
    event.index === 0 && first != null && (event.kind === 'piece' || event.suggestion.id !== first.id);
  const next = fresh ? [] : [...slots];
  while (next.length <= event.index) next.push({ text: '', done: null });
  const slot = next[event.index]!;
  next[event.index] =
    event.kind === 'piece'
      ? { text: slot.text + event.text, done: null }
      : { text: event.suggestion.text, done: event.suggestion };
  return next;
}

/** What the suggestion tray shows. `suggestion` is null while the model is still writing. */
export type PendingSuggestion = {
  index: number;
  text: string;
  suggestion: SuggestionView | SuggestionRecordView | null;
};

/**
 * The suggestions waiting for a decision: the latest batch of stored suggestions still offered
 * (older batches are stale once the customer wrote again), plus streamed ones not stored yet.
 */
export function pendingSuggestions(stored: SuggestionRecordView[], slots: StreamSlot[]): PendingSuggestion[] {
  const latest = stored.reduce((max, s) => Math.max(max, s.offeredAt), -Infinity);
  const batch = stored.filter((s) => s.offeredAt === latest);
  const decided = batch.some((s) => s.status === 'sent');
  const out: PendingSuggestion[] = decided
    ? []
    : batch
        .filter((s) => s.status === 'offered' || s.status === 'edited')
        .map((s, index) => ({ index, text: s.text, suggestion: s }));
  const storedIds = new Set(stored.map((s) => s.id));
  // The streamed batch shows until it is stored. Once any of it is stored the stored batch is
  // the truth: the engine may keep fewer than it streamed (two identical template fallbacks are
  // stored as one), and a slot that was never stored cannot be sent or rejected.
  const writing = slots.some((s) => s.done === null);
  const isStored = slots.some((s) => s.done !== null && storedIds.has(s.done.id));
  if (slots.length > 0 && (writing || !isStored)) {
    // A new batch is being written: it replaces the stored one.
    return slots
      .map((s, index) => ({ index, text: s.text, suggestion: s.done }))
      .filter((s) => s.text !== '' || s.suggestion !== null);
  }
  return out;
}

export type InboxFilters = {
  mode: Mode | 'all';
  stage: Stage | 'all';
  channel: Channel | 'all';
  /** Matches the customer's name or the last message, case-insensitively. */
  query: string;
};

export function emptyFilters(): InboxFilters {
  return { mode: 'all', stage: 'all', channel: 'all', query: '' };
}

export function filterConversations(list: ConversationSummary[], f: InboxFilters): ConversationSummary[] {
  const query = f.query.trim().toLowerCase();
  return list.filter(
    (c) =>
      (f.mode === 'all' || c.mode === f.mode) &&
      (f.stage === 'all' || c.stage === f.stage) &&
      (f.channel === 'all' || c.channel === f.channel) &&
      (query === '' ||
        c.customerName.toLowerCase().includes(query) ||
        c.lastMessageText.toLowerCase().includes(query)),
  );
}

/** Edit distance in characters (what the dashboard averages), for the editor's live hint. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]!;
}
