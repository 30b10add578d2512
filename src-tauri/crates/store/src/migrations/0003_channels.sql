-- Closer schema v3: customer channels. Times are Unix milliseconds.

-- Who a conversation is with, as the channel knows them: a chat-widget visitor's token, a webhook
-- platform's sender id, a simulated persona's run key. One conversation per contact.
CREATE TABLE channel_contacts (
    channel         TEXT NOT NULL CHECK (channel IN ('widget', 'webhook', 'simulator', 'call')),
    contact         TEXT NOT NULL CHECK (length(contact) BETWEEN 1 AND 200),
    conversation_id INTEGER NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (channel, contact)
) STRICT;

-- Inbound message ids already taken (the webhook sender's id, the widget's client id), so a
-- message delivered twice is ingested once.
CREATE TABLE channel_inbound (
    source          TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 300),
    message_id      TEXT NOT NULL CHECK (length(message_id) BETWEEN 1 AND 200),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    received_at     INTEGER NOT NULL,
    PRIMARY KEY (source, message_id)
) STRICT;
