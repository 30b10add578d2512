// Pure helpers for the CRM and privacy screens: the top bar's sync summary, a lead's sync line,
// which credentials each CRM needs, the typed erasure confirmation, and the retention input.
// Kept free of Svelte so vitest covers them.
import type { CrmSecret, CrmSettings, CrmStatusView, LeadSyncView } from './bindings';
import type { MessageKey, Params } from './i18n';

export type CrmKind = CrmSettings['kind'];
export const CRM_KINDS: readonly CrmKind[] = ['bottlecrm', 'hubspot', 'webhook'];

/** A message with its parameters and a tone for its colour. */
export type Summary = { key: MessageKey; params?: Params; tone: 'ok' | 'warn' | 'bad' | 'idle' };

/** The credentials each CRM reads from the keyring. */
export function secretsFor(kind: CrmKind): CrmSecret[] {
  switch (kind) {
    case 'bottlecrm':
      return ['bottlecrm_intake_key', 'bottlecrm_api_token'];
    case 'hubspot':
      return ['hubspot_token'];
    case 'webhook':
      return ['webhook_secret'];
  }
}

/** The form's starting values for a kind, keeping what the saved settings have. */
export function formFor(kind: CrmKind, saved: CrmSettings | null): CrmSettings {
  if (saved && saved.kind === kind) return { ...saved };
  switch (kind) {
    case 'bottlecrm':
      return { kind, baseUrl: '', intakeId: '' };
    case 'hubspot':
      return { kind, baseUrl: 'https://api.hubapi.com' };
    case 'webhook':
      return { kind, url: '' };
  }
}

/** Whether the form can be saved (the backend checks the same, and more). */
export function formReady(form: CrmSettings): boolean {
  const http = (u: string) => /^https?:\/\/\S+$/.test(u.trim());
  switch (form.kind) {
    case 'bottlecrm':
      return http(form.baseUrl) && /^[A-Za-z0-9_-]+$/.test(form.intakeId.trim());
    case 'hubspot':
      return http(form.baseUrl);
    case 'webhook':
      return http(form.url);
  }
}

/**
 * The top bar's one line about the CRM, or null when there is nothing to say (no CRM and
 * nothing queued). "CRM offline — N pending" when changes wait and the relay is stopped or
 * failing; dead letters are named whatever else holds.
 */
export function crmSummary(s: CrmStatusView | null): Summary | null {
  if (s === null) return null;
  if (s.crm === null) {
    return s.pending > 0 ? { key: 'crm.notSetUp', params: { n: s.pending }, tone: 'idle' } : null;
  }
  const offline = !s.running || s.lastError !== null;
  if (s.dead > 0 && (s.pending === 0 || !offline)) {
    return { key: 'crm.dead', params: { n: s.dead }, tone: 'bad' };
  }
  if (offline && s.pending > 0) return { key: 'crm.offline', params: { n: s.pending }, tone: 'bad' };
  if (offline) return { key: 'crm.stopped', tone: 'warn' };
  if (s.pending > 0) return { key: 'crm.syncing', params: { n: s.pending }, tone: 'warn' };
  return { key: 'crm.synced', tone: 'ok' };
}

/** The lead panel's line about this lead and the CRM. */
export function leadSync(sync: LeadSyncView): Summary {
  switch (sync.state) {
    case 'not_queued':
      return { key: 'lead.syncNone', tone: 'idle' };
    case 'synced':
      return sync.crmId
        ? { key: 'lead.syncedAs', params: { id: sync.crmId }, tone: 'ok' }
        : { key: 'lead.synced', tone: 'ok' };
    case 'pending':
      return sync.lastError
        ? { key: 'lead.syncRetrying', params: { n: sync.attempts }, tone: 'warn' }
        : { key: 'lead.syncPending', tone: 'warn' };
    case 'dead':
      return { key: 'lead.syncDead', tone: 'bad' };
  }
}

/** The detail under a lead's sync line (an error or a refusal's reason), if any. */
export function leadSyncDetail(sync: LeadSyncView): string | null {
  if (sync.state === 'pending') return sync.lastError;
  if (sync.state === 'dead') return sync.reason;
  return null;
}

/** Whether a typed erasure confirmation names the customer (the backend's rule: the same text,
 * ignoring surrounding space and letter case). */
export function confirmationMatches(typed: string, name: string): boolean {
  const n = name.trim();
  return n !== '' && typed.trim().toLowerCase() === n.toLowerCase();
}

export const MAX_RETENTION_DAYS = 3653;

/** Reads the retention field: '' keeps for ever (null); else whole days in range, or undefined
 * when the input is not acceptable. */
export function parseRetention(input: string): number | null | undefined {
  const text = input.trim();
  if (text === '') return null;
  if (!/^\d+$/.test(text)) return undefined;
  const days = Number(text);
  return days >= 1 && days <= MAX_RETENTION_DAYS ? days : undefined;
}

/** A byte count for people. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Reads the widget port field: 0 (any free port) or 1024–65535; undefined otherwise. */
export function parsePort(input: string): number | undefined {
  const text = input.trim();
  if (!/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port === 0 || (port >= 1024 && port <= 65535) ? port : undefined;
}

/** Reads the allowed-origins field (one per line or comma-separated); undefined if one is not
 * an http(s) address. */
export function parseOrigins(input: string): string[] | undefined {
  const list = input
    .split(/[\n,]/)
    .map((o) => o.trim())
    .filter((o) => o !== '');
  return list.every((o) => /^https?:\/\/\S+$/.test(o)) && list.length <= 16 ? list : undefined;
}
