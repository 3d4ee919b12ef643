-- The officer console: accounts with argon2id passwords, sessions (only a hash of each
-- session secret is kept), failed sign-ins for slowing guessers down, and acknowledgements
-- of alerts.
CREATE TABLE console_users (
    username      TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('officer', 'admin')),
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE console_sessions (
    id_hash     BLOB    PRIMARY KEY,
    principal   TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    csrf        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE console_signin_failures (
    principal   TEXT    PRIMARY KEY,
    failures    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_alert_acks (
    alert_id    INTEGER PRIMARY KEY REFERENCES audit_alerts (id),
    acked_by    TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    acked_at    INTEGER NOT NULL
) STRICT;
