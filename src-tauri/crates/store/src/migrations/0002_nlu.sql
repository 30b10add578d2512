-- Closer schema v2: the NLU's manager-added intent examples and the heads trained from them.
-- Times are Unix milliseconds. STRICT tables: SQLite checks the column types.

-- Labelled messages a manager added to the bundled training set (nlu/data/sales/train.jsonl).
-- One example per (label, text): adding it again changes nothing.
CREATE TABLE intent_examples (
    id       INTEGER PRIMARY KEY,
    label    TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 40),
    text     TEXT NOT NULL CHECK (length(text) >= 1),
    lang     TEXT NOT NULL CHECK (lang IN ('zh', 'en')),
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    UNIQUE (label, text)
) STRICT;

-- Heads trained in the app (candidates). `path` is relative to the data directory; `scores` are
-- the head's scores on the bundled test set when it was trained. At most one head of a kind is
-- adopted (the active one); earlier adoptions are in the audit log.
CREATE TABLE nlu_heads (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('intent', 'sentiment')),
    encoder     TEXT NOT NULL,
    path        TEXT NOT NULL,
    data_digest TEXT NOT NULL,
    examples    INTEGER NOT NULL CHECK (examples >= 0),
    labels      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(labels)),
    scores      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(scores)),
    created_at  INTEGER NOT NULL,
    adopted_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX nlu_heads_one_adopted ON nlu_heads (kind) WHERE adopted_at IS NOT NULL;
