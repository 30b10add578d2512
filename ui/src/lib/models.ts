// The model settings' logic, apart from the page so it can be tested: which row is in use, how far
// a fetch has come, and when the page should keep asking.
import type { FetchView, ModelStatusView, ModelView } from './bindings';

/** Whether `m` writes suggestions now (`chosen` null means the catalog's default). */
export function isChosen(m: ModelView, status: ModelStatusView | null): boolean {
  const chosen = status?.chosen ?? null;
  return chosen === m.id || (chosen === null && m.isDefault);
}

/** A fetch's progress in whole percent, 0–100 (a phase with no total yet is 0). */
export function fetchPercent(f: FetchView): number {
  if (f.phase === 'done') return 100;
  if (f.total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((f.done / f.total) * 100)));
}

/** While a model loads or a fetch runs, the page polls the status. */
export function needsPolling(status: ModelStatusView | null): boolean {
  if (status === null) return false;
  return status.status === 'loading' || (status.fetch != null && !status.fetch.finished);
}
