-- Purposes (every version kept) and the consent ledger (append-only).

CREATE TABLE purposes (
    id            TEXT    PRIMARY KEY,
    version       BIGINT NOT NULL,
    renewal_from  BIGINT NOT NULL,
    definition    TEXT    NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE purpose_versions (
    id          TEXT    NOT NULL,
    version     BIGINT NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE consent_events (
    seq      BIGSERIAL PRIMARY KEY,
    id       TEXT    NOT NULL UNIQUE,
    subject  TEXT    NOT NULL,
    purpose  TEXT    NOT NULL,
    body     TEXT    NOT NULL
);

CREATE INDEX consent_events_by_subject ON consent_events (subject, purpose, seq);

CREATE FUNCTION consent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER consent_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_append_only();
CREATE TRIGGER purpose_versions_no_update_or_delete
    BEFORE UPDATE OR DELETE ON purpose_versions
    FOR EACH ROW EXECUTE FUNCTION consent_append_only();
