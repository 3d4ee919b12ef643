-- A checkpoint signing key may be held in the HSM: its row keeps the label of the key pair
-- on the token (the private half never leaves it), and no sealed key.
ALTER TABLE audit_signing_keys ADD COLUMN token_label TEXT;
