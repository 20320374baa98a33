-- The task list, the commands executed on it (with their stored results: exactly once), and the
-- outbox of UI events waiting to be published to JetStream.
CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    position    INTEGER NOT NULL CHECK (position >= 0),
    version     INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL
);
CREATE INDEX tasks_position ON tasks (position);

CREATE TABLE commands (
    command_id  TEXT PRIMARY KEY,
    actor       TEXT NOT NULL,            -- JSON: proto.messages.Actor
    run_id      TEXT,
    op          TEXT NOT NULL,
    command     TEXT NOT NULL,            -- JSON: the command as received
    result      TEXT NOT NULL,            -- JSON: proto.messages.CommandResult, returned again on a retry
    ok          INTEGER NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX commands_run ON commands (run_id, created_at);

CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    command_id  TEXT NOT NULL REFERENCES commands (command_id),
    subject     TEXT NOT NULL,
    payload     BLOB NOT NULL,
    created_at  REAL NOT NULL,
    sent_at     REAL
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
