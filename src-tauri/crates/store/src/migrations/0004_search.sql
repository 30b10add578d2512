-- Closer schema v4: full-text search over message text (the console's inbox search) and ids that
-- are never reused. (The message-storage setting lives in `meta`, key `message_storage`, absent =
-- keep originals; it needs no schema.)
--
-- One FTS5 row per stored `message` event, keyed by the event's id (rowid = conversation_events.id),
-- kept in sync by triggers on conversation_events, so every writer (record, record_all, erasure,
-- purge, a cascade from conversations) keeps it current without knowing it exists.
-- The trigram tokenizer indexes every 3-character window: substring search that works the same
-- for Chinese (no word boundaries) and English; case-insensitive. Queries shorter than 3
-- characters cannot use it; the store falls back to a bounded LIKE scan of the same rows.
CREATE VIRTUAL TABLE message_fts USING fts5(
    text,
    conversation_id UNINDEXED,
    role UNINDEXED,
    at UNINDEXED,
    tokenize = 'trigram'
);

-- Deleted rows are removed from the index b-tree itself, not only marked deleted: an erased
-- customer's words leave no trigram behind (SQLite >= 3.44).
INSERT INTO message_fts (message_fts, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER conversation_events_fts_insert AFTER INSERT ON conversation_events
WHEN new.kind = 'message'
BEGIN
    INSERT INTO message_fts (rowid, text, conversation_id, role, at)
    VALUES (new.id, coalesce(json_extract(new.payload, '$.text'), ''), new.conversation_id,
            coalesce(json_extract(new.payload, '$.role'), ''), new.at);
END;

CREATE TRIGGER conversation_events_fts_delete AFTER DELETE ON conversation_events
WHEN old.kind = 'message'
BEGIN
    DELETE FROM message_fts WHERE rowid = old.id;
END;

-- Events are append-only; a rewrite (a redaction of stored text) keeps the index true anyway.
CREATE TRIGGER conversation_events_fts_update AFTER UPDATE ON conversation_events
BEGIN
    DELETE FROM message_fts WHERE rowid = old.id;
    INSERT INTO message_fts (rowid, text, conversation_id, role, at)
    SELECT new.id, coalesce(json_extract(new.payload, '$.text'), ''), new.conversation_id,
           coalesce(json_extract(new.payload, '$.role'), ''), new.at
    WHERE new.kind = 'message';
END;

-- Back-fill what was stored before this migration.
INSERT INTO message_fts (rowid, text, conversation_id, role, at)
SELECT id, coalesce(json_extract(payload, '$.text'), ''), conversation_id,
       coalesce(json_extract(payload, '$.role'), ''), at
FROM conversation_events WHERE kind = 'message';

-- Conversation and lead ids are never handed out twice: an erasure that removes the newest rows
-- would otherwise let the next conversation reuse the erased lead's id and with it its CRM key
-- (`closer-<install>-<lead id>`). The store takes ids above these high-water marks.
INSERT INTO meta (key, value)
SELECT 'conversation_id_high', CAST(coalesce(max(id), 0) AS TEXT) FROM conversations;
INSERT INTO meta (key, value)
SELECT 'lead_id_high', CAST(coalesce(max(id), 0) AS TEXT) FROM leads;
