-- When each event was appended (it may have happened much earlier: a state change's event
-- waits in the outbox while no server runs). Time filters bound sequence numbers with it.
ALTER TABLE audit_events ADD COLUMN appended_ms BIGINT;
CREATE INDEX audit_events_by_append_time ON audit_events (appended_ms);

-- Pruning may blank only events past the shortest retention (180 days before the pruning
-- time), and must leave the append time as it is.
CREATE OR REPLACE FUNCTION audit_events_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL
       AND NEW.pruned_at - OLD.at_ms >= 15552000000
       AND NEW.seq = OLD.seq AND NEW.at_ms = OLD.at_ms AND NEW.action = OLD.action
       AND NEW.appended_ms IS NOT DISTINCT FROM OLD.appended_ms
       AND NEW.outcome IS NOT DISTINCT FROM OLD.outcome AND NEW.body = ''
       AND NEW.subject IS NULL AND NEW.actor IS NULL
       AND NEW.operator IS NULL AND NEW.purpose IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
