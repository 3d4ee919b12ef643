-- Rights requests gain an approval step (an officer accepts a request, 受理, before it is
-- answered); console accounts carry the purposes whose subject consent histories they may
-- open; and the officers' consents chart is kept as the ledger grows: per purpose and UTC
-- day, grants, withdrawals, and the change in subjects whose latest event is a grant. A
-- trigger keeps the counts, reading each event's action and time from its body, so every
-- writer counts (this release, an earlier one during a rolling upgrade) and the ledger
-- itself is not touched; the events already in it are counted once here.
ALTER TABLE rights_requests ADD COLUMN approved_at BIGINT;
ALTER TABLE rights_requests ADD COLUMN approved_by TEXT;
DROP INDEX rights_requests_one_open;
CREATE UNIQUE INDEX rights_requests_one_open ON rights_requests (subject, kind)
    WHERE status IN ('open', 'approved');

CREATE TABLE consent_day_counts (
    purpose    TEXT   NOT NULL,
    day        BIGINT NOT NULL,
    granted    BIGINT NOT NULL DEFAULT 0,
    withdrawn  BIGINT NOT NULL DEFAULT 0,
    net        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (purpose, day)
);

INSERT INTO consent_day_counts (purpose, day, granted, withdrawn, net)
SELECT purpose, day, SUM(g), SUM(w), SUM(net) FROM (
    SELECT purpose, at / 86400 AS day,
        CASE WHEN action = 'granted' THEN 1 ELSE 0 END AS g,
        CASE WHEN action = 'withdrawn' THEN 1 ELSE 0 END AS w,
        CASE WHEN action = 'granted'
               AND COALESCE(LAG(action) OVER ledger, 'withdrawn') = 'withdrawn' THEN 1
             WHEN action = 'withdrawn' AND LAG(action) OVER ledger = 'granted' THEN -1
             ELSE 0 END AS net
    FROM (SELECT seq, subject, purpose, body::jsonb ->> 'action' AS action,
                 (body::jsonb ->> 'at')::bigint AS at FROM consent_events) AS e
    WINDOW ledger AS (PARTITION BY purpose, subject ORDER BY seq)
) AS t GROUP BY purpose, day;

CREATE FUNCTION consent_events_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_action   TEXT   := NEW.body::jsonb ->> 'action';
    v_day      BIGINT := (NEW.body::jsonb ->> 'at')::bigint / 86400;
    v_previous TEXT;
BEGIN
    SELECT c.body::jsonb ->> 'action' INTO v_previous FROM consent_events c
     WHERE c.subject = NEW.subject AND c.purpose = NEW.purpose AND c.seq < NEW.seq
     ORDER BY c.seq DESC LIMIT 1;
    INSERT INTO consent_day_counts AS d (purpose, day, granted, withdrawn, net)
    VALUES (
        NEW.purpose, v_day,
        CASE WHEN v_action = 'granted' THEN 1 ELSE 0 END,
        CASE WHEN v_action = 'withdrawn' THEN 1 ELSE 0 END,
        CASE WHEN v_action = 'granted' AND COALESCE(v_previous, 'withdrawn') = 'withdrawn' THEN 1
             WHEN v_action = 'withdrawn' AND v_previous = 'granted' THEN -1 ELSE 0 END)
    ON CONFLICT (purpose, day) DO UPDATE SET
        granted = d.granted + EXCLUDED.granted,
        withdrawn = d.withdrawn + EXCLUDED.withdrawn,
        net = d.net + EXCLUDED.net;
    RETURN NULL;
END;
$$;

CREATE TRIGGER consent_events_counted AFTER INSERT ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_events_counted();

ALTER TABLE console_users ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE console_sessions ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
