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

  'nav.label': 'Sections',
  'nav.console': 'Conversations',
  'nav.strategy': 'Strategy',
  'nav.dashboard': 'Dashboard',
  'nav.settings': 'Settings',
  'inbox.search': 'Search customers and messages (/)',
  'inbox.noMatch': 'No conversation matches the filters',
  'filter.allModes': 'All modes',
  'filter.stage': 'Stage',
  'filter.allStages': 'All stages',
  'filter.channel': 'Channel',
  'filter.allChannels': 'All channels',
  'conversation.takeOver': 'Take over',
  'conversation.handBack': 'Hand back to AI',
  'conversation.takeOverKey': 'T: take over or hand back',
  'conversation.taken': 'You have this conversation: the AI only drafts.',
  'conversation.requested': 'The AI asks for a person: {reason}',
  'simulate.label': 'Customer says',
  'simulate.placeholder': 'Type a message as the customer (demo)…',
  'simulate.send': 'Receive',
  'simulate.working': 'Understanding…',
  'suggest.title': 'Suggested replies',
  'suggest.thinking': 'Reading the message…',
  'suggest.keys': '1/2 send · E edit · X reject · T take over',
  'suggest.writing': 'writing…',
  'suggest.edit': 'Edit',
  'suggest.editDistance': '{n} characters changed',
  'suggest.sendEdited': 'Send edited',
  'suggest.reasonPlaceholder': 'Why? (optional)',
  'suggest.reject': 'Reject',
  'suggest.send': 'Send',
  'suggestSource.model': 'model',
  'suggestSource.template': 'strategy template',
  'nlu.unknown': 'intent unclear',
  'action.answer': 'Answer',
  'action.ask_field': 'Ask for a field',
  'action.handle_objection': 'Handle objection',
  'action.offer_promotion': 'Offer promotion',
  'action.hand_off': 'Hand off',
  'action.close': 'Close',
  'action.engage': 'Engage',
  'reason.customer_angry': 'the customer is angry',
  'reason.requested_human': 'the customer asked for a person',
  'reason.repeated_misunderstanding': 'repeated misunderstanding',
  'reason.low_confidence': 'low confidence',
  'reason.purchase_ready': 'ready to buy',
  'reason.purchase_needs_field': 'ready to buy, details missing',
  'reason.objection_with_promotion': 'objection, a promotion applies',
  'reason.objection_in_playbook': 'objection in the playbook',
  'reason.objection_not_in_playbook': 'objection not in the playbook',
  'reason.hesitant_customer': 'the customer hesitates',
  'reason.question_asked': 'a question was asked',
  'reason.customer_leaving': 'the customer is leaving',
  'reason.missing_required_field': 'a required field is missing',
  'reason.greeting': 'greeting',
  'reason.keep_engaging': 'keep the conversation going',
  'stageReason.customer_replied': 'the customer replied',
  'stageReason.showed_interest': 'showed interest',
  'stageReason.need_and_budget_known': 'need and budget known',
  'stageReason.product_presented': 'product presented',
  'stageReason.product_priced': 'price given',
  'stageReason.price_objection': 'price objection',
  'stageReason.purchase_intent': 'intends to buy',
  'stageReason.purchase_confirmed': 'purchase confirmed',
  'stageReason.not_interested': 'not interested',
  'stageReason.left_after_refusal': 'left after refusing',
  'stageReason.customer_returned': 'the customer came back',
  'stageReason.handoff_requested': 'hand-off requested',
  'stageReason.handoff_returned': 'handed back to the AI',
  'intent.greeting': 'greeting',
  'intent.product_inquiry': 'product inquiry',
  'intent.price_inquiry': 'price inquiry',
  'intent.feature_question': 'feature question',
  'intent.compare_competitor': 'compares competitors',
  'intent.purchase_intent': 'purchase intent',
  'intent.request_demo_or_trial': 'wants demo/trial',
  'intent.objection_price': 'price objection',
  'intent.objection_timing': 'timing objection',
  'intent.objection_trust': 'trust objection',
  'intent.after_sales': 'after-sales',
  'intent.complaint': 'complaint',
  'intent.request_human': 'asks for a person',
  'intent.provide_contact': 'gives contact',
  'intent.provide_requirement': 'gives requirement',
  'intent.chit_chat': 'chit-chat',
  'intent.not_interested': 'not interested',
  'intent.goodbye': 'goodbye',
  'sentiment.positive': 'positive',
  'sentiment.neutral': 'neutral',
  'sentiment.hesitant': 'hesitant',
  'sentiment.negative': 'negative',
  'sentiment.angry': 'angry',
  'strategy.title': 'Strategy',
  'strategy.published': 'Published v{v}',
  'strategy.draft': 'draft v{v}',
  'strategy.unsaved': 'unsaved changes',
  'strategy.note': 'Note for this version',
  'strategy.save': 'Save draft',
  'strategy.test': 'Test on samples',
  'strategy.publish': 'Publish',
  'strategy.persona': 'Persona',
  'strategy.tone': 'Tone',
  'strategy.goals': 'Goals',
  'strategy.remove': 'Remove',
  'strategy.addGoal': 'goal',
  'strategy.proactivity': 'Proactivity',
  'strategy.handoffThreshold': 'Hand-off below confidence',
  'strategy.maxPromotions': 'Promotions per conversation',
  'strategy.leadFields': 'Lead fields to collect',
  'strategy.key': 'Key',
  'strategy.type': 'Type',
  'strategy.required': 'Required',
  'strategy.askZh': 'How to ask (Chinese)',
  'strategy.askEn': 'How to ask (English)',
  'strategy.crmField': 'CRM field',
  'strategy.addField': 'field',
  'strategy.playbook': 'Objection playbook',
  'strategy.promotions': 'Promotions',
  'strategy.examples': 'Example replies',
  'strategy.addExample': 'example',
  'strategy.scripts': 'Call scripts',
  'strategy.diff': 'Changes against v{v}',
  'strategy.noChanges': 'The draft is the same as the published version.',
  'strategy.samples': 'Test-run on sample conversations',
  'strategy.before': 'now',
  'strategy.after': 'draft',
  'strategy.versions': 'Versions',
  'strategy.rollback': 'Roll back to this',
  'strategy.intents': 'Intent examples and retraining',
  'strategy.intentLabel': 'label (snake_case)',
  'strategy.intentText': 'customer message',
  'strategy.retrain': 'Retrain and compare',
  'strategy.activeHead': 'active',
  'strategy.candidateHead': 'candidate',
  'strategy.adopt': 'Adopt the candidate',
  'strategy.exampleAdded': '{label}: {n} examples added by managers',
  'proactivity.low': 'low',
  'proactivity.balanced': 'balanced',
  'proactivity.high': 'high',
  'change.added': 'added',
  'change.removed': 'removed',
  'change.changed': 'changed',
  'change.reordered': 'reordered',
  'versionStatus.draft': 'draft',
  'versionStatus.published': 'published',
  'versionStatus.retired': 'retired',
  'step.opening': 'Opening',
  'step.need_confirmation': 'Need',
  'step.objection_handling': 'Objections',
  'step.result_logging': 'Result',
  'dash.title': 'Dashboard',
  'dash.totals': '{c} conversations · {m} messages',
  'dash.refresh': 'Refresh',
  'dash.funnel': 'Funnel by stage',
  'dash.reached': 'reached',
  'dash.current': 'now',
  'dash.intents': 'Intents',
  'dash.messages': 'messages',
  'dash.sentiment': 'Sentiment by day',
  'dash.suggestions': 'Suggestions',
  'dash.offered': 'offered',
  'dash.acceptance': 'accepted',
  'dash.editRate': 'edited',
  'dash.rejectRate': 'rejected',
  'dash.editDistance': 'mean edit distance (chars)',
  'dash.byVersion': 'By strategy version',
  'dash.version': 'version',
  'dash.responseTimes': 'Response times',
  'dash.replies': 'replies',
  'dash.mean': 'mean',
  'settings.title': 'Settings',
  'settings.language': 'Language',
  'settings.models': 'Reply models',
  'settings.model': 'Model',
  'settings.size': 'Size',
  'settings.state': 'State',
  'settings.installed': 'installed',
  'settings.notInstalled': 'not installed',
  'settings.inUse': 'in use',
  'settings.use': 'Use',
  'settings.fetchHint': 'Catalog models are fetched with `closer models fetch` (verified by sha256).',
  'settings.importPlaceholder': '/absolute/path/to/model.gguf',
  'settings.import': 'Import GGUF',
  'settings.data': 'Data',
  'settings.dataDir': 'Data directory',
  'settings.logDir': 'Logs',
  'settings.schema': 'Schema version',
  'settings.crmTodo': 'CRM connection and channel settings arrive with the CRM and channel services.',
  'modelStatus.idle': 'Not loaded yet',
  'modelStatus.loading': 'Loading…',
  'modelStatus.ready': 'Ready',
  'modelStatus.failed': 'Failed to load (suggestions use the strategy template)',
  'error.crm_not_configured': 'No CRM is set up, or its credential is missing',
  'error.keyring': 'The system keyring is unavailable or locked',
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

  'nav.label': '版块',
  'nav.console': '会话',
  'nav.strategy': '策略',
  'nav.dashboard': '数据看板',
  'nav.settings': '设置',
  'inbox.search': '搜索客户和消息（/）',
  'inbox.noMatch': '没有符合筛选条件的会话',
  'filter.allModes': '全部模式',
  'filter.stage': '阶段',
  'filter.allStages': '全部阶段',
  'filter.channel': '渠道',
  'filter.allChannels': '全部渠道',
  'conversation.takeOver': '接管',
  'conversation.handBack': '交还 AI',
  'conversation.takeOverKey': 'T：接管或交还',
  'conversation.taken': '你已接管此会话：AI 只起草，不自动发送。',
  'conversation.requested': 'AI 请求人工介入：{reason}',
  'simulate.label': '模拟客户',
  'simulate.placeholder': '以客户身份输入一条消息（演示）…',
  'simulate.send': '接收',
  'simulate.working': '理解中…',
  'suggest.title': '建议回复',
  'suggest.thinking': '正在分析消息…',
  'suggest.keys': '1/2 发送 · E 编辑 · X 拒绝 · T 接管',
  'suggest.writing': '生成中…',
  'suggest.edit': '编辑',
  'suggest.editDistance': '已改动 {n} 个字符',
  'suggest.sendEdited': '发送修改版',
  'suggest.reasonPlaceholder': '原因（可选）',
  'suggest.reject': '拒绝',
  'suggest.send': '发送',
  'suggestSource.model': '模型',
  'suggestSource.template': '策略模板',
  'nlu.unknown': '意图不明',
  'action.answer': '回答问题',
  'action.ask_field': '询问信息',
  'action.handle_objection': '处理异议',
  'action.offer_promotion': '提供优惠',
  'action.hand_off': '转人工',
  'action.close': '促成成交',
  'action.engage': '保持互动',
  'reason.customer_angry': '客户情绪激动',
  'reason.requested_human': '客户要求人工',
  'reason.repeated_misunderstanding': '多次未能理解',
  'reason.low_confidence': '置信度低',
  'reason.purchase_ready': '准备购买',
  'reason.purchase_needs_field': '准备购买，缺少信息',
  'reason.objection_with_promotion': '有异议，可用优惠',
  'reason.objection_in_playbook': '异议在应对手册中',
  'reason.objection_not_in_playbook': '异议不在应对手册中',
  'reason.hesitant_customer': '客户犹豫',
  'reason.question_asked': '客户提问',
  'reason.customer_leaving': '客户要离开',
  'reason.missing_required_field': '缺少必填信息',
  'reason.greeting': '问候',
  'reason.keep_engaging': '保持对话',
  'stageReason.customer_replied': '客户已回复',
  'stageReason.showed_interest': '表现出兴趣',
  'stageReason.need_and_budget_known': '已知需求和预算',
  'stageReason.product_presented': '已介绍产品',
  'stageReason.product_priced': '已报价',
  'stageReason.price_objection': '价格异议',
  'stageReason.purchase_intent': '有购买意向',
  'stageReason.purchase_confirmed': '已确认购买',
  'stageReason.not_interested': '不感兴趣',
  'stageReason.left_after_refusal': '拒绝后离开',
  'stageReason.customer_returned': '客户回访',
  'stageReason.handoff_requested': '请求人工',
  'stageReason.handoff_returned': '已交还 AI',
  'intent.greeting': '问候',
  'intent.product_inquiry': '产品咨询',
  'intent.price_inquiry': '询价',
  'intent.feature_question': '功能问题',
  'intent.compare_competitor': '对比竞品',
  'intent.purchase_intent': '购买意向',
  'intent.request_demo_or_trial': '申请演示/试用',
  'intent.objection_price': '价格异议',
  'intent.objection_timing': '时机异议',
  'intent.objection_trust': '信任异议',
  'intent.after_sales': '售后',
  'intent.complaint': '投诉',
  'intent.request_human': '要求人工',
  'intent.provide_contact': '提供联系方式',
  'intent.provide_requirement': '提供需求',
  'intent.chit_chat': '闲聊',
  'intent.not_interested': '不感兴趣',
  'intent.goodbye': '告别',
  'sentiment.positive': '积极',
  'sentiment.neutral': '中性',
  'sentiment.hesitant': '犹豫',
  'sentiment.negative': '消极',
  'sentiment.angry': '愤怒',
  'strategy.title': '销售策略',
  'strategy.published': '已发布 v{v}',
  'strategy.draft': '草稿 v{v}',
  'strategy.unsaved': '有未保存的修改',
  'strategy.note': '版本备注',
  'strategy.save': '保存草稿',
  'strategy.test': '样例试运行',
  'strategy.publish': '发布',
  'strategy.persona': '人设',
  'strategy.tone': '语气',
  'strategy.goals': '目标',
  'strategy.remove': '删除',
  'strategy.addGoal': '目标',
  'strategy.proactivity': '主动程度',
  'strategy.handoffThreshold': '置信度低于此值转人工',
  'strategy.maxPromotions': '每个会话优惠次数',
  'strategy.leadFields': '要收集的线索字段',
  'strategy.key': '键',
  'strategy.type': '类型',
  'strategy.required': '必填',
  'strategy.askZh': '询问话术（中文）',
  'strategy.askEn': '询问话术（英文）',
  'strategy.crmField': 'CRM 字段',
  'strategy.addField': '字段',
  'strategy.playbook': '异议应对手册',
  'strategy.promotions': '优惠活动',
  'strategy.examples': '示例回复',
  'strategy.addExample': '示例',
  'strategy.scripts': '电话脚本',
  'strategy.diff': '相对 v{v} 的改动',
  'strategy.noChanges': '草稿与已发布版本相同。',
  'strategy.samples': '样例会话试运行',
  'strategy.before': '当前',
  'strategy.after': '草稿',
  'strategy.versions': '版本历史',
  'strategy.rollback': '回滚到此版本',
  'strategy.intents': '意图示例与重新训练',
  'strategy.intentLabel': '标签（snake_case）',
  'strategy.intentText': '客户消息',
  'strategy.retrain': '重新训练并对比',
  'strategy.activeHead': '当前模型',
  'strategy.candidateHead': '候选模型',
  'strategy.adopt': '采用候选模型',
  'strategy.exampleAdded': '{label}：经理已添加 {n} 条示例',
  'proactivity.low': '低',
  'proactivity.balanced': '适中',
  'proactivity.high': '高',
  'change.added': '新增',
  'change.removed': '删除',
  'change.changed': '修改',
  'change.reordered': '调整顺序',
  'versionStatus.draft': '草稿',
  'versionStatus.published': '已发布',
  'versionStatus.retired': '已停用',
  'step.opening': '开场',
  'step.need_confirmation': '确认需求',
  'step.objection_handling': '处理异议',
  'step.result_logging': '记录结果',
  'dash.title': '数据看板',
  'dash.totals': '{c} 个会话 · {m} 条消息',
  'dash.refresh': '刷新',
  'dash.funnel': '阶段漏斗',
  'dash.reached': '曾到达',
  'dash.current': '当前',
  'dash.intents': '意图分布',
  'dash.messages': '消息数',
  'dash.sentiment': '每日情绪',
  'dash.suggestions': '建议回复',
  'dash.offered': '已生成',
  'dash.acceptance': '采纳率',
  'dash.editRate': '修改率',
  'dash.rejectRate': '拒绝率',
  'dash.editDistance': '平均编辑距离（字符）',
  'dash.byVersion': '按策略版本',
  'dash.version': '版本',
  'dash.responseTimes': '响应时间',
  'dash.replies': '回复数',
  'dash.mean': '平均',
  'settings.title': '设置',
  'settings.language': '界面语言',
  'settings.models': '回复模型',
  'settings.model': '模型',
  'settings.size': '大小',
  'settings.state': '状态',
  'settings.installed': '已安装',
  'settings.notInstalled': '未安装',
  'settings.inUse': '使用中',
  'settings.use': '使用',
  'settings.fetchHint': '目录中的模型用 `closer models fetch` 下载（经 sha256 校验）。',
  'settings.importPlaceholder': '/模型文件的绝对路径.gguf',
  'settings.import': '导入 GGUF',
  'settings.data': '数据',
  'settings.dataDir': '数据目录',
  'settings.logDir': '日志',
  'settings.schema': '数据库版本',
  'settings.crmTodo': 'CRM 连接和渠道设置将随 CRM 与渠道服务一起提供。',
  'modelStatus.idle': '尚未加载',
  'modelStatus.loading': '加载中…',
  'modelStatus.ready': '已就绪',
  'modelStatus.failed': '加载失败（建议回复使用策略模板）',
  'error.crm_not_configured': '尚未配置 CRM，或缺少凭据',
  'error.keyring': '系统密钥环不可用或已锁定',
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
