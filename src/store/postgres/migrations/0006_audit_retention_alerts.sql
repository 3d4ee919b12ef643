-- Retention: an event older than the retention window loses its body and the columns that
-- name people (subject, actor, operator, purpose); its leaf hash stays, so every proof and
-- checkpoint stays valid. That transition, once, is the only change the trail allows.

ALTER TABLE audit_events ADD COLUMN pruned_at BIGINT;

DROP TRIGGER audit_events_no_update_or_delete ON audit_events;

CREATE FUNCTION audit_events_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL
       AND NEW.seq = OLD.seq AND NEW.at_ms = OLD.at_ms AND NEW.action = OLD.action
       AND NEW.outcome IS NOT DISTINCT FROM OLD.outcome AND NEW.body = ''
       AND NEW.subject IS NULL AND NEW.actor IS NULL
       AND NEW.operator IS NULL AND NEW.purpose IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_prune_only();

-- Alerts raised by the rules over the trail. One alert per rule, key (the actor or operator
-- it is about) and the event that crossed the threshold, so nodes that evaluate the same
-- events store it once.
CREATE TABLE audit_alerts (
    id           BIGSERIAL PRIMARY KEY,
    rule         TEXT    NOT NULL,
    alert_key    TEXT    NOT NULL,
    trigger_seq  BIGINT  NOT NULL,
    at_ms        BIGINT  NOT NULL,
    detail       TEXT    NOT NULL,
    delivered_at BIGINT,
    UNIQUE (rule, alert_key, trigger_seq)
);

CREATE INDEX audit_alerts_undelivered ON audit_alerts (delivered_at, id);
