CREATE TABLE IF NOT EXISTS customer (
  id VARCHAR(64) PRIMARY KEY,
  name VARCHAR(64),
  -- Baomi's ciphertexts: `bm:v1:…`, longer than the values they hold.
  id_number VARCHAR(512),
  mobile VARCHAR(512)
);

CREATE TABLE IF NOT EXISTS applicant (
  id VARCHAR(64) PRIMARY KEY,
  amount BIGINT,
  id_number VARCHAR(512),
  mobile VARCHAR(512)
);
