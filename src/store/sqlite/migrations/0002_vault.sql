-- Vault: keyrings and their versioned KEKs, subjects' data keys, erasures; and the access
-- events the vault writes (the audit issue turns them into a Merkle log).

CREATE TABLE keyrings (
    name                    TEXT    PRIMARY KEY,
    suite                   TEXT    NOT NULL,
    latest_version          INTEGER NOT NULL CHECK (latest_version >= 1),
    min_decryption_version  INTEGER NOT NULL CHECK (min_decryption_version >= 1),
    rotation_period_secs    INTEGER,
    created_at              INTEGER NOT NULL,
    rotated_at              INTEGER NOT NULL
) STRICT;

CREATE TABLE keyring_keks (
    keyring     TEXT    NOT NULL REFERENCES keyrings (name),
    version     INTEGER NOT NULL,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (keyring, version)
) STRICT;

CREATE TABLE subject_keys (
    keyring     TEXT    NOT NULL REFERENCES keyrings (name),
    subject     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    kek_version INTEGER NOT NULL,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (keyring, subject, version)
) STRICT;

CREATE INDEX subject_keys_by_subject ON subject_keys (subject);
CREATE INDEX subject_keys_by_kek ON subject_keys (keyring, kek_version);

CREATE TABLE erasures (
    subject     TEXT    PRIMARY KEY,
    receipt_id  TEXT    NOT NULL,
    erased_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    subject     TEXT,
    body        TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_events_by_subject ON audit_events (subject, seq);

-- The trail is append-only in the database too.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
