-- Vault: keyrings and their versioned KEKs, subjects' data keys, erasures; and the access
-- events the vault writes (the audit issue turns them into a Merkle log).

CREATE TABLE keyrings (
    name                    TEXT    PRIMARY KEY,
    suite                   TEXT    NOT NULL,
    latest_version          BIGINT  NOT NULL CHECK (latest_version >= 1),
    min_decryption_version  BIGINT  NOT NULL CHECK (min_decryption_version >= 1),
    rotation_period_secs    BIGINT,
    created_at              BIGINT  NOT NULL,
    rotated_at              BIGINT  NOT NULL
);

CREATE TABLE keyring_keks (
    keyring     TEXT    NOT NULL REFERENCES keyrings (name),
    version     BIGINT  NOT NULL,
    sealed      BYTEA    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (keyring, version)
);

CREATE TABLE subject_keys (
    keyring     TEXT    NOT NULL REFERENCES keyrings (name),
    subject     TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    kek_version BIGINT  NOT NULL,
    sealed      BYTEA    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (keyring, subject, version)
);

CREATE INDEX subject_keys_by_subject ON subject_keys (subject);
CREATE INDEX subject_keys_by_kek ON subject_keys (keyring, kek_version);

CREATE TABLE erasures (
    subject     TEXT    PRIMARY KEY,
    receipt_id  TEXT    NOT NULL,
    erased_at   BIGINT  NOT NULL
);

CREATE TABLE audit_events (
    seq         BIGSERIAL PRIMARY KEY,
    at_ms       BIGINT  NOT NULL,
    action      TEXT    NOT NULL,
    subject     TEXT,
    body        TEXT    NOT NULL
);

CREATE INDEX audit_events_by_subject ON audit_events (subject, seq);

-- The trail is append-only in the database too.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
