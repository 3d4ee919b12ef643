-- Masking policies: every version of every policy, as its JSON document.
CREATE TABLE masking_policies (
    name        TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL,
    PRIMARY KEY (name, version)
);
