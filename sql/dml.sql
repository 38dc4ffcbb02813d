--
-- DELETE and UPDATE that would change every row of a table: without
-- WHERE, or with a WHERE that PostgreSQL folds to true.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA dml_t;
SET search_path = dml_t, public;

CREATE TABLE score (id int PRIMARY KEY, player text, points int);
INSERT INTO score SELECT g, 'p' || (g % 3), g FROM generate_series(1, 30) g;
CREATE TABLE banned (player text);
INSERT INTO banned VALUES ('p1');

DELETE FROM score;
\echo :LAST_ERROR_SQLSTATE
UPDATE score SET points = 0;
DELETE FROM score WHERE true;
DELETE FROM score WHERE 1 = 1;
UPDATE score SET points = 0 WHERE 'a' = 'a';
DELETE FROM score RETURNING *;
DELETE FROM ONLY score;
-- In a WITH clause, alone or beside another.
WITH gone AS (DELETE FROM score RETURNING *) SELECT count(*) FROM gone;
WITH gone AS (DELETE FROM score WHERE id = 30 RETURNING *),
	 reset AS (UPDATE score SET points = 0 RETURNING *)
SELECT count(*) FROM gone;
-- A join with no condition changes every row.
UPDATE score SET points = 0 FROM banned;
DELETE FROM score USING banned;

-- With conditions they run.
DELETE FROM score WHERE id = 30;
UPDATE score SET points = points + 1 WHERE player = 'p0';
DELETE FROM score WHERE player IN (SELECT player FROM banned) AND id > 28;
UPDATE score s SET points = s.points FROM banned b WHERE s.player = b.player;
DELETE FROM score s USING banned b WHERE s.player = b.player AND s.id = 28;
DELETE FROM score WHERE false;
DELETE FROM score WHERE id > (SELECT max(id) FROM score);
DELETE FROM score WHERE points IS NULL;
WITH gone AS (DELETE FROM score WHERE id = 27 RETURNING *) SELECT count(*) FROM gone;

-- EXPLAIN plans without running; EXPLAIN ANALYZE runs.
EXPLAIN (COSTS OFF) DELETE FROM score;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) DELETE FROM score;

-- Partitioned and inherited tables.
CREATE TABLE events (id int, day int) PARTITION BY RANGE (day);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (10);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10) TO (20);
INSERT INTO events VALUES (1, 1), (2, 12);
DELETE FROM events;
UPDATE events SET id = 0;
DELETE FROM events_2;
DELETE FROM events WHERE day = 12;
UPDATE events SET id = 0 WHERE day < 10;

-- A cursor's current row is a condition.
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM score ORDER BY id FOR UPDATE;
FETCH c;
UPDATE score SET points = -1 WHERE CURRENT OF c;
ROLLBACK;

-- Views: an updatable view's own WHERE is a condition; a view without one
-- is its table.
CREATE VIEW p0_scores AS SELECT * FROM score WHERE player = 'p0';
CREATE VIEW all_scores AS SELECT * FROM score;
UPDATE p0_scores SET points = 1;
DELETE FROM all_scores;
-- A view changed through INSTEAD OF triggers counts like a table: without
-- a condition, its trigger would delete every row one at a time.
CREATE VIEW score_log AS SELECT id, points FROM score;
CREATE FUNCTION score_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM score WHERE id = OLD.id;
	RETURN OLD;
END
$$;
CREATE TRIGGER score_log_delete INSTEAD OF DELETE ON score_log
	FOR EACH ROW EXECUTE FUNCTION score_log_delete();
DELETE FROM score_log WHERE id = 26;
DELETE FROM score_log;

-- Row-level security policies are conditions.
ALTER TABLE score ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON score USING (player = current_user);
GRANT USAGE ON SCHEMA dml_t TO regress_plain;
GRANT ALL ON score TO regress_plain;
SET ROLE regress_plain;
DELETE FROM score;
RESET ROLE;
ALTER TABLE score DISABLE ROW LEVEL SECURITY;

-- Foreign tables: the remote conditions count.
DO $$
BEGIN
	EXECUTE format('CREATE SERVER regress_dml_loop FOREIGN DATA WRAPPER postgres_fdw
					OPTIONS (host %L, port %L, dbname %L)',
				   split_part(current_setting('unix_socket_directories'), ',', 1),
				   current_setting('port'), current_database());
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_dml_loop;
CREATE FOREIGN TABLE remote_score (id int, player text, points int)
	SERVER regress_dml_loop OPTIONS (table_name 'score');
UPDATE remote_score SET points = points WHERE id = 1;
DELETE FROM remote_score WHERE id = 25;
DELETE FROM remote_score;
UPDATE remote_score SET points = 0;

-- INSERT, SELECT and MERGE are not DELETE or UPDATE.
INSERT INTO banned SELECT player FROM score LIMIT 1;
SELECT count(*) FROM score;

-- Nothing was lost beyond the rows deleted on purpose.
SELECT count(*), min(id), max(id), sum(points) FROM score;
SELECT count(*) FROM events;
