-- Witnesses' cosignatures of the log's checkpoints (C2SP tlog-witness): the checkpoint's
-- note with the witness's cosignature line appended, as the witness answered. Append-only:
-- a cosigned checkpoint is evidence held by someone else, and is never taken back.
CREATE TABLE audit_cosignatures (
    witness TEXT NOT NULL,
    tree_size INTEGER NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (witness, tree_size)
);
CREATE TRIGGER audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only'); END;
CREATE TRIGGER audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only'); END;
