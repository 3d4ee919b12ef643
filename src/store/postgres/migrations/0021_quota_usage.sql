-- Quotas counted across the fleet: each node leases blocks of a window's allowance here,
-- and a lease is granted only while the window's total stays within the limit. `operator`
-- is '' for the key's own count (operator ids are never empty).
CREATE TABLE quota_usage (
    key_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    operator TEXT NOT NULL,
    quota_limit TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (key_id, purpose, operator, quota_limit, window_start)
);

CREATE INDEX quota_usage_window_end ON quota_usage (window_end);
