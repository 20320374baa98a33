-- Commands of a model that wait for the person's approval: asked once per call (a run redelivered to
-- another worker finds the answer already given), settled once.
CREATE TABLE confirmations (
    call_id     TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'stopped')),
    body        TEXT NOT NULL,            -- JSON: proto.messages.Confirmation as it stands
    updated_at  REAL NOT NULL
);
CREATE INDEX confirmations_pending ON confirmations (updated_at) WHERE state = 'pending';
