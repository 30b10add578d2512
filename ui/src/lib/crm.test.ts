import { describe, expect, it } from 'vitest';
import type { CrmStatusView } from './bindings';
import {
  confirmationMatches,
  crmSummary,
  formFor,
  formReady,
  formatBytes,
  leadSync,
  leadSyncDetail,
  parseRetention,
  secretsFor,
} from './crm';
import { translate } from './i18n';

const status = (patch: Partial<CrmStatusView> = {}): CrmStatusView => ({
  crm: 'bottlecrm',
  running: true,
  pending: 0,
  dead: 0,
  oldestPendingAt: null,
  lastError: null,
  lastDeliveredAt: null,
  ...patch,
});

describe('crmSummary', () => {
  it('says nothing without a CRM or a queue', () => {
    expect(crmSummary(null)).toBeNull();
    expect(crmSummary(status({ crm: null }))).toBeNull();
  });

  it('counts changes queued before a CRM is set up', () => {
    const s = crmSummary(status({ crm: null, pending: 4 }))!;
    expect(translate('en', s.key, s.params)).toBe('No CRM set up — 4 waiting');
  });

  it('says "CRM offline — N pending" while the CRM fails or the relay is stopped', () => {
    const failing = crmSummary(status({ pending: 12, lastError: 'connection refused' }))!;
    expect(translate('en', failing.key, failing.params)).toBe('CRM offline — 12 pending');
    expect(translate('zh', failing.key, failing.params)).toBe('CRM 离线 — 12 条待同步');
    expect(failing.tone).toBe('bad');
    expect(crmSummary(status({ pending: 3, running: false }))!.key).toBe('crm.offline');
  });

  it('tells syncing from synced, and names dead letters', () => {
    expect(crmSummary(status({ pending: 2 }))!.key).toBe('crm.syncing');
    expect(crmSummary(status())!.key).toBe('crm.synced');
    expect(crmSummary(status({ running: false }))!.key).toBe('crm.stopped');
    const dead = crmSummary(status({ dead: 2, pending: 1 }))!;
    expect(dead.key).toBe('crm.dead');
    expect(dead.params).toEqual({ n: 2 });
    // An outage with a queue outranks the dead letters (they wait for a person anyway).
    expect(crmSummary(status({ dead: 2, pending: 5, lastError: 'timeout' }))!.key).toBe('crm.offline');
  });
});

describe('leadSync', () => {
  it('describes each state', () => {
    expect(leadSync({ state: 'not_queued' }).key).toBe('lead.syncNone');
    const synced = leadSync({ state: 'synced', at: 1, crmId: '42' });
    expect(translate('en', synced.key, synced.params)).toBe('In the CRM as #42');
    expect(leadSync({ state: 'synced', at: 1, crmId: null }).key).toBe('lead.synced');
    expect(leadSync({ state: 'pending', attempts: 0, nextAttemptAt: 1, lastError: null }).key).toBe('lead.syncPending');
    const retry = leadSync({ state: 'pending', attempts: 3, nextAttemptAt: 1, lastError: '503' });
    expect(translate('zh', retry.key, retry.params)).toBe('同步失败，已重试 3 次');
    expect(leadSync({ state: 'dead', reason: '400 bad email', at: 1 }).tone).toBe('bad');
  });

  it('shows the error or the reason', () => {
    expect(leadSyncDetail({ state: 'dead', reason: '400 bad email', at: 1 })).toBe('400 bad email');
    expect(leadSyncDetail({ state: 'pending', attempts: 1, nextAttemptAt: 1, lastError: 'timeout' })).toBe('timeout');
    expect(leadSyncDetail({ state: 'synced', at: 1, crmId: null })).toBeNull();
  });
});

describe('CRM form', () => {
  it('lists the credentials each CRM needs', () => {
    expect(secretsFor('bottlecrm')).toEqual(['bottlecrm_intake_key', 'bottlecrm_api_token']);
    expect(secretsFor('hubspot')).toEqual(['hubspot_token']);
    expect(secretsFor('webhook')).toEqual(['webhook_secret']);
  });

  it('keeps saved values for the same kind only', () => {
    const saved = { kind: 'webhook' as const, url: 'https://crm.example/hook' };
    expect(formFor('webhook', saved)).toEqual(saved);
    expect(formFor('bottlecrm', saved)).toEqual({ kind: 'bottlecrm', baseUrl: '', intakeId: '' });
  });

  it('accepts only http(s) addresses and a plain intake id', () => {
    expect(formReady({ kind: 'webhook', url: 'https://crm.example/hook' })).toBe(true);
    expect(formReady({ kind: 'webhook', url: 'ftp://crm.example' })).toBe(false);
    expect(formReady({ kind: 'webhook', url: 'https://crm example' })).toBe(false);
    expect(formReady({ kind: 'bottlecrm', baseUrl: 'http://127.0.0.1:8000', intakeId: 'a1-b2' })).toBe(true);
    expect(formReady({ kind: 'bottlecrm', baseUrl: 'http://127.0.0.1:8000', intakeId: 'a/b' })).toBe(false);
  });
});

describe('privacy inputs', () => {
  it('matches the erasure confirmation like the backend', () => {
    expect(confirmationMatches('  Lin Wei ', 'lin wei')).toBe(true);
    expect(confirmationMatches('王芳', '王芳')).toBe(true);
    expect(confirmationMatches('王', '王芳')).toBe(false);
    expect(confirmationMatches('', '')).toBe(false);
  });

  it('reads the retention period', () => {
    expect(parseRetention('')).toBeNull();
    expect(parseRetention(' 30 ')).toBe(30);
    expect(parseRetention('0')).toBeUndefined();
    expect(parseRetention('3654')).toBeUndefined();
    expect(parseRetention('1.5')).toBeUndefined();
    expect(parseRetention('abc')).toBeUndefined();
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KB');
  });
});

describe('channel inputs', () => {
  it('reads the port', async () => {
    const { parsePort } = await import('./crm');
    expect(parsePort('0')).toBe(0);
    expect(parsePort(' 8765 ')).toBe(8765);
    expect(parsePort('80')).toBeUndefined();
    expect(parsePort('65536')).toBeUndefined();
    expect(parsePort('x')).toBeUndefined();
  });

  it('reads the allowed origins', async () => {
    const { parseOrigins } = await import('./crm');
    expect(parseOrigins('')).toEqual([]);
    expect(parseOrigins('https://a.example, http://b.example\n')).toEqual(['https://a.example', 'http://b.example']);
    expect(parseOrigins('javascript:alert(1)')).toBeUndefined();
  });
});
