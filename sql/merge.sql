--
-- MERGE, upserts, and joins: a statement changes every row of its table
-- when no condition can keep one of its rows out.  A condition on another
-- table joined to it does not; neither does a join to the table's whole
-- self.
--
\set SHOW_CONTEXT never

CREATE SCHEMA merge_t;
SET search_path = merge_t, public;
CREATE TABLE t (id int PRIMARY KEY, x int, s text);
INSERT INTO t SELECT g, g, 'row ' || g FROM generate_series(1, 20) g;
CREATE TABLE u (id int, flag bool);
INSERT INTO u VALUES (1, true), (2, false), (3, true);
CREATE TABLE staging (id int, x int);
INSERT INTO staging VALUES (1, 100), (2, 200), (50, 500);

-- MERGE whose join matches every row, with an unconditional action.
MERGE INTO t USING (SELECT id FROM t) s ON t.id = s.id WHEN MATCHED THEN DELETE;
MERGE INTO t USING (SELECT id FROM t) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = 0;
MERGE INTO t USING t AS s ON t.id = s.id WHEN MATCHED THEN DELETE;
MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE;
\echo :LAST_ERROR_SQLSTATE

-- MERGE from another table, or with a condition on the action: routine.
MERGE INTO t USING staging s ON t.id = s.id
	WHEN MATCHED THEN UPDATE SET x = s.x
	WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.x, 'merged');
MERGE INTO t USING (SELECT id FROM t) s ON t.id = s.id
	WHEN MATCHED AND t.id > 100 THEN DELETE;
SELECT count(*), sum(x) FROM t;

-- Upserts that overwrite every row with the table's own rows.
INSERT INTO t SELECT id, 0, '' FROM t ON CONFLICT (id) DO UPDATE SET x = excluded.x;
INSERT INTO t SELECT * FROM t ON CONFLICT (id) DO UPDATE SET s = 'x';

-- Upserts of new or some rows, or with a condition: routine.
INSERT INTO t VALUES (1, 11, 'one') ON CONFLICT (id) DO UPDATE SET x = excluded.x;
INSERT INTO t SELECT id, x, 'staged' FROM staging ON CONFLICT (id) DO UPDATE SET s = excluded.s;
INSERT INTO t SELECT id, 0, '' FROM t ON CONFLICT (id) DO UPDATE SET x = excluded.x WHERE t.id = 2;
INSERT INTO t SELECT id, 0, '' FROM t ON CONFLICT (id) DO NOTHING;
SELECT count(*), sum(x) FROM t;

-- A condition on another table does not restrict the target.
DELETE FROM t USING u WHERE u.id = 1;
UPDATE t SET x = 0 FROM u WHERE u.flag;
DELETE FROM t USING u, staging WHERE u.id = staging.id;
DELETE FROM t USING t AS t2 WHERE t.id = t2.id;

-- A join condition on the target's own rows does.
DELETE FROM t USING u WHERE t.id = u.id AND u.flag;
UPDATE t SET x = t.x + 1 FROM staging WHERE t.id = staging.id;
SELECT count(*), sum(x) FROM t;

-- The same inside WITH, and through a prepared statement.
WITH m AS (DELETE FROM t USING u WHERE u.flag RETURNING t.*) SELECT count(*) FROM m;
PREPARE upsert_all AS INSERT INTO t SELECT id, 0, '' FROM t ON CONFLICT (id) DO UPDATE SET x = 0;
EXECUTE upsert_all;
DEALLOCATE upsert_all;

-- guard.max_rows counts what MERGE changes, not what it inserts.
ALTER ROLE CURRENT_USER SET guard.max_rows = 2;
\c
SET search_path = merge_t, public;
MERGE INTO t USING staging s ON t.id = s.id
	WHEN MATCHED THEN UPDATE SET x = s.x
	WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.x, 'merged');
MERGE INTO t USING (SELECT g AS id FROM generate_series(1, 5) g) s ON t.id = s.id
	WHEN MATCHED THEN UPDATE SET x = -1;
BEGIN;
SET LOCAL guard.override = 'test: reset the limit';
ALTER ROLE CURRENT_USER RESET guard.max_rows;
COMMIT;
\c
SET search_path = merge_t, public;

-- Nothing was lost.
SELECT count(*), sum(x) FROM t;

SELECT command, verdict, statement
FROM guard.audit
WHERE objects = '{merge_t.t}'
ORDER BY id;

RESET search_path;
BEGIN;
SET LOCAL guard.override = 'test: the merge tables are done';
DROP SCHEMA merge_t CASCADE;
COMMIT;
