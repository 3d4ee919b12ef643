-- Rights requests gain an approval step (an officer accepts a request, 受理, before it is
-- answered);
-- the consent ledger gets an index by purpose, for the officers' per-purpose charts (which
-- read each event's action and time from its body: no new column, so the ledger is not
-- rewritten and nodes of the previous release keep writing complete rows); console accounts
-- carry the purposes whose subject consent histories they may open.
ALTER TABLE rights_requests ADD COLUMN approved_at BIGINT;
ALTER TABLE rights_requests ADD COLUMN approved_by TEXT;
DROP INDEX rights_requests_one_open;
CREATE UNIQUE INDEX rights_requests_one_open ON rights_requests (subject, kind)
    WHERE status IN ('open', 'approved');

CREATE INDEX consent_events_by_purpose ON consent_events (purpose, subject, seq);

ALTER TABLE console_users ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
