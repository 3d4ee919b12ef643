-- Keys carry grants: per purpose the views allowed (masked, plain), the permissions held
-- (store_data, erase_subjects, mint_subject_tokens, record_consent, self_service) and the
-- masking roles, as one JSON document. `purposes` is still written, for nodes of the
-- previous release during a rolling upgrade. A row without grants (made before this
-- release, or by such a node) is read with the rights it needs to keep working where that
-- is safe: its purposes with every view, storing, minting and recording consents; never
-- erasure or self-service reads (see `Grants::legacy`).
ALTER TABLE api_keys ADD COLUMN grants TEXT;
