-- Rights requests gain an approval step (an officer accepts a request, 受理, before it is
-- answered); console accounts carry the purposes whose subject consent histories they may
-- open; and the officers' consents chart is kept as the ledger grows: per purpose and UTC
-- day, grants, withdrawals, and the change in subjects whose latest event is a grant. A
-- trigger keeps the counts, reading each event's action and time from its body, so every
-- writer counts (this release, an earlier one during a rolling upgrade) and the ledger
-- itself is not touched; the events already in it are counted once here.
ALTER TABLE rights_requests ADD COLUMN approved_at INTEGER;
ALTER TABLE rights_requests ADD COLUMN approved_by TEXT;
DROP INDEX rights_requests_one_open;
CREATE UNIQUE INDEX rights_requests_one_open ON rights_requests (subject, kind)
    WHERE status IN ('open', 'approved');

CREATE TABLE consent_day_counts (
    purpose    TEXT    NOT NULL,
    day        INTEGER NOT NULL,
    granted    INTEGER NOT NULL DEFAULT 0,
    withdrawn  INTEGER NOT NULL DEFAULT 0,
    net        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (purpose, day)
) STRICT;

INSERT INTO consent_day_counts (purpose, day, granted, withdrawn, net)
SELECT purpose, day, SUM(g), SUM(w), SUM(net) FROM (
    SELECT purpose, at / 86400 AS day,
        CASE WHEN action = 'granted' THEN 1 ELSE 0 END AS g,
        CASE WHEN action = 'withdrawn' THEN 1 ELSE 0 END AS w,
        CASE WHEN action = 'granted'
               AND COALESCE(LAG(action) OVER ledger, 'withdrawn') = 'withdrawn' THEN 1
             WHEN action = 'withdrawn' AND LAG(action) OVER ledger = 'granted' THEN -1
             ELSE 0 END AS net
    FROM (SELECT seq, subject, purpose, json_extract(body, '$.action') AS action,
                 json_extract(body, '$.at') AS at FROM consent_events) AS e
    WINDOW ledger AS (PARTITION BY purpose, subject ORDER BY seq)
) AS t GROUP BY purpose, day;

CREATE TRIGGER consent_events_counted AFTER INSERT ON consent_events
BEGIN
    INSERT OR IGNORE INTO consent_day_counts (purpose, day)
        VALUES (NEW.purpose, json_extract(NEW.body, '$.at') / 86400);
    UPDATE consent_day_counts SET
        granted = granted + (json_extract(NEW.body, '$.action') = 'granted'),
        withdrawn = withdrawn + (json_extract(NEW.body, '$.action') = 'withdrawn'),
        net = net + (
            SELECT CASE WHEN a = 'granted' AND COALESCE(p, 'withdrawn') = 'withdrawn' THEN 1
                        WHEN a = 'withdrawn' AND p = 'granted' THEN -1 ELSE 0 END
            FROM (SELECT json_extract(NEW.body, '$.action') AS a,
                         (SELECT json_extract(c.body, '$.action') FROM consent_events c
                           WHERE c.subject = NEW.subject AND c.purpose = NEW.purpose
                             AND c.seq < NEW.seq ORDER BY c.seq DESC LIMIT 1) AS p))
    WHERE purpose = NEW.purpose AND day = json_extract(NEW.body, '$.at') / 86400;
END;

ALTER TABLE console_users ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE console_sessions ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
