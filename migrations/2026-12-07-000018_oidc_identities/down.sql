DROP TABLE oidc_identities;
-- Accounts made through a provider get a hash no password matches (they sign in again
-- only after a password reset by an operator): NOT NULL can then be restored.
UPDATE users SET pwd_hash = '!' WHERE pwd_hash IS NULL;
ALTER TABLE users ALTER COLUMN pwd_hash SET NOT NULL;
