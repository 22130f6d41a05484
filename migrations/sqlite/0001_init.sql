-- scimgate schema v1 (SQLite). Append-only: never edit a released migration.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_us  INTEGER NOT NULL
);

CREATE TABLE feature_flags (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    flag        TEXT NOT NULL,
    PRIMARY KEY (account_id, flag)
) WITHOUT ROWID;

CREATE TABLE scim_users (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    id               TEXT NOT NULL UNIQUE,
    user_name        TEXT NOT NULL,
    -- Lower-cased in Rust (Unicode-aware); the unique index makes userName unique per
    -- account case-insensitively (RFC 7643 §4.1.1), enforced by the database.
    user_name_lower  TEXT NOT NULL,
    external_id      TEXT,
    display_name     TEXT,
    active           INTEGER,
    doc              TEXT NOT NULL,
    version          INTEGER NOT NULL,
    created_us       INTEGER NOT NULL,
    modified_us      INTEGER NOT NULL
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (account_id, user_name_lower);
CREATE INDEX scim_users_external_id ON scim_users (account_id, external_id);
CREATE INDEX scim_users_account_seq ON scim_users (account_id, seq);

CREATE TABLE scim_groups (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    id                  TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    display_name_lower  TEXT NOT NULL,
    external_id         TEXT,
    doc                 TEXT NOT NULL,
    version             INTEGER NOT NULL,
    created_us          INTEGER NOT NULL,
    modified_us         INTEGER NOT NULL
);
CREATE INDEX scim_groups_display_name ON scim_groups (account_id, display_name_lower);
CREATE INDEX scim_groups_external_id ON scim_groups (account_id, external_id);
CREATE INDEX scim_groups_account_seq ON scim_groups (account_id, seq);

-- Membership has its own table so that adding or removing members costs O(changed members).
CREATE TABLE scim_group_members (
    group_id     TEXT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    member_id    TEXT NOT NULL,
    member_type  TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
    display      TEXT,
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX scim_group_members_member ON scim_group_members (member_id);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('pat', 'sat')),
    principal_id  TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret_hash   BLOB NOT NULL,
    created_us    INTEGER NOT NULL,
    valid_to_us   INTEGER,
    last_used_us  INTEGER
);
CREATE INDEX api_tokens_principal ON api_tokens (account_id, principal_id);
