-- Webhook subscriptions (docs/events.md "Webhooks"). `cursor_seq` is the newest event of the
-- account the subscription has handled (delivered, or not one it wants); `attempts`,
-- `first_failure_us` and `next_attempt_us` are the retry state of the event after it. A
-- node delivers a subscription only while it holds its lease (`lease_owner` until
-- `lease_until_us`), so each event goes out from one node at a time, in order.
CREATE TABLE webhooks (
    account_id         TEXT NOT NULL,
    identifier         TEXT NOT NULL,
    url                TEXT NOT NULL,
    events             TEXT NOT NULL,
    format             TEXT NOT NULL,
    enabled            INTEGER NOT NULL,
    status             TEXT NOT NULL,
    secret             TEXT NOT NULL,
    previous_secret    TEXT,
    previous_until_us  INTEGER,
    cursor_seq         INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    first_failure_us   INTEGER,
    next_attempt_us    INTEGER NOT NULL,
    last_error         TEXT,
    lease_owner        TEXT,
    lease_until_us     INTEGER NOT NULL DEFAULT 0,
    created_us         INTEGER NOT NULL,
    modified_us        INTEGER NOT NULL,
    PRIMARY KEY (account_id, identifier)
);

-- Every attempt to deliver an event, kept for the delivery log (pruned with the events).
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   TEXT NOT NULL,
    webhook      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_seq    INTEGER NOT NULL,
    event_type   TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    at_us        INTEGER NOT NULL,
    status       INTEGER,
    duration_ms  INTEGER NOT NULL,
    ok           INTEGER NOT NULL,
    error        TEXT,
    response     TEXT,
    redelivery   INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (account_id, webhook, id);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at_us);
