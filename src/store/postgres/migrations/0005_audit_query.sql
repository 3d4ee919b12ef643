-- Officer queries: the event's actor, operator, purpose and outcome as columns of their
-- own, indexed with the sequence number so that a filtered, newest-first page is an index
-- range scan. (Rows appended before this migration keep them empty; no release had them.)

ALTER TABLE audit_events ADD COLUMN actor TEXT;
ALTER TABLE audit_events ADD COLUMN operator TEXT;
ALTER TABLE audit_events ADD COLUMN purpose TEXT;
ALTER TABLE audit_events ADD COLUMN outcome TEXT;

CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_operator ON audit_events (operator, seq);
CREATE INDEX audit_events_by_purpose ON audit_events (purpose, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_time ON audit_events (at_ms);
