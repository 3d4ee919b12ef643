-- Each key version records its own algorithm suite, so that a keyring can move from one
-- suite to another (aes256gcm <-> sm4gcm) by rotation while its older versions keep
-- decrypting; keyrings.suite is the suite of the newest version.
ALTER TABLE keyring_keks ADD COLUMN suite TEXT NOT NULL DEFAULT 'aes256gcm';

UPDATE keyring_keks
   SET suite = (SELECT k.suite FROM keyrings k WHERE k.name = keyring_keks.keyring);
