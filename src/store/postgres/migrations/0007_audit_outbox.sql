-- The events of state changes (a field stored, a subject erased, a key or keyring changed)
-- are written here in the change's own transaction, so that no change commits without its
-- record. The audit appender moves them into audit_events and the Merkle tree (and deletes
-- them here) in one transaction, right after the change and at least every second.
CREATE TABLE audit_outbox (
    id    BIGSERIAL PRIMARY KEY,
    body  TEXT NOT NULL
);
