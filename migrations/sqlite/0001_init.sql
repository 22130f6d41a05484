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

-- Child scopes of an account (contract.md §3). Account-level rows use '' for the scope.
CREATE TABLE organizations (
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    identifier   TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '{}',
    created_us   INTEGER NOT NULL,
    modified_us  INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier)
) WITHOUT ROWID;

CREATE TABLE projects (
    account_id      TEXT NOT NULL,
    org_identifier  TEXT NOT NULL,
    identifier      TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    color           TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '{}',
    created_us      INTEGER NOT NULL,
    modified_us     INTEGER NOT NULL,
    PRIMARY KEY (account_id, org_identifier, identifier),
    FOREIGN KEY (account_id, org_identifier) REFERENCES organizations (account_id, identifier) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE service_accounts (
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    identifier   TEXT NOT NULL,
    name         TEXT NOT NULL,
    email        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '{}',
    created_us   INTEGER NOT NULL,
    modified_us  INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier)
) WITHOUT ROWID;

-- Custom roles; the built-in ones live in code.
CREATE TABLE roles (
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    identifier   TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    permissions  TEXT NOT NULL,
    tags         TEXT NOT NULL DEFAULT '{}',
    created_us   INTEGER NOT NULL,
    modified_us  INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier)
) WITHOUT ROWID;

-- Custom resource groups; the built-in one lives in code.
CREATE TABLE resource_groups (
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    identifier      TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    include_all     INTEGER NOT NULL,
    resource_types  TEXT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '{}',
    created_us      INTEGER NOT NULL,
    modified_us     INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier)
) WITHOUT ROWID;

CREATE TABLE role_assignments (
    account_id                 TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    identifier                 TEXT NOT NULL,
    org_identifier             TEXT NOT NULL DEFAULT '',
    project_identifier         TEXT NOT NULL DEFAULT '',
    role_identifier            TEXT NOT NULL,
    resource_group_identifier  TEXT NOT NULL,
    principal_type             TEXT NOT NULL CHECK (principal_type IN ('USER', 'USER_GROUP', 'SERVICE_ACCOUNT')),
    principal_identifier       TEXT NOT NULL,
    disabled                   INTEGER NOT NULL DEFAULT 0,
    created_us                 INTEGER NOT NULL,
    modified_us                INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier)
) WITHOUT ROWID;
CREATE UNIQUE INDEX role_assignments_unique ON role_assignments
    (account_id, org_identifier, project_identifier, role_identifier, resource_group_identifier,
     principal_type, principal_identifier);
CREATE INDEX role_assignments_principal ON role_assignments (account_id, principal_type, principal_identifier);
CREATE INDEX role_assignments_role ON role_assignments (account_id, role_identifier);

CREATE TABLE api_keys (
    account_id            TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    api_key_type          TEXT NOT NULL CHECK (api_key_type IN ('USER', 'SERVICE_ACCOUNT')),
    parent_identifier     TEXT NOT NULL,
    identifier            TEXT NOT NULL,
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    tags                  TEXT NOT NULL DEFAULT '{}',
    default_ttl_ms        INTEGER,
    created_us            INTEGER NOT NULL,
    modified_us           INTEGER NOT NULL,
    PRIMARY KEY (account_id, api_key_type, parent_identifier, identifier)
) WITHOUT ROWID;

-- `id` is the token id inside the token string; `identifier` is the name a client chose,
-- unique per API key. Only SHA-256 hashes of secrets are stored. A rotation keeps the old
-- hash valid until `previous_valid_to_us` (the client's rotateTimestamp).
CREATE TABLE api_tokens (
    id                    TEXT PRIMARY KEY NOT NULL,
    account_id            TEXT NOT NULL,
    api_key_type          TEXT NOT NULL,
    parent_identifier     TEXT NOT NULL,
    api_key_identifier    TEXT NOT NULL,
    identifier            TEXT NOT NULL,
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    tags                  TEXT NOT NULL DEFAULT '{}',
    secret_hash           BLOB NOT NULL,
    previous_secret_hash  BLOB,
    previous_valid_to_us  INTEGER,
    created_us            INTEGER NOT NULL,
    modified_us           INTEGER NOT NULL,
    valid_from_us         INTEGER NOT NULL,
    valid_to_us           INTEGER,
    last_used_us          INTEGER,
    FOREIGN KEY (account_id, api_key_type, parent_identifier, api_key_identifier)
        REFERENCES api_keys (account_id, api_key_type, parent_identifier, identifier) ON DELETE CASCADE
);
CREATE UNIQUE INDEX api_tokens_identifier ON api_tokens
    (account_id, api_key_type, parent_identifier, api_key_identifier, identifier);

-- Settings values per scope ('' = the account level) and their audit trail.
CREATE TABLE settings (
    account_id          TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    org_identifier      TEXT NOT NULL DEFAULT '',
    project_identifier  TEXT NOT NULL DEFAULT '',
    identifier          TEXT NOT NULL,
    value               TEXT NOT NULL,
    allow_overrides     INTEGER NOT NULL,
    modified_us         INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier, org_identifier, project_identifier)
) WITHOUT ROWID;

-- Who changed what, when, from which value to which; secret settings are stored hashed.
CREATE TABLE settings_audit (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    org_identifier      TEXT NOT NULL DEFAULT '',
    project_identifier  TEXT NOT NULL DEFAULT '',
    identifier          TEXT NOT NULL,
    action              TEXT NOT NULL CHECK (action IN ('UPDATE', 'RESTORE')),
    old_value           TEXT,
    new_value           TEXT,
    actor               TEXT NOT NULL,
    at_us               INTEGER NOT NULL
);
CREATE INDEX settings_audit_account ON settings_audit (account_id, seq);

-- Cache invalidations for the other nodes on this database: each node polls for rows after
-- the last one it saw. Pruned after an hour (the caches' TTLs are the safety net).
CREATE TABLE change_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'settings')),
    at_us       INTEGER NOT NULL
);
CREATE INDEX change_log_at ON change_log (at_us);
