-- The officer console: accounts with argon2id passwords, sessions (only a hash of each
-- session secret is kept), failed sign-ins for slowing guessers down, and acknowledgements
-- of alerts.
CREATE TABLE console_users (
    username      TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('officer', 'admin')),
    created_at    BIGINT  NOT NULL
);

CREATE TABLE console_sessions (
    id_hash     BYTEA   PRIMARY KEY,
    principal   TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    csrf        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    seen_at     BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE TABLE console_signin_failures (
    principal   TEXT    PRIMARY KEY,
    failures    BIGINT  NOT NULL,
    last_at     BIGINT  NOT NULL
);

CREATE TABLE audit_alert_acks (
    alert_id    BIGINT  PRIMARY KEY REFERENCES audit_alerts (id),
    acked_by    TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    acked_at    BIGINT  NOT NULL
);
