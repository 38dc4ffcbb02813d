--
-- guard.max_rows: in production, a DELETE or UPDATE that would change more
-- rows than the limit is refused, even with a WHERE clause, and nothing of
-- it is kept.  Off by default; set per database or role by a superuser.
--
\set SHOW_CONTEXT never

SHOW guard.max_rows;
SET guard.max_rows = 10;

CREATE ROLE regress_limited LOGIN SUPERUSER;
ALTER ROLE regress_limited SET guard.max_rows = 100;
\c - regress_limited
SHOW guard.max_rows;
CREATE SCHEMA blast_radius_t;
GRANT USAGE ON SCHEMA blast_radius_t TO regress_owner;
SET search_path = blast_radius_t, public;

CREATE TABLE score (id int PRIMARY KEY, game_id int, points int);
INSERT INTO score SELECT g, g % 10, g FROM generate_series(1, 1000) g;
GRANT ALL ON score TO regress_owner;

-- Under the limit: runs.
DELETE FROM score WHERE game_id = 0 AND id <= 500;
UPDATE score SET points = 0 WHERE id BETWEEN 1 AND 100;
-- Over it: refused, and rolled back.
DELETE FROM score WHERE game_id > 0;
\echo :LAST_ERROR_SQLSTATE
UPDATE score SET points = points + 1 WHERE id > 0;
DELETE FROM score WHERE id > 0 RETURNING id;
-- Inside a WITH clause too.
WITH gone AS (DELETE FROM score WHERE id > 0 RETURNING id) SELECT count(*) FROM gone;
SELECT count(*), sum(points) FROM score;
-- Inside a function, each statement is judged on its own: 100 rows is the
-- limit, not over it; two games are.
CREATE FUNCTION purge(games int[]) RETURNS void LANGUAGE sql AS
	'DELETE FROM blast_radius_t.score WHERE game_id = ANY (games)';
SELECT purge('{1}');
SELECT purge('{3,4}');
SELECT count(*) FROM score;
-- Through every route, a statement past the limit is refused.
SET search_path = routes_t, blast_radius_t, public;
SELECT r.route, s.stmt, regress_via(r.route, s.stmt) AS outcome
FROM regress_route r
	CROSS JOIN (VALUES ('DELETE FROM blast_radius_t.score WHERE game_id IN (5, 6)'),
					   ('UPDATE blast_radius_t.score SET points = 0 WHERE game_id > 4')) s (stmt)
ORDER BY r.route, s.stmt;
SET search_path = blast_radius_t, public;
SELECT count(*) FROM score;

-- An upsert counts the existing rows it overwrites, not the rows it inserts;
-- in WITH too.  (The counts run at the limit of 100.)
SELECT count(*) FROM score WHERE id <= 150;
INSERT INTO score SELECT g, 0, -1 FROM generate_series(1, 150) g
ON CONFLICT (id) DO UPDATE SET points = excluded.points;
WITH u AS (INSERT INTO score SELECT g, 0, -1 FROM generate_series(1, 150) g
		   ON CONFLICT (id) DO UPDATE SET points = excluded.points RETURNING id)
SELECT count(*) FROM u;
SELECT count(*) FROM score WHERE points = -1;
INSERT INTO score SELECT g, 0, -1 FROM generate_series(1001, 1100) g
ON CONFLICT (id) DO UPDATE SET points = excluded.points;
DELETE FROM score WHERE id > 1000;

-- A temporary table has no limit.
CREATE TEMP TABLE scratch AS SELECT * FROM score;
DELETE FROM scratch WHERE id > 0;
-- An override lets it through.
BEGIN;
SET LOCAL guard.override = 'DATA-1: archive games 2 and 3';
DELETE FROM score WHERE game_id IN (2, 3);
COMMIT;
SELECT count(*) FROM score;

SELECT command, objects, verdict, reason, count(*)
FROM guard.audit WHERE objects = '{blast_radius_t.score}'
GROUP BY command, objects, verdict, reason ORDER BY min(id);

\c - postgres
BEGIN;
SET LOCAL guard.override = 'clean up';
ALTER ROLE regress_limited RESET guard.max_rows;
COMMIT;

-- A DELETE in WITH that the main query does not read to its end still
-- deletes every row it matches: counted once the statement has finished.
ALTER ROLE CURRENT_USER SET guard.max_rows = 3;
\c
CREATE TABLE blast_cte (id int);
INSERT INTO blast_cte SELECT generate_series(1, 10);
WITH d AS (DELETE FROM blast_cte WHERE id > 0 RETURNING *) SELECT 1;
WITH d AS (DELETE FROM blast_cte WHERE id > 0 RETURNING *) SELECT * FROM d LIMIT 1;
SELECT count(*) FROM blast_cte;
-- Rows a BEFORE trigger skips are not changed, and with RETURNING not
-- counted: 10 rows reach the DELETE, 2 are deleted.
CREATE FUNCTION keep_most() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id > 2 THEN
		RETURN NULL;
	END IF;
	RETURN OLD;
END
$$;
CREATE TRIGGER keep_most BEFORE DELETE ON blast_cte FOR EACH ROW EXECUTE FUNCTION keep_most();
WITH d AS (DELETE FROM blast_cte WHERE id > 0 RETURNING *) SELECT count(*) FROM d;
SELECT count(*) FROM blast_cte;
BEGIN;
SET LOCAL guard.override = 'test: reset the limit';
ALTER ROLE CURRENT_USER RESET guard.max_rows;
DROP TABLE blast_cte;
COMMIT;

-- Large objects: lo_unlink() of many in one statement is counted against
-- guard.max_rows, each object as a row; one at a time is routine.
ALTER ROLE CURRENT_USER SET guard.max_rows = 3;
\c
SELECT count(lo_create(0)) FROM generate_series(1, 5);
SELECT lo_unlink(oid) FROM pg_largeobject_metadata ORDER BY oid;
SELECT count(*) FROM pg_largeobject_metadata;
SELECT lo_unlink((SELECT min(oid) FROM pg_largeobject_metadata));
SELECT count(*) FROM pg_largeobject_metadata;
-- Rewriting the contents of more objects than the limit in one statement is
-- refused the same way, wherever the call is (target list, aggregate,
-- condition, subquery, WITH), and the writes roll back: lo_truncate,
-- lowrite and lo_put.  Up to the limit, and one at a time, it runs.
SELECT lo_put(oid, 0, 'abc') FROM pg_largeobject_metadata ORDER BY oid LIMIT 3;
SELECT lo_put((SELECT max(oid) FROM pg_largeobject_metadata), 0, 'abcd');
SELECT lo_truncate(lo_open(oid, 131072), 0) FROM pg_largeobject_metadata;
SELECT count(lo_truncate(lo_open(oid, 131072), 1)) FROM pg_largeobject_metadata;
SELECT 1 FROM pg_largeobject_metadata WHERE lo_truncate(lo_open(oid, 131072), 0) = 1;
SELECT (SELECT lo_put(m.oid, 0, 'z')) FROM pg_largeobject_metadata m;
WITH w AS (SELECT lowrite(lo_open(oid, 131072), 'q') FROM pg_largeobject_metadata)
SELECT count(*) FROM w;
SELECT string_agg(encode(lo_get(oid), 'escape'), ',' ORDER BY oid) FROM pg_largeobject_metadata;
SELECT command, verdict, objects, reason FROM guard.audit
WHERE command IN ('lo_truncate', 'lowrite', 'lo_put') ORDER BY id;
BEGIN;
SET LOCAL guard.override = 'test: reset the limit';
ALTER ROLE CURRENT_USER RESET guard.max_rows;
SELECT count(lo_unlink(oid)) FROM pg_largeobject_metadata;
COMMIT;
