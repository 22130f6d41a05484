-- scimgate schema v2 (SQLite): shadow values for case-insensitive comparisons, folded in Rust
-- the same way on both backends (crates/store/src/fold.rs: NFC, then Unicode lowercase), so
-- that neither SQLite's ASCII-only lower() nor a collation decides what matches.
-- Append-only: never edit a released migration.
--
-- From this migration on, scim_users.user_name_lower (under the unique index) and
-- scim_groups.display_name_lower hold fold(name); before, Rust's to_lowercase without
-- normalisation. SQL cannot compute the fold: when the store opens a database it refills those
-- two and fills the new columns of every row whose doc_folded is NULL (rows written before
-- this migration, or later by an older scimgate), in batches (backfill_folded in
-- crates/store/src/shared/resources.rs).

-- fold(displayName) of a User: `displayName eq` through an index, and sortBy.
ALTER TABLE scim_users ADD COLUMN display_name_folded TEXT;
-- The document with the strings of every case-insensitive attribute folded (and nothing
-- else changed): what filters and sortBy read. Never returned.
ALTER TABLE scim_users ADD COLUMN doc_folded TEXT;
ALTER TABLE scim_groups ADD COLUMN doc_folded TEXT;
CREATE INDEX scim_users_display_name ON scim_users (account_id, display_name_folded);
-- The rows still to fold: empty once the backfill ran, so finding none costs nothing.
CREATE INDEX scim_users_unfolded ON scim_users (seq) WHERE doc_folded IS NULL;
CREATE INDEX scim_groups_unfolded ON scim_groups (seq) WHERE doc_folded IS NULL;
