-- A console account's second factor: its TOTP secret sealed under a key derived from the
-- root key (pending until a first code confirms it), the last TOTP step accepted (a code is
-- accepted once), and the SHA-256 of the recovery codes left (a JSON array). Removing the
-- account removes it.
CREATE TABLE console_second_factors (
    username TEXT PRIMARY KEY REFERENCES console_users (username) ON DELETE CASCADE,
    secret_sealed BYTEA NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL,
    recovery_hashes TEXT NOT NULL
);
