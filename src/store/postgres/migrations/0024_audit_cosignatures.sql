-- Witnesses' cosignatures of the log's checkpoints (C2SP tlog-witness): the checkpoint's
-- note with the witness's cosignature line appended, as the witness answered. Append-only:
-- a cosigned checkpoint is evidence held by someone else, and is never taken back.
CREATE TABLE audit_cosignatures (
    witness TEXT NOT NULL,
    tree_size BIGINT NOT NULL,
    note TEXT NOT NULL,
    cosigned_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (witness, tree_size)
);

CREATE FUNCTION audit_cosignatures_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_cosignatures is append-only';
END;
$$;

CREATE TRIGGER audit_cosignatures_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_cosignatures
    FOR EACH ROW EXECUTE FUNCTION audit_cosignatures_append_only();
