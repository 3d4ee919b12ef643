-- The audit trail as a Merkle log: each event's place in the tree (leaf), the hashes of
-- complete subtrees (for proofs in O(log n) reads), and signed checkpoints.

CREATE TABLE audit_leaves (
    leaf_index  INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE REFERENCES audit_events (seq),
    hash        BLOB    NOT NULL
) STRICT;

CREATE TABLE audit_nodes (
    level       INTEGER NOT NULL,
    node_index  INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    PRIMARY KEY (level, node_index)
) STRICT;

CREATE TABLE audit_checkpoints (
    tree_size   INTEGER PRIMARY KEY,
    root        BLOB    NOT NULL,
    note        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
