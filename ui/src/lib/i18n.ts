// Chinese and English, both first-class. The two dictionaries must have identical key sets
// (the type of `zh` enforces it, and i18n.test.ts checks it at run time too).
import { derived, get, writable } from 'svelte/store';

export type Lang = 'en' | 'zh';

export const en = {
  'app.name': 'Closer',
  'app.tagline': 'Sales console',
  'app.version': 'v{version}',
  'lang.switch': '中文',
  'lang.switchTitle': 'Switch the interface to Chinese',

  'inbox.title': 'Inbox',
  'inbox.empty': 'No conversations yet',
  'inbox.loading': 'Loading…',
  'inbox.unread': '{n} unread',
  'inbox.handoff': 'Hand-off',
  'inbox.handoffTitle': 'The customer asked for a person',
  'inbox.noMessages': 'No messages yet',
  'inbox.keyboardHint': '↑ ↓ or J K to move',

  'conversation.empty': 'Select a conversation',
  'conversation.emptyHint': 'Pick a customer from the inbox to read and reply.',
  'conversation.loading': 'Opening…',
  'conversation.mode': 'AI mode',
  'conversation.aiTag': 'AI',
  'conversation.noMessages': 'No messages in this conversation yet.',
  'conversation.customerLanguage': 'Customer writes in {language}',

  'reply.placeholder': 'Write a reply…',
  'reply.send': 'Send',
  'reply.sending': 'Sending…',
  'reply.hint': 'Ctrl+Enter to send',
  'reply.hintMac': '⌘+Enter to send',

  'lead.title': 'Lead',
  'lead.empty': 'Nothing known about this lead yet.',
  'lead.synced': 'Synced',
  'lead.pendingOne': '1 change waiting to sync',
  'lead.pendingMany': '{n} changes waiting to sync',
  'lead.externalKey': 'Key {key}',
  'lead.crmId': 'CRM #{id}',
  'lead.edit': 'Edit {field}',
  'lead.save': 'Save',
  'lead.cancel': 'Cancel',
  'lead.missing': 'Not collected yet',
  'lead.confidence': 'AI confidence {n}%',

  'field.name': 'Name',
  'field.phone': 'Phone',
  'field.email': 'Email',
  'field.wechat': 'WeChat',
  'field.company': 'Company',
  'field.need': 'Need',
  'field.budget': 'Budget',
  'field.quantity': 'Quantity',

  'source.ai': 'AI',
  'source.crm': 'CRM',
  'source.salesperson': 'Salesperson',

  'stage.new': 'New',
  'stage.engaged': 'Engaged',
  'stage.qualified': 'Qualified',
  'stage.proposal': 'Proposal',
  'stage.negotiation': 'Negotiation',
  'stage.won': 'Won',
  'stage.lost': 'Lost',
  'stage.handed_off': 'Handed off',

  'mode.off': 'Off',
  'mode.draft': 'Draft',
  'mode.auto': 'Auto',
  'mode.offHint': 'AI stays quiet',
  'mode.draftHint': 'AI drafts, you send',
  'mode.autoHint': 'AI replies on its own',

  'channel.widget': 'Web chat',
  'channel.webhook': 'Webhook',
  'channel.simulator': 'Simulator',
  'channel.call': 'Call',

  'role.customer': 'Customer',
  'role.salesperson': 'You',
  'role.ai': 'AI',
  'role.system': 'System',

  'language.zh': 'Chinese',
  'language.en': 'English',

  'wait.lessThanMinute': 'waiting <1 min',
  'wait.minutes': 'waiting {n} min',
  'wait.hours': 'waiting {h} h',
  'wait.hoursMinutes': 'waiting {h} h {m} min',
  'wait.day': 'waiting 1 day',
  'wait.days': 'waiting {n} days',

  'error.invalid_argument': 'That input was not accepted',
  'error.too_large': 'That is too long to send',
  'error.not_found': 'It no longer exists',
  'error.corrupt_database': 'The local database is damaged',
  'error.database_too_new': 'The database is from a newer version of Closer',
  'error.invalid_model': 'That file is not a usable model',
  'error.nlu_not_ready': 'Message understanding is still loading; try again in a moment',
  'error.model_not_ready': 'The reply model is still loading (or not installed); suggestions will follow',
  'error.training_failed': 'The intent model could not be trained from these examples',
  'error.storage': 'Could not save to disk',
  'error.internal': 'Something went wrong',
  'error.dismiss': 'Dismiss',
  'error.offline': 'Could not reach the Closer backend',
} as const;

export type MessageKey = keyof typeof en;

export const zh: Record<MessageKey, string> = {
  'app.name': 'Closer',
  'app.tagline': '销售工作台',
  'app.version': 'v{version}',
  'lang.switch': 'English',
  'lang.switchTitle': '将界面切换为英文',

  'inbox.title': '收件箱',
  'inbox.empty': '暂无会话',
  'inbox.loading': '加载中…',
  'inbox.unread': '{n} 条未读',
  'inbox.handoff': '转人工',
  'inbox.handoffTitle': '客户要求人工服务',
  'inbox.noMessages': '暂无消息',
  'inbox.keyboardHint': '↑ ↓ 或 J K 切换',

  'conversation.empty': '选择一个会话',
  'conversation.emptyHint': '从收件箱中选择一位客户，查看并回复。',
  'conversation.loading': '正在打开…',
  'conversation.mode': 'AI 模式',
  'conversation.aiTag': 'AI',
  'conversation.noMessages': '该会话还没有消息。',
  'conversation.customerLanguage': '客户使用{language}',

  'reply.placeholder': '输入回复…',
  'reply.send': '发送',
  'reply.sending': '发送中…',
  'reply.hint': 'Ctrl+Enter 发送',
  'reply.hintMac': '⌘+Enter 发送',

  'lead.title': '线索',
  'lead.empty': '暂未收集到该线索的信息。',
  'lead.synced': '已同步',
  'lead.pendingOne': '1 项更改待同步',
  'lead.pendingMany': '{n} 项更改待同步',
  'lead.externalKey': '标识 {key}',
  'lead.crmId': 'CRM 编号 {id}',
  'lead.edit': '编辑{field}',
  'lead.save': '保存',
  'lead.cancel': '取消',
  'lead.missing': '尚未收集',
  'lead.confidence': 'AI 置信度 {n}%',

  'field.name': '姓名',
  'field.phone': '电话',
  'field.email': '邮箱',
  'field.wechat': '微信',
  'field.company': '公司',
  'field.need': '需求',
  'field.budget': '预算',
  'field.quantity': '数量',

  'source.ai': 'AI',
  'source.crm': 'CRM',
  'source.salesperson': '销售',

  'stage.new': '新线索',
  'stage.engaged': '沟通中',
  'stage.qualified': '已确认需求',
  'stage.proposal': '方案报价',
  'stage.negotiation': '商务谈判',
  'stage.won': '已成交',
  'stage.lost': '已流失',
  'stage.handed_off': '已转人工',

  'mode.off': '关闭',
  'mode.draft': '草拟',
  'mode.auto': '自动',
  'mode.offHint': 'AI 不参与',
  'mode.draftHint': 'AI 起草，由你发送',
  'mode.autoHint': 'AI 自动回复',

  'channel.widget': '网页咨询',
  'channel.webhook': '接口',
  'channel.simulator': '模拟器',
  'channel.call': '电话',

  'role.customer': '客户',
  'role.salesperson': '你',
  'role.ai': 'AI',
  'role.system': '系统',

  'language.zh': '中文',
  'language.en': '英文',

  'wait.lessThanMinute': '已等待不到 1 分钟',
  'wait.minutes': '已等待 {n} 分钟',
  'wait.hours': '已等待 {h} 小时',
  'wait.hoursMinutes': '已等待 {h} 小时 {m} 分钟',
  'wait.day': '已等待 1 天',
  'wait.days': '已等待 {n} 天',

  'error.invalid_argument': '输入内容无效',
  'error.too_large': '内容过长，无法发送',
  'error.not_found': '该内容已不存在',
  'error.corrupt_database': '本地数据库已损坏',
  'error.database_too_new': '数据库来自更新版本的 Closer',
  'error.invalid_model': '该文件不是可用的模型',
  'error.nlu_not_ready': '语义理解模型仍在加载，请稍后再试',
  'error.model_not_ready': '回复模型仍在加载（或尚未安装），建议回复稍后给出',
  'error.training_failed': '无法用这些示例训练意图模型',
  'error.storage': '无法保存到磁盘',
  'error.internal': '出现了问题',
  'error.dismiss': '关闭',
  'error.offline': '无法连接 Closer 后台',
};

export const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, zh };

export type Params = Record<string, string | number>;

/** Looks a key up in one language and fills `{name}` placeholders. */
export function translate(language: Lang, key: MessageKey, params?: Params): string {
  const template = dictionaries[language][key] ?? en[key] ?? key;
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** Whether `key` is a message key (for labels built from backend values). */
export function hasKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(en, key);
}

/** A lead field's label; keys the console does not know are shown as they are. */
export function fieldLabel(field: string, language: Lang): string {
  const key = `field.${field}`;
  return hasKey(key) ? translate(language, key) : field;
}

/** A translated label for a backend enum value such as `stage.won`; unknown values as-is. */
export function enumLabel(prefix: string, value: string, language: Lang): string {
  const key = `${prefix}.${value}`;
  return hasKey(key) ? translate(language, key) : value;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** How long a customer has been waiting, e.g. "waiting 4 min" / "已等待 4 分钟". */
export function formatWaiting(ms: number, language: Lang): string {
  const elapsed = Number.isFinite(ms) ? Math.max(0, ms) : 0;
  if (elapsed < MINUTE) return translate(language, 'wait.lessThanMinute');
  if (elapsed < HOUR) return translate(language, 'wait.minutes', { n: Math.floor(elapsed / MINUTE) });
  if (elapsed < DAY) {
    const h = Math.floor(elapsed / HOUR);
    const m = Math.floor((elapsed % HOUR) / MINUTE);
    return m === 0 || h >= 10
      ? translate(language, 'wait.hours', { h })
      : translate(language, 'wait.hoursMinutes', { h, m });
  }
  const days = Math.floor(elapsed / DAY);
  return days === 1 ? translate(language, 'wait.day') : translate(language, 'wait.days', { n: days });
}

/** The BCP 47 tag for a language, as used on <html lang> and by Intl. */
export function locale(language: Lang): string {
  return language === 'zh' ? 'zh-CN' : 'en';
}

/** A message time: "14:05" today, with the date before it otherwise. */
export function formatTime(at: number, language: Lang, now: number = Date.now()): string {
  const date = new Date(at);
  const sameDay = new Date(now).toDateString() === date.toDateString();
  const options: Intl.DateTimeFormatOptions = sameDay
    ? { hour: '2-digit', minute: '2-digit', hour12: false }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false };
  return new Intl.DateTimeFormat(locale(language), options).format(date);
}

const STORAGE_KEY = 'closer.lang';

function isLang(value: unknown): value is Lang {
  return value === 'en' || value === 'zh';
}

/** The starting language: the saved choice, else the system's (zh* → zh), else English. */
export function initialLang(
  saved: string | null = readSaved(),
  systemLanguage: string | undefined = typeof navigator === 'undefined' ? undefined : navigator.language,
): Lang {
  if (isLang(saved)) return saved;
  return systemLanguage?.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

function readSaved(): string | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function applyToDocument(language: Lang): void {
  if (typeof document !== 'undefined') document.documentElement.lang = locale(language);
}

/** The interface language; components read it as `$lang`. */
export const lang = writable<Lang>(initialLang());
lang.subscribe(applyToDocument);

/** `$t('inbox.title')`: the translator for the current language. */
export const t = derived(lang, (language) => (key: MessageKey, params?: Params) =>
  translate(language, key, params),
);

/** Switches the language and remembers the choice. */
export function setLang(language: Lang): void {
  lang.set(language);
  try {
    localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // Storage may be unavailable; the switch still applies for this session.
  }
}

export function toggleLang(): void {
  setLang(get(lang) === 'zh' ? 'en' : 'zh');
}
