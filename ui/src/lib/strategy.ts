// The strategy editor's pure logic: editing a copy of the document, moving lead fields.
import type { LeadFieldSpecJson, StrategyDocumentJson } from './bindings';

export function cloneDocument(doc: StrategyDocumentJson): StrategyDocumentJson {
  return JSON.parse(JSON.stringify(doc)) as StrategyDocumentJson;
}

/** Moves item `index` by `delta` places (clamped); returns a new list. */
export function move<T>(list: T[], index: number, delta: number): T[] {
  const to = Math.max(0, Math.min(list.length - 1, index + delta));
  if (to === index || index < 0 || index >= list.length) return list;
  const next = [...list];
  const [item] = next.splice(index, 1);
  next.splice(to, 0, item!);
  return next;
}

export const FIELD_TYPES = ['text', 'phone', 'email', 'wechat', 'money', 'quantity', 'date', 'company', 'person'];

/** A new lead field with a key not yet used (`field_1`, `field_2`, …). */
export function newField(existing: LeadFieldSpecJson[]): LeadFieldSpecJson {
  let n = existing.length + 1;
  while (existing.some((f) => f.key === `field_${n}`)) n++;
  return {
    key: `field_${n}`,
    field_type: 'text',
    required: false,
    label_zh: '',
    label_en: '',
    ask_zh: '',
    ask_en: '',
    cues: [],
    crm_field: null,
  };
}

/** Whether two documents are the same (the editor's "unsaved changes" mark). */
export function sameDocument(a: StrategyDocumentJson | null, b: StrategyDocumentJson | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
