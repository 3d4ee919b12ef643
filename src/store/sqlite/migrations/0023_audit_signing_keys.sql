-- Checkpoint signing keys of their own: generated at random and sealed under the root key
-- (so the passphrase alone derives nothing), or read from key files, one generation per
-- rotation. Append-only, like the checkpoints they sign: the history of verifier keys, and
-- the tree size at which each generation took over, is what old checkpoints and receipts
-- are checked against.
CREATE TABLE audit_signing_keys (
    generation INTEGER NOT NULL,
    position INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    verifier_key TEXT NOT NULL,
    source TEXT NOT NULL,
    sealed BLOB,
    from_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (generation, position)
);
CREATE TRIGGER audit_signing_keys_no_update BEFORE UPDATE ON audit_signing_keys
BEGIN SELECT RAISE(ABORT, 'audit_signing_keys is append-only'); END;
CREATE TRIGGER audit_signing_keys_no_delete BEFORE DELETE ON audit_signing_keys
BEGIN SELECT RAISE(ABORT, 'audit_signing_keys is append-only'); END;
