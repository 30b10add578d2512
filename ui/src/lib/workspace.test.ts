import { describe, expect, it, vi } from 'vitest';
import type { Api } from './api';
import type { ConversationSummary, ConversationView } from './bindings';
import { Workspace } from './workspace.svelte';

function summary(id: number, patch: Partial<ConversationSummary> = {}): ConversationSummary {
  return {
    id,
    customerName: `Customer ${id}`,
    channel: 'widget',
    language: 'en',
    stage: 'new',
    mode: 'draft',
    handoffRequested: false,
    lastMessageRole: 'customer',
    lastMessageText: 'hello',
    lastMessageAt: 1_000,
    waitingSince: 1_000,
    unread: 0,
    ...patch,
  };
}

function view(id: number, patch: Partial<ConversationSummary> = {}): ConversationView {
  return {
    summary: summary(id, patch),
    stageReason: '',
    messages: [{ role: 'customer', text: 'hello', at: 1_000, delivery: null }],
    lead: { id, externalKey: `lead-${id}`, crmId: null, pendingSync: 0, sync: { state: 'not_queued' }, fields: [] },
  };
}

function fakeApi(overrides: Partial<Api> = {}): Api {
  return {
    appInfo: vi.fn(async () => ({ version: '0.1.0', dataDir: '', database: '', logDir: '', schemaVersion: 1 })),
    listConversations: vi.fn(async () => [summary(1), summary(2), summary(3)]),
    openConversation: vi.fn(async ({ conversationId }) => view(conversationId)),
    sendReply: vi.fn(async ({ conversationId }) => view(conversationId)),
    setLeadField: vi.fn(async ({ conversationId }) => ({ changed: true, conversation: view(conversationId) })),
    setMode: vi.fn(async ({ conversationId, mode }) => view(conversationId, { mode })),
    listProducts: vi.fn(async () => []),
    listModels: vi.fn(async () => []),
    importModel: vi.fn(async () => {
      throw { code: 'invalid_model', message: 'not used by the workspace' };
    }),
    modelStatus: vi.fn(async () => ({ status: 'idle', loaded: 0, total: 0, chosen: null, running: null, error: null, remote: null, fetch: null })),
    chooseModel: vi.fn(async () => ({ status: 'loading', loaded: 0, total: 0, chosen: null, running: null, error: null, remote: null, fetch: null })),
    fetchModel: vi.fn(async () => ({ status: 'idle', loaded: 0, total: 0, chosen: null, running: null, error: null, remote: null, fetch: null })),
    cancelFetch: vi.fn(async () => ({ status: 'idle', loaded: 0, total: 0, chosen: null, running: null, error: null, remote: null, fetch: null })),
    configureRemoteModel: vi.fn(async () => ({ status: 'idle', loaded: 0, total: 0, chosen: null, running: null, error: null, remote: null, fetch: null })),
    setRemoteModelKey: vi.fn(async () => ({ status: 'idle', loaded: 0, total: 0, chosen: null, running: null, error: null, remote: null, fetch: null })),
    receiveCustomerMessage: vi.fn(async ({ conversationId }) => ({
      conversation: view(conversationId),
      decision: { action: 'answer', reason: 'question_asked', field: null, objection: null, promotion: null, mayAutoSend: false },
      suggestions: [],
      autoSent: null,
      nluMs: 1,
      suggestMs: 1,
    })),
    sendSuggestion: vi.fn(async ({ conversationId }) => view(conversationId)),
    rejectSuggestion: vi.fn(async ({ conversationId }) => view(conversationId)),
    conversationDetails: vi.fn(async ({ conversationId }) => ({ conversationId, turns: [], suggestions: [], handoff: null, focus: null })),
    takeOver: vi.fn(async ({ conversationId }) => ({
      conversationId,
      turns: [],
      suggestions: [],
      handoff: { state: 'taken', reason: null, at: 1 },
      focus: null,
    })),
    handBack: vi.fn(async ({ conversationId }) => ({ conversationId, turns: [], suggestions: [], handoff: null, focus: null })),
    dashboard: vi.fn(async () => {
      throw { code: 'internal', message: 'not used by the workspace' };
    }),
    regenerateSuggestions: vi.fn(async () => ({
      decision: { action: 'answer', reason: 'question_asked', field: null, objection: null, promotion: null, mayAutoSend: false },
      suggestions: [{ id: 's-new', text: 'fresh', source: 'template', replacedBecause: 'model_not_ready' }],
      replaced: ['s-old'],
    })),
    searchMessages: vi.fn(async () => []),
    ...overrides,
  };
}

describe('Workspace', () => {
  it('opens the selected conversation and refreshes the inbox', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(2);
    expect(ws.view?.summary.id).toBe(2);
    expect(ws.opening).toBe(false);
    expect(api.listConversations).toHaveBeenCalled();
    expect(ws.conversations).toHaveLength(3);
  });

  it('ignores a slow answer for a conversation no longer selected', async () => {
    let releaseFirst: () => void = () => {};
    const api = fakeApi({
      openConversation: vi.fn(({ conversationId }) =>
        conversationId === 1
          ? new Promise<ConversationView>((resolve) => (releaseFirst = () => resolve(view(1))))
          : Promise.resolve(view(conversationId)),
      ),
    });
    const ws = new Workspace(api);
    const first = ws.select(1);
    await ws.select(2);
    releaseFirst();
    await first;
    expect(ws.selectedId).toBe(2);
    expect(ws.view?.summary.id).toBe(2);
  });

  it('moves the selection with the keyboard', async () => {
    const ws = new Workspace(fakeApi());
    await ws.refresh();
    ws.move(1);
    expect(ws.selectedId).toBe(1);
    ws.move(1);
    expect(ws.selectedId).toBe(2);
    ws.move(-5);
    expect(ws.selectedId).toBe(1);
  });

  it('keeps the draft when a reply fails, and clears it when sent', async () => {
    const sendReply = vi
      .fn()
      .mockImplementationOnce(async () => {
        throw { code: 'too_large', message: 'text is too long' };
      })
      .mockImplementationOnce(async () => view(1));
    const ws = new Workspace(fakeApi({ sendReply }));
    await ws.select(1);
    ws.setDraft(1, '  a long reply  ');

    expect(await ws.sendReply()).toBe(false);
    expect(ws.actionError).toEqual({ code: 'too_large', message: 'text is too long' });
    expect(ws.draft(1)).toBe('  a long reply  ');

    expect(await ws.sendReply()).toBe(true);
    expect(sendReply).toHaveBeenLastCalledWith({ conversationId: 1, text: 'a long reply' });
    expect(ws.actionError).toBeNull();
    expect(ws.draft(1)).toBe('');
  });

  it('does not send blank replies', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(1);
    ws.setDraft(1, '  \n ');
    expect(await ws.sendReply()).toBe(false);
    expect(api.sendReply).not.toHaveBeenCalled();
  });

  it('shows the mode the backend set', async () => {
    const ws = new Workspace(fakeApi());
    await ws.select(1);
    await ws.setMode('auto');
    expect(ws.view?.summary.mode).toBe('auto');
  });

  it('reports a failed lead field save at that field', async () => {
    const ws = new Workspace(
      fakeApi({
        setLeadField: vi.fn(async () => {
          throw { code: 'invalid_argument', message: 'value is empty' };
        }),
      }),
    );
    await ws.select(1);
    expect(await ws.setLeadField('phone', '')).toBe(false);
    expect(ws.leadError).toEqual({ field: 'phone', error: { code: 'invalid_argument', message: 'value is empty' } });
  });

  it('reloads the open conversation when the inbox shows news', async () => {
    let inbox = [summary(1)];
    const api = fakeApi({ listConversations: vi.fn(async () => inbox) });
    const ws = new Workspace(api);
    await ws.select(1);
    expect(api.openConversation).toHaveBeenCalledTimes(1);

    inbox = [summary(1, { lastMessageAt: 2_000, unread: 1 })];
    await ws.refresh();
    expect(api.openConversation).toHaveBeenCalledTimes(2);
  });

  it('reports an unreachable backend', async () => {
    const ws = new Workspace(
      fakeApi({
        listConversations: vi.fn(async () => {
          throw 'no IPC';
        }),
      }),
    );
    await ws.refresh();
    expect(ws.loaded).toBe(true);
    expect(ws.loadError).toEqual({ code: 'internal', message: 'no IPC' });
  });
});

describe('Workspace live path', () => {
  it('keeps the decision of a received message and reloads the details', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(1);
    expect(await ws.receiveCustomerMessage('How much?')).toBe(true);
    expect(ws.decisions[1]?.reason).toBe('question_asked');
    expect(ws.receiving[1]).toBe(false);
    expect(api.conversationDetails).toHaveBeenCalledTimes(2);
  });

  it('streams suggestion events into the open conversation and sends one', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(1);
    ws.onEvent({ kind: 'suggestion', conversationId: 1, stream: { kind: 'piece', index: 0, text: 'Hi' } });
    expect(ws.pending).toEqual([{ index: 0, text: 'Hi', suggestion: null }]);
    expect(await ws.sendSuggestion('s-1', 'Hi there')).toBe(true);
    expect(api.sendSuggestion).toHaveBeenCalledWith({ conversationId: 1, id: 's-1', text: 'Hi there' });
  });

  it('takes over and hands back', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(1);
    await ws.toggleTakeOver();
    expect(api.takeOver).toHaveBeenCalled();
  });

  it('filters the inbox and moves within the filtered list', async () => {
    const api = fakeApi({
      listConversations: vi.fn(async () => [summary(1), summary(2, { mode: 'auto' }), summary(3, { mode: 'auto' })]),
    });
    const ws = new Workspace(api);
    await ws.refresh();
    ws.setFilter('mode', 'auto');
    expect(ws.visible.map((c) => c.id)).toEqual([2, 3]);
  });

  it('regenerates: the new decision is kept and the conversation reloads', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(2);
    expect(await ws.regenerate()).toBe(true);
    expect(api.regenerateSuggestions).toHaveBeenCalledWith({ conversationId: 2 });
    expect(ws.decisions[2]?.action).toBe('answer');
    expect(ws.receiving[2]).toBe(false);
    expect(api.conversationDetails).toHaveBeenCalledTimes(2);
    expect(ws.actionError).toBeNull();
  });

  it('shows why a regeneration failed', async () => {
    const api = fakeApi({
      regenerateSuggestions: vi.fn(async () => {
        throw { code: 'invalid_argument', message: 'the AI is off in this conversation' };
      }),
    });
    const ws = new Workspace(api);
    await ws.select(1);
    expect(await ws.regenerate()).toBe(false);
    expect(ws.actionError?.code).toBe('invalid_argument');
    expect(ws.receiving[1]).toBe(false);
  });

  it('forgets an erased conversation', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.select(3);
    ws.setDraft(3, 'unsent');
    await ws.forget(3);
    expect(ws.selectedId).toBeNull();
    expect(ws.view).toBeNull();
    expect(ws.draft(3)).toBe('');
  });

  it('jumps to a search hit: opens its conversation and remembers the message', async () => {
    const api = fakeApi();
    const ws = new Workspace(api);
    await ws.jumpTo(3, 7);
    expect(ws.selectedId).toBe(3);
    expect(ws.focus).toEqual({ conversationId: 3, index: 7 });
    expect(api.openConversation).toHaveBeenCalledWith({ conversationId: 3 });
  });
});
