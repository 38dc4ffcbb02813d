--
-- What is never destructive runs in production, and leaves no audit row:
-- temporary tables, tables created in the same transaction, DROP ... IF
-- EXISTS of nothing, the drops PostgreSQL makes on its own, DETACH
-- PARTITION, and everything that does not destroy table data.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA never_t;
SET search_path = never_t, public;

SELECT count(*) AS audit_rows_before FROM guard.audit \gset

-- Temporary tables, whatever is done to them.
CREATE TEMP TABLE scratch (id int, v text);
INSERT INTO scratch SELECT g, 'x' FROM generate_series(1, 10) g;
DELETE FROM scratch;
UPDATE scratch SET v = 'y';
TRUNCATE scratch;
ALTER TABLE scratch DROP COLUMN v;
DROP TABLE scratch;
CREATE TEMP TABLE scratch2 (id int) ON COMMIT DELETE ROWS;
DROP TABLE pg_temp.scratch2;

-- Tables created in the same transaction.
BEGIN;
CREATE TABLE fresh (id int, v text);
INSERT INTO fresh VALUES (1, 'a');
DELETE FROM fresh;
UPDATE fresh SET v = 'b';
TRUNCATE fresh;
ALTER TABLE fresh DROP COLUMN v;
DROP TABLE fresh;
COMMIT;
BEGIN;
CREATE TABLE fresh_parent (id int, day int) PARTITION BY RANGE (day);
CREATE TABLE fresh_part PARTITION OF fresh_parent FOR VALUES FROM (1) TO (10);
DROP TABLE fresh_parent;
COMMIT;
-- DROP ... IF EXISTS of nothing.
DROP TABLE IF EXISTS no_such_table;
DROP TABLE IF EXISTS no_such_schema.no_such_table;
DROP MATERIALIZED VIEW IF EXISTS no_such_matview;
DROP FOREIGN TABLE IF EXISTS no_such_foreign_table;
DROP SCHEMA IF EXISTS no_such_schema CASCADE;
DROP DATABASE IF EXISTS no_such_database;
TRUNCATE no_such_table;

-- PostgreSQL's own drops: ON COMMIT DROP, and the transient heaps of
-- CLUSTER, VACUUM FULL, REFRESH MATERIALIZED VIEW and table rewrites.
BEGIN;
CREATE TEMP TABLE ocd (id int) ON COMMIT DROP;
COMMIT;
CREATE TABLE busy (id int PRIMARY KEY, v text);
INSERT INTO busy SELECT g, 'v' || g FROM generate_series(1, 100) g;
CLUSTER busy USING busy_pkey;
VACUUM FULL busy;
VACUUM busy;
ANALYZE busy;
ALTER TABLE busy ALTER COLUMN v TYPE varchar(20);
ALTER TABLE busy ADD COLUMN w int DEFAULT 0;
ALTER TABLE busy ADD COLUMN r float8 DEFAULT random();
ALTER TABLE busy SET UNLOGGED;
ALTER TABLE busy SET LOGGED;
CREATE MATERIALIZED VIEW busy_mv AS SELECT * FROM busy;
CREATE UNIQUE INDEX ON busy_mv (id);
REFRESH MATERIALIZED VIEW busy_mv;
REFRESH MATERIALIZED VIEW CONCURRENTLY busy_mv;
DISCARD TEMP;

-- DETACH PARTITION keeps the partition as a table of its own.
CREATE TABLE events (id int, day int) PARTITION BY RANGE (day);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (10);
INSERT INTO events VALUES (1, 1);
ALTER TABLE events DETACH PARTITION events_1;
SELECT count(*) FROM events_1;

-- Objects that hold no table data.
CREATE INDEX busy_v ON busy (v);
DROP INDEX busy_v;
CREATE VIEW busy_v AS SELECT * FROM busy;
DROP VIEW busy_v;
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION f();
CREATE TYPE t AS (a int);
DROP TYPE t;
ALTER TABLE busy DROP CONSTRAINT busy_pkey;

-- Ordinary writes with conditions.
UPDATE busy SET v = 'changed' WHERE id = 1;
DELETE FROM busy WHERE id = 2;
INSERT INTO busy (id, v) VALUES (2, 'back');

-- A temporary schema is cleaned up when its session ends.
CREATE TEMP TABLE left_behind AS SELECT g FROM generate_series(1, 10) g;
SELECT pg_backend_pid() AS old_pid \gset
\c -
SELECT set_config('regress.old_pid', :'old_pid', false) IS NOT NULL AS waiting;
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
							  WHERE pid = current_setting('regress.old_pid')::int);
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT count(*) AS temp_tables_left FROM pg_class WHERE relname = 'left_behind';
SET search_path = never_t, public;
SELECT count(*) AS busy_rows FROM busy;

-- None of the above was recorded.
SELECT count(*) - :audit_rows_before AS new_audit_rows FROM guard.audit;

-- The exemption for new tables is about the table, not the transaction:
-- a table only altered in this transaction is protected,
CREATE TABLE kept (id int);
INSERT INTO kept VALUES (1);
BEGIN;
ALTER TABLE kept ADD COLUMN v text;
DROP TABLE kept;
ROLLBACK;
-- and so is an old table attached to a new parent.
BEGIN;
CREATE TABLE new_parent (id int) PARTITION BY LIST (id);
ALTER TABLE new_parent ATTACH PARTITION kept FOR VALUES IN (1, 2, 3);
DROP TABLE new_parent;
ROLLBACK;
BEGIN;
CREATE TABLE new_parent (id int) PARTITION BY LIST (id);
ALTER TABLE new_parent ATTACH PARTITION kept FOR VALUES IN (1, 2, 3);
DELETE FROM new_parent;
ROLLBACK;


-- Decided on data: a table that holds no row loses nothing.  Each of these
-- runs, and is recorded as allowed, with that reason.
CREATE TABLE empty_one (id int, v text);
CREATE TABLE empty_two (id int);
ALTER TABLE empty_one DROP COLUMN v;
TRUNCATE empty_one, empty_two;
DELETE FROM empty_one;
UPDATE empty_two SET id = 0;
DROP TABLE empty_one, empty_two;
-- Rows that were all deleted are no rows either.
CREATE TABLE emptied (id int);
INSERT INTO emptied VALUES (1);
DELETE FROM emptied WHERE id = 1;
DROP TABLE emptied;
-- A sequence never used holds no value yet (and is not even recorded).
CREATE SEQUENCE fresh_seq;
DROP SEQUENCE fresh_seq;
-- A column added in this transaction holds nothing older.
CREATE TABLE with_rows (id int);
INSERT INTO with_rows VALUES (1);
BEGIN;
ALTER TABLE with_rows ADD COLUMN extra text;
ALTER TABLE with_rows DROP COLUMN extra;
COMMIT;
-- One row is enough to refuse.
ALTER TABLE with_rows ADD COLUMN extra text;
ALTER TABLE with_rows DROP COLUMN extra;
TRUNCATE with_rows;
DROP TABLE with_rows;
SELECT command, objects, verdict, reason FROM guard.audit
WHERE objects && '{never_t.empty_one,never_t.empty_two,never_t.empty_one.v,never_t.emptied,never_t.fresh_seq,never_t.with_rows,never_t.with_rows.extra}'
ORDER BY id;
