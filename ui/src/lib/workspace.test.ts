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
    messages: [{ role: 'customer', text: 'hello', at: 1_000 }],
    lead: { id, externalKey: `lead-${id}`, crmId: null, pendingSync: 0, fields: [] },
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
