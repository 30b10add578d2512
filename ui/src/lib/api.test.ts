import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));

const { api, isApiError, toApiError } = await import('./api');

function sentBody(): unknown {
  const body = invoke.mock.calls[0]?.[1];
  expect(body).toBeInstanceOf(Uint8Array);
  return JSON.parse(new TextDecoder().decode(body as Uint8Array));
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

beforeEach(() => {
  invoke.mockReset();
});

describe('api', () => {
  it('sends an empty object as raw bytes for commands without arguments', async () => {
    invoke.mockResolvedValue([]);
    await api.listConversations();
    expect(invoke.mock.calls[0]?.[0]).toBe('list_conversations');
    expect(sentBody()).toEqual({});
  });

  it('sends arguments as UTF-8 JSON', async () => {
    invoke.mockResolvedValue({});
    await api.sendReply({ conversationId: 7, text: '您好' });
    expect(invoke.mock.calls[0]?.[0]).toBe('send_reply');
    expect(sentBody()).toEqual({ conversationId: 7, text: '您好' });
  });

  it('passes typed errors through', async () => {
    invoke.mockImplementation(async () => {
      throw { code: 'too_large', message: 'text is too long' };
    });
    expect(await failure(api.sendReply({ conversationId: 1, text: 'x' }))).toEqual({
      code: 'too_large',
      message: 'text is too long',
    });
  });

  it('normalises other failures to internal errors', async () => {
    invoke.mockImplementation(async () => {
      throw 'command send_reply not allowed';
    });
    expect(await failure(api.appInfo())).toEqual({
      code: 'internal',
      message: 'command send_reply not allowed',
    });
  });
});

describe('isApiError / toApiError', () => {
  it('recognises only known codes with a message', () => {
    expect(isApiError({ code: 'not_found', message: 'gone' })).toBe(true);
    expect(isApiError({ code: 'not_found' })).toBe(false);
    expect(isApiError({ code: 'teapot', message: 'x' })).toBe(false);
    expect(isApiError(null)).toBe(false);
    expect(isApiError('not_found')).toBe(false);
  });

  it('keeps what it can of unknown errors', () => {
    expect(toApiError(new Error('boom'))).toEqual({ code: 'internal', message: 'boom' });
    expect(toApiError({ code: 'teapot', message: 'short and stout' })).toEqual({
      code: 'internal',
      message: 'teapot: short and stout',
    });
    expect(toApiError(undefined)).toEqual({ code: 'internal', message: 'undefined' });
  });
});
