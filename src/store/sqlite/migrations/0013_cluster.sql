-- Nodes of a fleet on one database and the cache invalidations they must apply (used on
-- PostgreSQL, where several nodes share a database; SQLite has one process).
CREATE TABLE cluster_nodes (
    node_id          TEXT    NOT NULL PRIMARY KEY,
    heartbeat_ms     INTEGER NOT NULL,
    applied_through  INTEGER NOT NULL
) STRICT;

CREATE TABLE cluster_invalidations (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    at_ms   INTEGER NOT NULL
) STRICT;
