import { describe, expect, it } from 'vitest';
import { en, enumLabel, fieldLabel, formatTime, formatWaiting, initialLang, translate, zh } from './i18n';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe('dictionaries', () => {
  it('have identical key sets', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  });

  it('have no empty messages', () => {
    for (const dict of [en, zh]) {
      for (const [key, value] of Object.entries(dict)) expect(value, key).not.toBe('');
    }
  });

  it('use the same placeholders in both languages', () => {
    const placeholders = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zh[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('label the language switch with the other language', () => {
    expect(translate('en', 'lang.switch')).toBe('中文');
    expect(translate('zh', 'lang.switch')).toBe('English');
  });
});

describe('translate', () => {
  it('fills placeholders', () => {
    expect(translate('en', 'lead.pendingMany', { n: 3 })).toBe('3 changes waiting to sync');
    expect(translate('zh', 'lead.pendingMany', { n: 3 })).toBe('3 项更改待同步');
  });

  it('translates field labels and shows unknown keys as they are', () => {
    expect(fieldLabel('name', 'zh')).toBe('姓名');
    expect(fieldLabel('wechat', 'zh')).toBe('微信');
    expect(fieldLabel('budget', 'en')).toBe('Budget');
    expect(fieldLabel('shoe_size', 'zh')).toBe('shoe_size');
  });

  it('translates enum values', () => {
    expect(enumLabel('stage', 'handed_off', 'en')).toBe('Handed off');
    expect(enumLabel('source', 'salesperson', 'zh')).toBe('销售');
    expect(enumLabel('stage', 'mystery', 'en')).toBe('mystery');
  });
});

describe('formatWaiting', () => {
  it('says under a minute', () => {
    expect(formatWaiting(10_000, 'en')).toBe('waiting <1 min');
    expect(formatWaiting(10_000, 'zh')).toBe('已等待不到 1 分钟');
  });

  it('counts minutes', () => {
    expect(formatWaiting(4 * MIN, 'en')).toBe('waiting 4 min');
    expect(formatWaiting(4 * MIN + 59_000, 'zh')).toBe('已等待 4 分钟');
    expect(formatWaiting(59 * MIN, 'en')).toBe('waiting 59 min');
  });

  it('counts hours, with minutes while short', () => {
    expect(formatWaiting(HOUR, 'en')).toBe('waiting 1 h');
    expect(formatWaiting(HOUR + 20 * MIN, 'en')).toBe('waiting 1 h 20 min');
    expect(formatWaiting(HOUR + 20 * MIN, 'zh')).toBe('已等待 1 小时 20 分钟');
    expect(formatWaiting(13 * HOUR + 5 * MIN, 'zh')).toBe('已等待 13 小时');
  });

  it('counts days', () => {
    expect(formatWaiting(DAY, 'en')).toBe('waiting 1 day');
    expect(formatWaiting(3 * DAY + 2 * HOUR, 'en')).toBe('waiting 3 days');
    expect(formatWaiting(DAY, 'zh')).toBe('已等待 1 天');
    expect(formatWaiting(3 * DAY, 'zh')).toBe('已等待 3 天');
  });

  it('treats clock skew as no wait', () => {
    expect(formatWaiting(-5 * MIN, 'en')).toBe('waiting <1 min');
    expect(formatWaiting(Number.NaN, 'zh')).toBe('已等待不到 1 分钟');
  });
});

describe('formatTime', () => {
  it('shows only the time for today', () => {
    const now = new Date(2025, 2, 3, 15, 0).getTime();
    const at = new Date(2025, 2, 3, 14, 5).getTime();
    expect(formatTime(at, 'en', now)).toBe('14:05');
    expect(formatTime(at, 'zh', now)).toBe('14:05');
  });

  it('adds the date for other days', () => {
    const now = new Date(2025, 2, 5, 15, 0).getTime();
    const at = new Date(2025, 2, 3, 14, 5).getTime();
    expect(formatTime(at, 'en', now)).toContain('14:05');
    expect(formatTime(at, 'en', now)).toContain('Mar');
    expect(formatTime(at, 'zh', now)).toContain('3月3日');
  });
});

describe('initialLang', () => {
  it('prefers the saved choice', () => {
    expect(initialLang('zh', 'en-US')).toBe('zh');
    expect(initialLang('en', 'zh-CN')).toBe('en');
  });

  it('follows the system language otherwise', () => {
    expect(initialLang(null, 'zh-CN')).toBe('zh');
    expect(initialLang(null, 'zh-TW')).toBe('zh');
    expect(initialLang('klingon', 'en-GB')).toBe('en');
    expect(initialLang(null, undefined)).toBe('en');
  });
});

describe('webhook reply delivery', () => {
  // The states and failure codes of `DeliveryView` (app/src/dto.rs; codes from CallbackError).
  const states = ['pending', 'delivered', 'failed'];
  const codes = ['not_configured', 'refused', 'gave_up', 'expired'];

  it('labels every state and explains every failure in both languages', () => {
    for (const language of ['en', 'zh'] as const) {
      for (const state of states) expect(enumLabel('delivery', state, language), state).not.toBe(state);
      for (const code of codes) expect(enumLabel('deliveryWhy', code, language), code).not.toBe(code);
    }
    expect(enumLabel('delivery', 'failed', 'zh')).toBe('未送达');
    expect(enumLabel('delivery', 'failed', 'en')).toBe('Not delivered');
  });
});
