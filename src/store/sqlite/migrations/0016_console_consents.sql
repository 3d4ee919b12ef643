-- Rights requests gain an approval step (an officer accepts a request, 受理, before it is
-- answered); the consent ledger keeps each event's action and time beside its body, for
-- the officers' per-purpose charts; console accounts carry the purposes whose subject
-- consent histories they may open.
ALTER TABLE rights_requests ADD COLUMN approved_at INTEGER;
ALTER TABLE rights_requests ADD COLUMN approved_by TEXT;
DROP INDEX rights_requests_one_open;
CREATE UNIQUE INDEX rights_requests_one_open ON rights_requests (subject, kind)
    WHERE status IN ('open', 'approved');

ALTER TABLE consent_events ADD COLUMN action TEXT;
ALTER TABLE consent_events ADD COLUMN at INTEGER;
-- The ledger is append-only; the guard is lifted for this one backfill of derived columns.
DROP TRIGGER consent_events_no_update;
UPDATE consent_events
   SET action = json_extract(body, '$.action'), at = json_extract(body, '$.at');
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE INDEX consent_events_by_purpose ON consent_events (purpose, subject, seq);

ALTER TABLE console_users ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
