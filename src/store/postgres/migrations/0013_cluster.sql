-- Nodes of a fleet on one database and the cache invalidations they must apply (used on
-- PostgreSQL, where several nodes share a database; SQLite has one process).
CREATE TABLE cluster_nodes (
    node_id          TEXT   NOT NULL PRIMARY KEY,
    heartbeat_ms     BIGINT NOT NULL,
    applied_through  BIGINT NOT NULL
);

CREATE TABLE cluster_invalidations (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    at_ms   BIGINT NOT NULL
);
