--
-- Every destructive statement through every route a statement can take:
-- typed, a multi-statement string, a prepared statement, DO, PL/pgSQL
-- EXECUTE, a SQL function, a SECURITY DEFINER function, a procedure, a
-- trigger, a rule, an extension script.  Each is refused the same way,
-- and nothing is lost.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA routes_t;
SET search_path = routes_t, public;

CREATE SCHEMA victim_schema;
CREATE TABLE victim_schema.victim (id int PRIMARY KEY, v text);
INSERT INTO victim_schema.victim SELECT g, 'row ' || g FROM generate_series(1, 50) g;
ALTER SCHEMA victim_schema OWNER TO regress_owner;
ALTER TABLE victim_schema.victim OWNER TO regress_owner;
CREATE DATABASE regress_route_db;

-- The statements, and the routes each can take.
CREATE TABLE regress_stmt (kind text, stmt text);
INSERT INTO regress_stmt VALUES
	('utility', 'DROP TABLE victim_schema.victim'),
	('utility', 'TRUNCATE victim_schema.victim'),
	('utility', 'ALTER TABLE victim_schema.victim DROP COLUMN v'),
	('utility', 'DROP SCHEMA victim_schema CASCADE'),
	('utility', 'DROP DATABASE regress_route_db'),
	('dml', 'DELETE FROM victim_schema.victim'),
	('dml', 'UPDATE victim_schema.victim SET v = NULL');
CREATE TABLE regress_route (route text, dml_only boolean);
INSERT INTO regress_route VALUES
	('DO', false), ('EXECUTE', false), ('SQL function', false),
	('SECURITY DEFINER', false), ('procedure', false), ('trigger', false),
	('prepared', true), ('rule', true);

CREATE TABLE regress_route_log (id int);
GRANT INSERT ON regress_route_log TO regress_plain;
GRANT USAGE ON SCHEMA routes_t TO regress_plain;

-- Runs one statement through one route; returns what the caller saw.  What
-- a route creates to run the statement is dropped again when it succeeds,
-- and rolled back with the statement when it fails.
CREATE FUNCTION regress_via(route text, stmt text) RETURNS text
LANGUAGE plpgsql AS $f$
BEGIN
	CASE route
		WHEN 'DO' THEN
			EXECUTE format('DO %L', 'BEGIN ' || stmt || '; END');
		WHEN 'EXECUTE' THEN
			EXECUTE format('DO %L', format('BEGIN EXECUTE %L; END', stmt));
		WHEN 'SQL function' THEN
			EXECUTE format('CREATE OR REPLACE FUNCTION regress_route_sql() RETURNS void LANGUAGE sql AS %L', stmt);
			PERFORM regress_route_sql();
		WHEN 'SECURITY DEFINER' THEN
			-- Owned by the tables' owner, called by a role with no rights on them.
			EXECUTE format('CREATE OR REPLACE FUNCTION regress_route_definer() RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS %L',
						   'BEGIN ' || stmt || '; END');
			ALTER FUNCTION regress_route_definer() OWNER TO regress_owner;
			SET LOCAL ROLE regress_plain;
			PERFORM regress_route_definer();
			RESET ROLE;
		WHEN 'procedure' THEN
			EXECUTE format('CREATE OR REPLACE PROCEDURE regress_route_proc() LANGUAGE plpgsql AS %L',
						   'BEGIN ' || stmt || '; END');
			CALL regress_route_proc();
		WHEN 'trigger' THEN
			EXECUTE format('CREATE OR REPLACE FUNCTION regress_route_trg() RETURNS trigger LANGUAGE plpgsql AS %L',
						   'BEGIN ' || stmt || '; RETURN NEW; END');
			CREATE TRIGGER regress_route_trg AFTER INSERT ON regress_route_log
				FOR EACH ROW EXECUTE FUNCTION regress_route_trg();
			INSERT INTO regress_route_log VALUES (1);
			DROP TRIGGER regress_route_trg ON regress_route_log;
		WHEN 'prepared' THEN
			-- Prepared statements outlive a rolled-back subtransaction.
			DEALLOCATE ALL;
			EXECUTE 'PREPARE regress_route_prep AS ' || stmt;
			EXECUTE 'EXECUTE regress_route_prep';
		WHEN 'rule' THEN
			EXECUTE format('CREATE RULE regress_route_rule AS ON INSERT TO regress_route_log DO ALSO %s', stmt);
			INSERT INTO regress_route_log VALUES (1);
			DROP RULE regress_route_rule ON regress_route_log;
	END CASE;
	RETURN 'ran';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$f$;

SELECT r.route, s.stmt, regress_via(r.route, s.stmt) AS outcome
FROM regress_route r CROSS JOIN regress_stmt s
WHERE s.kind = 'dml' OR NOT r.dml_only
ORDER BY r.route, s.stmt;

-- A prepared statement refused on every execution, not just the first.
PREPARE wipe AS DELETE FROM victim_schema.victim;
EXECUTE wipe;
EXECUTE wipe;
EXECUTE wipe;
EXECUTE wipe;
EXECUTE wipe;
EXECUTE wipe;
EXECUTE wipe;
DEALLOCATE wipe;

-- A multi-statement string: the statements before the refused one ran in
-- the same implicit transaction and roll back with it.
SELECT 1 AS before \; DROP TABLE victim_schema.victim \; SELECT 2 AS after;
SELECT 1 AS before \; TRUNCATE victim_schema.victim \; SELECT 2 AS after;
SELECT 1 AS before \; DELETE FROM victim_schema.victim \; SELECT 2 AS after;
SELECT 1 AS before \; DROP DATABASE regress_route_db;

-- An extension's scripts: install and update.
CREATE TABLE public.regress_ext_victim (id int);
INSERT INTO public.regress_ext_victim VALUES (1);
CREATE EXTENSION guard_regress_ext VERSION '2.0';
CREATE EXTENSION guard_regress_ext;
ALTER EXTENSION guard_regress_ext UPDATE TO '1.1';
ALTER EXTENSION guard_regress_ext UPDATE TO '1.2';
ALTER EXTENSION guard_regress_ext UPDATE TO '1.3';
ALTER EXTENSION guard_regress_ext UPDATE TO '1.4';
-- Dropping the extension drops its table.
DROP EXTENSION guard_regress_ext;
SELECT extversion FROM pg_extension WHERE extname = 'guard_regress_ext';

-- What the audit table recorded for the SECURITY DEFINER route: the
-- session's role, and the role the statement ran as.
SELECT DISTINCT login_role, effective_role, command, statement
FROM guard.audit
WHERE effective_role = 'regress_owner' AND statement LIKE 'DROP TABLE victim%'
ORDER BY 1, 2, 3;

-- Nothing was lost.
SELECT count(*), sum(id), count(v) FROM victim_schema.victim;
SELECT count(*) FROM public.regress_ext_victim;
SELECT count(*) FROM regress_ext_log;
SELECT datname FROM pg_database WHERE datname = 'regress_route_db';
