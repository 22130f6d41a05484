-- RFC 9967 security event tokens (docs/events.md "Security event tokens"). A subscription is
-- pushed to (RFC 8935, `delivery` 'push', the default) or polled (RFC 8936, 'poll', no URL).
-- A polled one's `cursor_seq` is the newest event acknowledged with every one before it;
-- `poll_sent_through` the newest handed out, at `poll_sent_us`; what is acknowledged out of
-- order waits in `set_acks` until the events before it are acknowledged too.
ALTER TABLE webhooks ADD COLUMN delivery TEXT NOT NULL DEFAULT 'push';
ALTER TABLE webhooks ADD COLUMN poll_sent_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN poll_sent_us INTEGER NOT NULL DEFAULT 0;
CREATE TABLE set_acks (
    account_id  TEXT NOT NULL,
    webhook     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (account_id, webhook, event_id)
);
