-- Exact sizes without counting (docs/performance.md "Counts and deep pages"): how many users
-- and groups each account has (`resource_counts`, for totalResults and count=0), and how many
-- of them fall in each block of 1,024 `seq` numbers (`resource_blocks`, so that startIndex
-- 100,000 skips blocks instead of 100,000 rows). Triggers keep both in the transaction of
-- every insert and delete, whichever code path (API, Bulk, fixtures, account deletion) makes it.
CREATE TABLE resource_counts (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind)
);
CREATE TABLE resource_blocks (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    block       BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind, block)
);
INSERT INTO resource_counts (account_id, kind, n)
    SELECT account_id, 'User', count(*) FROM scim_users GROUP BY account_id;
INSERT INTO resource_counts (account_id, kind, n)
    SELECT account_id, 'Group', count(*) FROM scim_groups GROUP BY account_id;
INSERT INTO resource_blocks (account_id, kind, block, n)
    SELECT account_id, 'User', seq >> 10, count(*) FROM scim_users GROUP BY account_id, seq >> 10;
INSERT INTO resource_blocks (account_id, kind, block, n)
    SELECT account_id, 'Group', seq >> 10, count(*) FROM scim_groups GROUP BY account_id, seq >> 10;

CREATE FUNCTION scim_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts (account_id, kind, n) VALUES (NEW.account_id, TG_ARGV[0], 1)
            ON CONFLICT (account_id, kind) DO UPDATE SET n = resource_counts.n + 1;
        INSERT INTO resource_blocks (account_id, kind, block, n) VALUES (NEW.account_id, TG_ARGV[0], NEW.seq >> 10, 1)
            ON CONFLICT (account_id, kind, block) DO UPDATE SET n = resource_blocks.n + 1;
    ELSE
        UPDATE resource_counts SET n = n - 1 WHERE account_id = OLD.account_id AND kind = TG_ARGV[0];
        UPDATE resource_blocks SET n = n - 1
            WHERE account_id = OLD.account_id AND kind = TG_ARGV[0] AND block = OLD.seq >> 10;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER scim_users_counted AFTER INSERT OR DELETE ON scim_users
    FOR EACH ROW EXECUTE FUNCTION scim_count('User');
CREATE TRIGGER scim_groups_counted AFTER INSERT OR DELETE ON scim_groups
    FOR EACH ROW EXECUTE FUNCTION scim_count('Group');
