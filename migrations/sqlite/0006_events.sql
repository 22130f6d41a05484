-- The change-event outbox (docs/events.md): one row per change to a user or group, written in
-- the same transaction as the change. `seq` is the account's event number, taken from
-- `event_counters` in that transaction, so it only grows and has no gaps: a reader that has
-- seen event N has seen every event before it. `data` is JSON (the stored resource, or a
-- membership), rendered as SCIM when it is read. `pruned_through` is the newest number
-- retention has deleted: a reader whose cursor is older has missed events.
CREATE TABLE event_counters (
    account_id   TEXT PRIMARY KEY,
    last_seq     INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE events (
    account_id   TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    occurred_us  INTEGER NOT NULL,
    request_id   TEXT,
    data         TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
) WITHOUT ROWID;
-- Retention deletes by age across accounts.
CREATE INDEX events_occurred ON events (occurred_us);
