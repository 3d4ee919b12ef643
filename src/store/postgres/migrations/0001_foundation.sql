-- Foundation: the sealed root key, API keys, revoked subject tokens.
-- Times are Unix seconds.

CREATE TABLE root_key (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    kdf         TEXT     NOT NULL,
    salt        BYTEA    NOT NULL,
    nonce       BYTEA    NOT NULL,
    ciphertext  BYTEA    NOT NULL,
    created_at  BIGINT   NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT     PRIMARY KEY,
    name        TEXT     NOT NULL,
    role        TEXT     NOT NULL CHECK (role IN ('admin', 'service', 'officer')),
    purposes    TEXT     NOT NULL,
    secret_hash BYTEA    NOT NULL CHECK (octet_length(secret_hash) = 32),
    created_at  BIGINT   NOT NULL,
    created_by  TEXT,
    revoked_at  BIGINT
);

CREATE INDEX api_keys_active_admins ON api_keys (role) WHERE revoked_at IS NULL;

CREATE TABLE subject_token_revocations (
    token_id    TEXT     PRIMARY KEY,
    expires_at  BIGINT   NOT NULL,
    revoked_at  BIGINT   NOT NULL
);
