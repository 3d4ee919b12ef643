-- Purposes (every version kept) and the consent ledger (append-only).

CREATE TABLE purposes (
    id            TEXT    PRIMARY KEY,
    version       INTEGER NOT NULL,
    renewal_from  INTEGER NOT NULL,
    definition    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE purpose_versions (
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) STRICT;

CREATE TABLE consent_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT    NOT NULL UNIQUE,
    subject  TEXT    NOT NULL,
    purpose  TEXT    NOT NULL,
    body     TEXT    NOT NULL
) STRICT;

CREATE INDEX consent_events_by_subject ON consent_events (subject, purpose, seq);

CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE TRIGGER purpose_versions_no_update BEFORE UPDATE ON purpose_versions
BEGIN SELECT RAISE(ABORT, 'purpose_versions is append-only'); END;
CREATE TRIGGER purpose_versions_no_delete BEFORE DELETE ON purpose_versions
BEGIN SELECT RAISE(ABORT, 'purpose_versions is append-only'); END;
