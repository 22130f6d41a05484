-- Exact sizes without counting (docs/performance.md "Counts and deep pages"): how many users
-- and groups each account has (`resource_counts`, for totalResults and count=0), and how many
-- of them fall in each block of 1,024 `seq` numbers (`resource_blocks`, so that startIndex
-- 100,000 skips blocks instead of 100,000 rows). Triggers keep both in the transaction of
-- every insert and delete, whichever code path (API, Bulk, fixtures, account deletion) makes it.
CREATE TABLE resource_counts (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind)
) WITHOUT ROWID;
CREATE TABLE resource_blocks (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    block       INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, block)
) WITHOUT ROWID;
INSERT INTO resource_counts (account_id, kind, n)
    SELECT account_id, 'User', count(*) FROM scim_users GROUP BY account_id;
INSERT INTO resource_counts (account_id, kind, n)
    SELECT account_id, 'Group', count(*) FROM scim_groups GROUP BY account_id;
INSERT INTO resource_blocks (account_id, kind, block, n)
    SELECT account_id, 'User', seq >> 10, count(*) FROM scim_users GROUP BY account_id, seq >> 10;
INSERT INTO resource_blocks (account_id, kind, block, n)
    SELECT account_id, 'Group', seq >> 10, count(*) FROM scim_groups GROUP BY account_id, seq >> 10;

CREATE TRIGGER scim_users_counted AFTER INSERT ON scim_users BEGIN
    INSERT INTO resource_counts (account_id, kind, n) VALUES (NEW.account_id, 'User', 1)
        ON CONFLICT (account_id, kind) DO UPDATE SET n = n + 1;
    INSERT INTO resource_blocks (account_id, kind, block, n) VALUES (NEW.account_id, 'User', NEW.seq >> 10, 1)
        ON CONFLICT (account_id, kind, block) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER scim_users_uncounted AFTER DELETE ON scim_users BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE account_id = OLD.account_id AND kind = 'User';
    UPDATE resource_blocks SET n = n - 1 WHERE account_id = OLD.account_id AND kind = 'User' AND block = OLD.seq >> 10;
END;
CREATE TRIGGER scim_groups_counted AFTER INSERT ON scim_groups BEGIN
    INSERT INTO resource_counts (account_id, kind, n) VALUES (NEW.account_id, 'Group', 1)
        ON CONFLICT (account_id, kind) DO UPDATE SET n = n + 1;
    INSERT INTO resource_blocks (account_id, kind, block, n) VALUES (NEW.account_id, 'Group', NEW.seq >> 10, 1)
        ON CONFLICT (account_id, kind, block) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER scim_groups_uncounted AFTER DELETE ON scim_groups BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE account_id = OLD.account_id AND kind = 'Group';
    UPDATE resource_blocks SET n = n - 1 WHERE account_id = OLD.account_id AND kind = 'Group' AND block = OLD.seq >> 10;
END;
