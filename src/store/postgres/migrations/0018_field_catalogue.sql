-- The field catalogue: which PI category each stored field (by whole name or by type)
-- belongs to, so that a purpose's categories say which fields it reads. Every version is
-- kept, as its JSON document; none stored means the built-in defaults (each field type is
-- its own category).
CREATE TABLE field_catalogue (
    version     BIGINT NOT NULL PRIMARY KEY,
    body        TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL
);
