-- A key may be bound to a client certificate (`spki_sha256:<hex>` or `subject:<subject>`):
-- calls with it must then come over mutual TLS with that certificate, so that its secret
-- alone is not enough. NULL: not bound. Nodes of the previous release ignore the column,
-- and so do not enforce a binding: finish a rolling upgrade before binding keys.
ALTER TABLE api_keys ADD COLUMN client_certificate TEXT;
