-- Data-subject rights requests. A subject has at most one open request of each kind. The
-- subject's note is a vault ciphertext (crypto-shredded with the subject); the request's
-- history is in the audit trail.

CREATE TABLE rights_requests (
    id               TEXT    PRIMARY KEY,
    subject          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    note_ciphertext  TEXT,
    created_at       BIGINT NOT NULL,
    due_at           BIGINT NOT NULL,
    closed_at        BIGINT,
    resolution       TEXT,
    closed_by        TEXT
);

CREATE UNIQUE INDEX rights_requests_one_open ON rights_requests (subject, kind)
    WHERE status = 'open';
CREATE INDEX rights_requests_by_status ON rights_requests (status, due_at);
CREATE INDEX rights_requests_by_subject ON rights_requests (subject, created_at);
