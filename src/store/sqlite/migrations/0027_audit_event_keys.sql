-- Officer queries find events by subject, actor, operator, purpose and action through this
-- table, which a pass behind the append fills in large batches (service::audit_log::
-- keep_indexing). Five random-order indexes on audit_events cost more than the rest of an
-- append together; here they are written a few thousand events at a time, off the read's
-- path. Queries answer the events not yet copied here from audit_events itself.
--
-- The table is derived, not evidence: it is not in the tree, the append-only triggers do not
-- guard it, and it is rebuilt by copying from audit_events. Pruning empties an event's keys
-- as it empties the event's columns; the row stays, marking how far the copy has come.
CREATE TABLE audit_event_keys (
    seq         INTEGER PRIMARY KEY,
    action      TEXT NOT NULL,
    subject     TEXT,
    actor       TEXT,
    operator    TEXT,
    purpose     TEXT
) STRICT;

CREATE INDEX audit_event_keys_by_subject ON audit_event_keys (subject, seq);
CREATE INDEX audit_event_keys_by_actor ON audit_event_keys (actor, seq);
CREATE INDEX audit_event_keys_by_operator ON audit_event_keys (operator, seq);
CREATE INDEX audit_event_keys_by_purpose ON audit_event_keys (purpose, seq);
CREATE INDEX audit_event_keys_by_action ON audit_event_keys (action, seq);

INSERT INTO audit_event_keys (seq, action, subject, actor, operator, purpose)
SELECT seq, action, subject, actor, operator, purpose FROM audit_events;

DROP INDEX audit_events_by_subject;
DROP INDEX audit_events_by_actor;
DROP INDEX audit_events_by_operator;
DROP INDEX audit_events_by_purpose;
DROP INDEX audit_events_by_action;
