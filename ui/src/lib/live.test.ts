import { describe, expect, it } from 'vitest';
import type { ConversationSummary, SuggestionRecordView, SuggestionView } from './bindings';
import {
  applyStream,
  editDistance,
  emptyFilters,
  filterConversations,
  pendingSuggestions,
  type StreamSlot,
} from './live';

const view = (id: string, text: string): SuggestionView => ({ id, text, source: 'model', replacedBecause: null });

function record(id: string, at: number, status = 'offered'): SuggestionRecordView {
  return {
    id,
    offeredText: `text ${id}`,
    text: `text ${id}`,
    action: 'answer',
    field: null,
    objection: null,
    promotion: null,
    status,
    sentBy: null,
    offeredAt: at,
    decidedAt: null,
  };
}

describe('applyStream', () => {
  it('appends pieces per index and replaces them with the checked text when done', () => {
    let slots: StreamSlot[] = [];
    slots = applyStream(slots, { kind: 'piece', index: 0, text: 'Hel' });
    slots = applyStream(slots, { kind: 'piece', index: 1, text: 'Hi' });
    slots = applyStream(slots, { kind: 'piece', index: 0, text: 'lo' });
    expect(slots.map((s) => s.text)).toEqual(['Hello', 'Hi']);
    slots = applyStream(slots, { kind: 'done', index: 0, suggestion: view('a', 'Hello!') });
    expect(slots[0]).toEqual({ text: 'Hello!', done: view('a', 'Hello!') });
    expect(slots[1]?.done).toBeNull();
  });

  it('starts a new batch when the first suggestion streams again', () => {
    let slots: StreamSlot[] = [
      { text: 'old', done: view('a', 'old') },
      { text: 'old 2', done: view('b', 'old 2') },
    ];
    slots = applyStream(slots, { kind: 'piece', index: 0, text: 'new' });
    expect(slots).toEqual([{ text: 'new', done: null }]);
    slots = [{ text: 'old', done: view('a', 'old') }];
    slots = applyStream(slots, { kind: 'done', index: 0, suggestion: view('c', 'template') });
    expect(slots).toEqual([{ text: 'template', done: view('c', 'template') }]);
  });
});

describe('pendingSuggestions', () => {
  it('shows only the latest batch, and nothing once one of it was sent', () => {
    const stored = [record('old', 1), record('s1', 2), record('s2', 2, 'rejected')];
    expect(pendingSuggestions(stored, []).map((p) => p.suggestion?.id)).toEqual(['s1']);
    expect(pendingSuggestions([record('s1', 2, 'sent'), record('s2', 2)], [])).toEqual([]);
  });

  it('shows the batch being written in place of the stored one', () => {
    const pending = pendingSuggestions([record('s1', 2)], [{ text: 'writ', done: null }]);
    expect(pending).toEqual([{ index: 0, text: 'writ', suggestion: null }]);
  });

  it('shows the stored batch once stored, also when the engine kept fewer than it streamed', () => {
    // Two identical template fallbacks streamed; the engine stored one.
    const slots = [
      { text: 'template', done: view('t0', 'template') },
      { text: 'template', done: view('t1', 'template') },
    ];
    const before = pendingSuggestions([record('old', 1, 'sent')], slots);
    expect(before.map((p) => p.suggestion?.id)).toEqual(['t0', 't1']);
    const after = pendingSuggestions([record('old', 1, 'sent'), record('t0', 2)], slots);
    expect(after.map((p) => p.suggestion?.id)).toEqual(['t0']);
  });

  it('falls back to the stored batch once the streamed one is stored', () => {
    const stored = [record('a', 3)];
    const pending = pendingSuggestions(stored, [{ text: 'text a', done: view('a', 'text a') }]);
    expect(pending.map((p) => p.suggestion?.id)).toEqual(['a']);
  });
});

describe('filterConversations', () => {
  const row = (id: number, patch: Partial<ConversationSummary>): ConversationSummary => ({
    id,
    customerName: `C${id}`,
    channel: 'widget',
    language: 'en',
    stage: 'new',
    mode: 'draft',
    handoffRequested: false,
    lastMessageRole: 'customer',
    lastMessageText: '',
    lastMessageAt: 1,
    waitingSince: null,
    unread: 0,
    ...patch,
  });
  const list = [
    row(1, { mode: 'auto', customerName: '王先生' }),
    row(2, { stage: 'qualified', lastMessageText: 'What does the Team plan cost?' }),
    row(3, { channel: 'call' }),
  ];

  it('keeps everything without filters and narrows by each filter', () => {
    expect(filterConversations(list, emptyFilters())).toHaveLength(3);
    expect(filterConversations(list, { ...emptyFilters(), mode: 'auto' }).map((c) => c.id)).toEqual([1]);
    expect(filterConversations(list, { ...emptyFilters(), stage: 'qualified' }).map((c) => c.id)).toEqual([2]);
    expect(filterConversations(list, { ...emptyFilters(), channel: 'call' }).map((c) => c.id)).toEqual([3]);
    expect(filterConversations(list, { ...emptyFilters(), query: 'team PLAN' }).map((c) => c.id)).toEqual([2]);
    expect(filterConversations(list, { ...emptyFilters(), query: '王' }).map((c) => c.id)).toEqual([1]);
  });
});

describe('editDistance', () => {
  it('counts characters, not bytes', () => {
    expect(editDistance('您好', '你好')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
