-- Secrets shared by every node on this database (the key that seals SCIM cursors,
-- docs/scim.md "Cursors"). Written once by the first node that needs one.
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    secret BYTEA NOT NULL
);
