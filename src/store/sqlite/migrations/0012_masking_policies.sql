-- Masking policies: every version of every policy, as its JSON document.
CREATE TABLE masking_policies (
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;
