-- The audit trail as a Merkle log: each event's place in the tree (leaf), the hashes of
-- complete subtrees (for proofs in O(log n) reads), and signed checkpoints.

CREATE TABLE audit_leaves (
    leaf_index  BIGINT  PRIMARY KEY,
    seq         BIGINT  NOT NULL UNIQUE REFERENCES audit_events (seq),
    hash        BYTEA   NOT NULL
);

CREATE TABLE audit_nodes (
    level       BIGINT  NOT NULL,
    node_index  BIGINT  NOT NULL,
    hash        BYTEA   NOT NULL,
    PRIMARY KEY (level, node_index)
);

CREATE TABLE audit_checkpoints (
    tree_size   BIGINT  PRIMARY KEY,
    root        BYTEA   NOT NULL,
    note        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TRIGGER audit_leaves_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_nodes_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
