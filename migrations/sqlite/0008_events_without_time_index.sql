-- Retention walks each account's events in number order (crates/store/src/shared/events.rs),
-- so the index on the time is not needed; without it an append writes one page less.
DROP INDEX events_occurred;
