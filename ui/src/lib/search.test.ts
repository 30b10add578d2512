import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SearchHitView } from './bindings';
import { MessageSearch, SEARCH_DELAY_MS, searchArgs, searchable } from './search.svelte';

const hit = (conversationId: number, text: string): SearchHitView => ({
  conversationId,
  messageId: conversationId * 10,
  messageIndex: 0,
  role: 'customer',
  at: 1,
  customerName: `c${conversationId}`,
  channel: 'widget',
  snippet: [{ text, hit: true }],
});

describe('MessageSearch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('searches once after the typing pauses', async () => {
    const searchMessages = vi.fn(async ({ query }: { query: string }) => [hit(1, query)]);
    const s = new MessageSearch({ searchMessages });
    s.set('价');
    s.set('价格');
    expect(s.searching).toBe(true);
    await vi.advanceTimersByTimeAsync(SEARCH_DELAY_MS);
    expect(searchMessages).toHaveBeenCalledTimes(1);
    expect(searchMessages).toHaveBeenCalledWith({ query: '价格', limit: 50 });
    expect(s.hits.map((h) => h.snippet[0]!.text)).toEqual(['价格']);
    expect(s.done && !s.searching).toBe(true);
  });

  it('keeps to the inbox filters', async () => {
    const searchMessages = vi.fn(async () => [hit(3, 'x')]);
    const s = new MessageSearch({ searchMessages });
    s.set(' 报价 ', { mode: 'all', stage: 'won', channel: 'webhook' });
    await vi.advanceTimersByTimeAsync(SEARCH_DELAY_MS);
    expect(searchMessages).toHaveBeenCalledWith({ query: '报价', limit: 50, stage: 'won', channel: 'webhook' });
    expect(searchArgs('q', { mode: 'auto', stage: 'all' })).toEqual({ query: 'q', limit: 50, mode: 'auto' });
    expect(searchArgs('q')).toEqual({ query: 'q', limit: 50 });
  });

  it('keeps only the newest answer', async () => {
    let release: (v: SearchHitView[]) => void = () => {};
    const searchMessages = vi
      .fn()
      .mockImplementationOnce(() => new Promise<SearchHitView[]>((r) => (release = r)))
      .mockImplementationOnce(async () => [hit(2, 'new')]);
    const s = new MessageSearch({ searchMessages });
    s.set('old');
    await vi.advanceTimersByTimeAsync(SEARCH_DELAY_MS);
    s.set('new');
    await vi.advanceTimersByTimeAsync(SEARCH_DELAY_MS);
    release([hit(1, 'old')]);
    await vi.runAllTimersAsync();
    expect(s.query).toBe('new');
    expect(s.hits.map((h) => h.conversationId)).toEqual([2]);
  });

  it('clears at once on an empty query and shows errors', async () => {
    const searchMessages = vi.fn(async () => {
      throw { code: 'too_large', message: 'the search query is too long' };
    });
    const s = new MessageSearch({ searchMessages });
    s.set('x');
    await vi.advanceTimersByTimeAsync(SEARCH_DELAY_MS);
    expect(s.error?.code).toBe('too_large');
    s.set('   ');
    expect(s.error).toBeNull();
    expect(s.searching).toBe(false);
    expect(searchable('a'.repeat(201))).toBe(false);
    expect(searchable(' 发票 ')).toBe(true);
  });
});
