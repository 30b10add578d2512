-- Closer schema v1. Times are Unix milliseconds. STRICT tables: SQLite checks the column types.

-- One row per installation: the prefix of every lead's stable CRM key.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('install_id', lower(hex(randomblob(8))));

CREATE TABLE products (
    id             INTEGER PRIMARY KEY,
    sku            TEXT NOT NULL UNIQUE,
    category       TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    name_zh        TEXT NOT NULL,
    description_en TEXT NOT NULL DEFAULT '',
    description_zh TEXT NOT NULL DEFAULT '',
    price_cents    INTEGER NOT NULL CHECK (price_cents >= 0),
    currency       TEXT NOT NULL,
    unit           TEXT NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes))
) STRICT;

-- The projection of each conversation's event log that the inbox lists and sorts by. It is
-- rewritten from the replayed state in the same transaction as every event.
CREATE TABLE conversations (
    id                INTEGER PRIMARY KEY,
    channel           TEXT NOT NULL CHECK (channel IN ('widget', 'webhook', 'simulator', 'call')),
    customer_name     TEXT NOT NULL,
    language          TEXT NOT NULL CHECK (language IN ('zh', 'en')),
    mode              TEXT NOT NULL DEFAULT 'draft' CHECK (mode IN ('off', 'draft', 'auto')),
    stage             TEXT NOT NULL DEFAULT 'new' CHECK (stage IN
                          ('new', 'engaged', 'qualified', 'proposal', 'negotiation', 'won', 'lost', 'handed_off')),
    stage_reason      TEXT NOT NULL DEFAULT '',
    handoff           TEXT CHECK (handoff IN ('requested', 'taken')),
    last_message_role TEXT,
    last_message_text TEXT NOT NULL DEFAULT '',
    last_message_at   INTEGER,
    waiting_since     INTEGER,
    unread            INTEGER NOT NULL DEFAULT 0 CHECK (unread >= 0),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- The source of truth: the conversation's events in order; the state is their fold.
CREATE TABLE conversation_events (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    kind            TEXT NOT NULL,
    at              INTEGER NOT NULL,
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    UNIQUE (conversation_id, seq)
) STRICT;

CREATE TABLE leads (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER UNIQUE REFERENCES conversations (id) ON DELETE SET NULL,
    -- The stable key the CRM upserts by: install id + lead id, never reused.
    external_key    TEXT NOT NULL UNIQUE,
    crm_id          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- Current value of each lead field with its provenance; the history is in conversation_events.
CREATE TABLE lead_fields (
    lead_id    INTEGER NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('ai', 'crm', 'salesperson')),
    confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (lead_id, field)
) STRICT;

CREATE TABLE strategies (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

-- Every version is kept; at most one is published per strategy.
CREATE TABLE strategy_versions (
    strategy_id  INTEGER NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version >= 1),
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
    document     TEXT NOT NULL CHECK (json_valid(document)),
    note         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    published_at INTEGER,
    PRIMARY KEY (strategy_id, version)
) STRICT;
CREATE UNIQUE INDEX strategy_versions_one_published
    ON strategy_versions (strategy_id) WHERE status = 'published';

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;

-- Lead changes waiting for the CRM relay; written in the same transaction as the change.
CREATE TABLE crm_outbox (
    id              INTEGER PRIMARY KEY,
    lead_id         INTEGER NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    op              TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER,
    dead_at         INTEGER
) STRICT;
CREATE INDEX crm_outbox_pending ON crm_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
