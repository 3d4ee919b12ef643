-- Checkpoint signing keys of their own: generated at random and sealed under the root key
-- (so the passphrase alone derives nothing), or read from key files, one generation per
-- rotation. Append-only, like the checkpoints they sign: the history of verifier keys, and
-- the tree size at which each generation took over, is what old checkpoints and receipts
-- are checked against.
CREATE TABLE audit_signing_keys (
    generation BIGINT NOT NULL,
    position BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    verifier_key TEXT NOT NULL,
    source TEXT NOT NULL,
    sealed BYTEA,
    from_size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (generation, position)
);

CREATE FUNCTION audit_signing_keys_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_signing_keys is append-only';
END;
$$;

CREATE TRIGGER audit_signing_keys_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_signing_keys
    FOR EACH ROW EXECUTE FUNCTION audit_signing_keys_append_only();
