-- Foundation: the sealed root key, API keys, revoked subject tokens.
-- Times are Unix seconds.

CREATE TABLE root_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    kdf         TEXT    NOT NULL,
    salt        BLOB    NOT NULL,
    nonce       BLOB    NOT NULL,
    ciphertext  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'service', 'officer')),
    purposes    TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    created_at  INTEGER NOT NULL,
    created_by  TEXT,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX api_keys_active_admins ON api_keys (role) WHERE revoked_at IS NULL;

CREATE TABLE subject_token_revocations (
    token_id    TEXT    PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
) STRICT;
