-- Privacy notices: every version's text, language and hash, and the purposes it covers.
CREATE TABLE notices (
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    language      TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    text_sha256   TEXT    NOT NULL,
    purposes      TEXT    NOT NULL,
    published_at  INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) STRICT;
