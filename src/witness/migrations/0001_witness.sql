-- A witness's state: the latest checkpoint it cosigned for each log it follows. It only
-- ever moves forward, and only by a checked consistency proof.
CREATE TABLE witnessed (
    origin TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);

-- Correctly signed checkpoints that did not extend what the witness held (a fork, or a
-- rewritten history): evidence of the log's misbehaviour, kept as received.
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    origin TEXT NOT NULL,
    code TEXT NOT NULL,
    held_size INTEGER NOT NULL,
    request TEXT NOT NULL
);
