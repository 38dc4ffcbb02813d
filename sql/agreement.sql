--
-- The dry run and the hooks agree.  Every statement of a corpus goes
-- through guard.dry_run and then runs for real in production, in a
-- subtransaction that is always rolled back; the verdict and the objects
-- must be the same.  A statement the dry run finds "allowed" runs.  A
-- statement that runs code the dry run does not follow (a DO block, a
-- procedure, a user's function, a trigger) is "cannot tell", whatever
-- production then does with the statements of that code: the column
-- "production" shows what it did.
--
\set SHOW_CONTEXT never

CREATE SCHEMA agree_t;
SET search_path = agree_t, public;
CREATE TABLE t (id int PRIMARY KEY, x int, s text);
INSERT INTO t SELECT g, g, 'row ' || g FROM generate_series(1, 10) g;
CREATE TABLE u (id int, flag bool);
INSERT INTO u VALUES (1, true), (2, false);
CREATE TABLE child (id int, t_id int REFERENCES t ON DELETE CASCADE);
INSERT INTO child VALUES (1, 1);
CREATE TABLE part (at int, v text) PARTITION BY RANGE (at);
CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100);
INSERT INTO part VALUES (1, 'a');
CREATE VIEW t_view AS SELECT * FROM t;
CREATE TABLE ruled (id int);
CREATE RULE ruled_empties_t AS ON INSERT TO ruled DO ALSO DELETE FROM t;
CREATE FUNCTION empty_t() RETURNS int LANGUAGE sql
	AS 'DELETE FROM agree_t.t RETURNING 1';
CREATE FUNCTION harmless() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE PROCEDURE clear_t() LANGUAGE sql AS 'DELETE FROM agree_t.t';
CREATE TABLE trig (id int);
INSERT INTO trig VALUES (1);
CREATE FUNCTION trig_empties_t() RETURNS trigger LANGUAGE plpgsql
	AS $$BEGIN DELETE FROM agree_t.t; RETURN NULL; END$$;
CREATE TRIGGER trig_empties_t AFTER INSERT ON trig
	FOR EACH ROW EXECUTE FUNCTION trig_empties_t();
CREATE ROLE regress_agree_role;

-- What production does with a statement: its verdict, and the objects of
-- the refusal's audit rows.
CREATE FUNCTION agree_real(stmt text, OUT verdict text, OUT objects text[])
LANGUAGE plpgsql AS $$
DECLARE
	last bigint := (SELECT coalesce(max(id), 0) FROM guard.audit);
BEGIN
	BEGIN
		EXECUTE stmt;
		RAISE SQLSTATE 'GRD01';
	EXCEPTION
		WHEN insufficient_privilege THEN
			verdict := 'refused';
		WHEN SQLSTATE 'GRD01' THEN
			verdict := 'runs';
		-- Past guard, PostgreSQL will not run it here (DROP DATABASE,
		-- ALTER SYSTEM): production lets it through.
		WHEN active_sql_transaction THEN
			verdict := 'runs';
		WHEN OTHERS THEN
			verdict := 'error';
	END;
	SELECT coalesce(array_agg(DISTINCT o ORDER BY o), '{}') INTO objects
	FROM guard.audit a, unnest(a.objects) o
	WHERE a.id > last AND a.verdict = 'blocked';
END
$$;

-- What the dry run says of it, all its rows together.
CREATE FUNCTION agree_dry(stmt text, OUT verdict text, OUT objects text[])
LANGUAGE sql AS $$
	SELECT CASE WHEN bool_or(d.verdict = 'refused') THEN 'refused'
				WHEN bool_or(d.verdict = 'error') THEN 'error'
				WHEN bool_or(d.verdict = 'cannot tell') THEN 'cannot tell'
				ELSE 'runs' END,
		coalesce((SELECT array_agg(DISTINCT o ORDER BY o)
				  FROM guard.dry_run(stmt) r, unnest(r.objects) o
				  WHERE r.verdict = 'refused'), '{}')
	FROM guard.dry_run(stmt) d
$$;

CREATE TABLE corpus (n serial, stmt text);
INSERT INTO corpus (stmt) VALUES
	-- The kinds of destructive statement.
	('DROP TABLE t CASCADE'),
	('DROP TABLE part'),
	('DROP TABLE IF EXISTS no_such_table'),
	('TRUNCATE t CASCADE'),
	('TRUNCATE part_1'),
	('ALTER TABLE t DROP COLUMN s'),
	('DROP SCHEMA agree_t CASCADE'),
	('DROP OWNED BY regress_agree_role'),
	('DROP DATABASE regress_no_such_db'),
	-- DML, with and without a condition.
	('DELETE FROM t'),
	('DELETE FROM t WHERE id = 1'),
	('DELETE FROM t WHERE true'),
	('UPDATE t SET x = 0'),
	('UPDATE t SET x = 0 WHERE id < 3'),
	('DELETE FROM part'),
	('DELETE FROM t_view'),
	('INSERT INTO ruled VALUES (1)'),
	('DELETE FROM t USING u WHERE u.flag'),
	('DELETE FROM t USING u WHERE t.id = u.id'),
	('MERGE INTO t USING (SELECT id FROM t) s ON t.id = s.id WHEN MATCHED THEN DELETE'),
	('MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET x = 0'),
	('INSERT INTO t SELECT id, 0, '''' FROM t ON CONFLICT (id) DO UPDATE SET x = excluded.x'),
	('INSERT INTO t VALUES (1, 0, '''') ON CONFLICT (id) DO UPDATE SET x = excluded.x'),
	-- Statements that run another.
	('EXPLAIN DELETE FROM t'),
	('EXPLAIN ANALYZE DELETE FROM t'),
	('EXPLAIN (ANALYZE, COSTS OFF) UPDATE t SET x = 1'),
	('EXPLAIN ANALYZE DELETE FROM t WHERE id = 2'),
	('COPY (DELETE FROM t RETURNING *) TO ''/dev/null'''),
	('COPY (DELETE FROM t WHERE id = 3 RETURNING *) TO ''/dev/null'''),
	('COPY (SELECT * FROM t) TO ''/dev/null'''),
	('WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d'),
	('WITH d AS (UPDATE u SET flag = false RETURNING *) SELECT 1'),
	('WITH d AS (DELETE FROM u WHERE id = 1 RETURNING *) SELECT 1'),
	('CREATE TABLE t_copy AS SELECT * FROM t'),
	('CREATE TABLE t_copy AS WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d'),
	-- Harmless statements.
	('SELECT count(*) FROM t'),
	('INSERT INTO t VALUES (100, 100, ''new'')'),
	('CREATE INDEX ON t (x)'),
	-- Code the dry run does not follow.
	('DO $$BEGIN DELETE FROM t; END$$'),
	('DO $$BEGIN PERFORM 1; END$$'),
	('CALL clear_t()'),
	('SELECT empty_t()'),
	('SELECT harmless()'),
	('INSERT INTO trig VALUES (2)'),
	('DELETE FROM trig'),
	('EXPLAIN ANALYZE INSERT INTO trig VALUES (2)'),
	-- Settings, at every level.
	('ALTER SYSTEM SET guard.environment = ''development'''),
	('ALTER SYSTEM SET guard.environment = ''production'''),
	('ALTER DATABASE contrib_regression SET guard.environment = ''staging'''),
	('ALTER DATABASE contrib_regression SET guard.environment = ''production'''),
	('ALTER ROLE regress_agree_role SET guard.environment = ''development'''),
	('ALTER ROLE regress_agree_role IN DATABASE contrib_regression SET guard.environment = ''development'''),
	('ALTER ROLE ALL SET guard.environment = ''development'''),
	('ALTER ROLE regress_agree_role RESET ALL'),
	('ALTER SYSTEM SET guard.max_rows = 10');

SELECT c.n, c.stmt, d.verdict, r.verdict AS production,
	d.verdict = 'cannot tell' OR (d.verdict = r.verdict AND d.objects = r.objects) AS agrees,
	CASE WHEN d.verdict <> 'cannot tell' AND (d.verdict <> r.verdict OR d.objects <> r.objects)
		THEN format('dry run: %s %s; production: %s %s',
					d.verdict, d.objects, r.verdict, r.objects) END AS disagreement
FROM corpus c, agree_dry(c.stmt) d, agree_real(c.stmt) r
ORDER BY c.n;

-- What the dry run says of code it does not follow.
SELECT statement_no, command, verdict, detail FROM guard.dry_run($s$
	DO $$BEGIN DELETE FROM t; END$$;
	CALL clear_t();
	SELECT empty_t();
	INSERT INTO trig VALUES (2);
	CREATE EXTENSION IF NOT EXISTS guard;
$s$);

-- Nothing was changed by the corpus.
SELECT count(*), sum(x) FROM t;
SELECT count(*) FROM child;
SELECT count(*) FROM part;

RESET search_path;
BEGIN;
SET LOCAL guard.override = 'test: the agreement corpus is done';
DROP SCHEMA agree_t CASCADE;
COMMIT;
DROP ROLE regress_agree_role;
