-- Closer schema v5: where each reply posted to a webhook platform stands, so that a reply still
-- waiting when the app stops is posted again (same idempotency key) when it starts. The reply's
-- text stays in its message; erasing the conversation erases these rows with it.
CREATE TABLE webhook_replies (
    reply_id        TEXT PRIMARY KEY CHECK (length(reply_id) BETWEEN 1 AND 200),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- The reply message's time (with the conversation and the id's text digest, it finds the
    -- message again).
    message_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Why it failed for good (`refused`, `gave_up`, `not_configured`, `expired`).
    code            TEXT,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_replies_pending ON webhook_replies (updated_at) WHERE state = 'pending';

-- A conversation's replies (the console's view of a conversation; erasing the conversation).
CREATE INDEX webhook_replies_conversation ON webhook_replies (conversation_id, message_at);
