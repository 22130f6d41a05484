-- The SCIM request log in segments (docs/audit.md "How it is stored"): one row per account
-- per batch of the writer, its records encoded back to back in `data` (crates/store/src/
-- segment.rs); a record's position is id * 1024 + its index. `methods` and `statuses` are bit
-- sets of what the segment holds, so a filtered read skips segments without decoding them.
CREATE TABLE scim_request_segments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    first_at_us     INTEGER NOT NULL,
    last_at_us      INTEGER NOT NULL,
    methods         INTEGER NOT NULL,
    statuses        INTEGER NOT NULL,
    records         INTEGER NOT NULL,
    data            BLOB NOT NULL
);
CREATE INDEX scim_request_segments_account ON scim_request_segments (account_id, id);

-- The rows of scim_requests stay readable (after the segments) until retention empties the
-- table; segment positions start above theirs.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'scim_request_segments', COALESCE(MAX(seq), 0) / 1024 + 1 FROM scim_requests;
