import { describe, expect, it } from 'vitest';
import type { FetchView, ModelStatusView, ModelView } from './bindings';
import { fetchPercent, isChosen, needsPolling } from './models';

const model = (patch: Partial<ModelView> = {}): ModelView => ({
  id: 'qwen2.5-coder-0.5b-instruct',
  name: 'Qwen2.5 Coder 0.5B',
  architecture: 'qwen2',
  installed: true,
  isDefault: true,
  source: 'catalog',
  sizeBytes: 531_000_000,
  sha256: null,
  requantization: null,
  path: null,
  ...patch,
});

const fetch = (patch: Partial<FetchView> = {}): FetchView => ({
  id: 'smollm2-135m-instruct',
  verify: false,
  phase: 'assemble',
  item: 'model.gguf',
  done: 0,
  total: 0,
  error: null,
  finished: false,
  cancelling: false,
  ...patch,
});

const status = (patch: Partial<ModelStatusView> = {}): ModelStatusView => ({
  status: 'ready',
  loaded: 0,
  total: 0,
  chosen: null,
  running: null,
  error: null,
  remote: null,
  fetch: null,
  ...patch,
});

describe('isChosen', () => {
  it('is the default when nothing was chosen', () => {
    expect(isChosen(model(), status())).toBe(true);
    expect(isChosen(model({ id: 'other', isDefault: false }), status())).toBe(false);
  });
  it('is the chosen id, and no local model while the remote server is in use', () => {
    expect(isChosen(model({ id: 'other', isDefault: false }), status({ chosen: 'other' }))).toBe(true);
    expect(isChosen(model(), status({ chosen: 'other' }))).toBe(false);
    expect(isChosen(model(), status({ chosen: 'remote' }))).toBe(false);
  });
});

describe('fetchPercent', () => {
  it('counts what the phase counts, clamped', () => {
    expect(fetchPercent(fetch({ done: 50, total: 200 }))).toBe(25);
    expect(fetchPercent(fetch({ done: 199, total: 200 }))).toBe(99);
    expect(fetchPercent(fetch({ done: 300, total: 200 }))).toBe(100);
  });
  it('is 0 before a total is known and 100 when done', () => {
    expect(fetchPercent(fetch({ phase: 'starting' }))).toBe(0);
    expect(fetchPercent(fetch({ phase: 'done', done: 0, total: 0, finished: true }))).toBe(100);
  });
});

describe('needsPolling', () => {
  it('polls while loading or fetching, not when idle, ready or finished', () => {
    expect(needsPolling(null)).toBe(false);
    expect(needsPolling(status())).toBe(false);
    expect(needsPolling(status({ status: 'loading' }))).toBe(true);
    expect(needsPolling(status({ fetch: fetch() }))).toBe(true);
    expect(needsPolling(status({ fetch: fetch({ finished: true, phase: 'done' }) }))).toBe(false);
    expect(needsPolling(status({ status: 'failed', fetch: fetch({ finished: true, phase: 'failed' }) }))).toBe(false);
    // Cancelling: polled until the fetch says it stopped.
    expect(needsPolling(status({ fetch: fetch({ cancelling: true }) }))).toBe(true);
    expect(needsPolling(status({ fetch: fetch({ finished: true, phase: 'cancelled' }) }))).toBe(false);
  });
});
