-- Undo: each command's inverse (the tasks it changed, as they were, and the versions it left them at),
-- and which later command undid it. Conversations: the messages of each chat thread.
ALTER TABLE commands ADD COLUMN inverse TEXT;
ALTER TABLE commands ADD COLUMN undone_by TEXT;
CREATE INDEX commands_created ON commands (created_at);

CREATE TABLE messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,
    thread_id   TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text        TEXT NOT NULL,
    run_id      TEXT,
    at          REAL NOT NULL
);
CREATE INDEX messages_thread ON messages (thread_id, seq);
