--
-- guard.dry_run: what production would refuse in a migration script, and
-- why, statement by statement, without running any of it.
--
\set SHOW_CONTEXT never

CREATE SCHEMA dry_run_t;
SET search_path = dry_run_t, public;
CREATE TABLE player (id int PRIMARY KEY, name text, legacy text);
INSERT INTO player VALUES (1, 'ann', 'x'), (2, 'bob', 'y');
CREATE TABLE stage (id int);
INSERT INTO stage VALUES (1);
BEGIN;
SET LOCAL guard.override = 'test: stage is emptied by the nightly load';
SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
COMMIT;

SELECT statement_no, statement, command, verdict, objects, detail
FROM guard.dry_run($$
	CREATE TABLE player_new (id int PRIMARY KEY, name text);
	INSERT INTO player_new SELECT id, name FROM player;
	ALTER TABLE player DROP COLUMN legacy;
	UPDATE player SET name = upper(name);
	UPDATE player SET name = upper(name) WHERE id = 1;
	DELETE FROM player WHERE true;
	TRUNCATE stage;
	TRUNCATE stage, player;
	DROP TABLE player;
	DROP TABLE IF EXISTS no_such_table;
	DELETE FROM player_new;
	DROP SCHEMA dry_run_t CASCADE;
	ALTER DATABASE contrib_regression SET guard.environment = 'development';
	CREATE INDEX ON player (name);
	SELECT 1/0;
$$);

-- Nothing ran.
SELECT count(*), count(legacy) FROM player;
SELECT to_regclass('dry_run_t.player_new') AS player_new;
SELECT count(*) FROM pg_locks WHERE relation = 'dry_run_t.player'::regclass AND pid = pg_backend_pid();

-- A script that does not parse is an error for the whole call.
SELECT * FROM guard.dry_run('DROP TABLE player; DROPP TABLE player;');
