-- Stored vault: subjects' fields (ciphertext and token) and blind-index entries.

CREATE TABLE subject_fields (
    subject     TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    keyring     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    ciphertext  TEXT    NOT NULL,
    token       TEXT    NOT NULL UNIQUE,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (subject, field)
) STRICT;

-- Background re-encryption finds fields below a keyring's latest version.
CREATE INDEX subject_fields_by_version ON subject_fields (keyring, version);

CREATE TABLE blind_index (
    keyring     TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    digest      BLOB    NOT NULL,
    subject     TEXT    NOT NULL,
    PRIMARY KEY (keyring, field, digest, subject)
) STRICT;

CREATE INDEX blind_index_by_subject ON blind_index (subject, field);
