-- Retention: an event older than the retention window loses its body and the columns that
-- name people (subject, actor, operator, purpose); its leaf hash stays, so every proof and
-- checkpoint stays valid. That transition, once, is the only change the trail allows.

ALTER TABLE audit_events ADD COLUMN pruned_at INTEGER;

DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL
          AND NEW.seq = OLD.seq AND NEW.at_ms = OLD.at_ms AND NEW.action = OLD.action
          AND NEW.outcome IS OLD.outcome AND NEW.body = ''
          AND NEW.subject IS NULL AND NEW.actor IS NULL
          AND NEW.operator IS NULL AND NEW.purpose IS NULL)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

-- Alerts raised by the rules over the trail. One alert per rule, key (the actor or operator
-- it is about) and the event that crossed the threshold, so nodes that evaluate the same
-- events store it once.
CREATE TABLE audit_alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rule         TEXT    NOT NULL,
    alert_key    TEXT    NOT NULL,
    trigger_seq  INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    detail       TEXT    NOT NULL,
    delivered_at INTEGER,
    UNIQUE (rule, alert_key, trigger_seq)
) STRICT;

CREATE INDEX audit_alerts_undelivered ON audit_alerts (delivered_at, id);
