-- The audit log (docs/audit.md): one row per state change, written in the change's own
-- transaction. The settings audit trail of 0001 is folded in (resource_type 'SETTING').
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    at_us           INTEGER NOT NULL,
    principal_type  TEXT NOT NULL,
    principal_id    TEXT NOT NULL,
    credential_id   TEXT,
    jwt_iss         TEXT,
    jwt_sub         TEXT,
    jwt_jti         TEXT,
    request_id      TEXT,
    action          TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    summary         TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, seq);
CREATE INDEX audit_log_resource ON audit_log (account_id, resource_type, resource_id, seq);

INSERT INTO audit_log (account_id, at_us, principal_type, principal_id, action, resource_type,
                       resource_id, summary)
SELECT account_id, at_us,
       CASE WHEN instr(actor, ':') > 0 THEN substr(actor, 1, instr(actor, ':') - 1) ELSE actor END,
       CASE WHEN instr(actor, ':') > 0 THEN substr(actor, instr(actor, ':') + 1) ELSE '' END,
       action, 'SETTING', identifier,
       json_object('scope', json_object('org', org_identifier, 'project', project_identifier),
                   'old', old_value, 'new', new_value)
FROM settings_audit ORDER BY seq;
DROP TABLE settings_audit;

-- The SCIM request log (docs/audit.md "SCIM request log"): bodies already redacted and cut.
-- No foreign key: a request to an account is logged however it ended.
CREATE TABLE scim_requests (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    at_us           INTEGER NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    query           TEXT NOT NULL,
    status          INTEGER NOT NULL,
    duration_us     INTEGER NOT NULL,
    principal       TEXT,
    credential_id   TEXT,
    user_agent      TEXT,
    request_id      TEXT,
    request_body    TEXT,
    response_body   TEXT
);
CREATE INDEX scim_requests_account ON scim_requests (account_id, seq);
