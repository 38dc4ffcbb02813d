-- The usual hand-made refusal that test/benchmark compares guard with, on a
-- server without guard: an event trigger on ddl_command_start that writes
-- an audit row through a dblink loopback connection (a transaction of its
-- own, so the row survives the rollback of the refused statement), then
-- raises.
--
--   psql -v connstr='host=... port=... dbname=...' -v variant=per_refusal|per_session -f event_trigger.sql
--
-- per_refusal: dblink_exec(connstr, ...) opens a connection for each
--              refusal and closes it (the way it is usually written).
-- per_session: a named dblink connection opened at the first refusal of a
--              session and kept (the best a hand-made trigger can do).
CREATE EXTENSION IF NOT EXISTS dblink;

CREATE TABLE IF NOT EXISTS refusal_audit (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	login_role name NOT NULL,
	backend_pid int NOT NULL,
	command text NOT NULL,
	statement text
);

-- The connection string, as a constant (psql does not expand variables
-- inside a function's body).
SELECT format('CREATE OR REPLACE FUNCTION refusal_audit_connstr() RETURNS text
	LANGUAGE sql IMMUTABLE AS %L', 'SELECT ' || quote_literal(:'connstr')) \gexec

CREATE OR REPLACE FUNCTION refusal_audit_insert(tag text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('INSERT INTO refusal_audit (login_role, backend_pid, command, statement) VALUES (%L, %s, %L, %L)',
				  session_user, pg_backend_pid(), tag, current_query())
$$;

CREATE OR REPLACE FUNCTION refuse_per_refusal() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
BEGIN
	PERFORM dblink_exec(refusal_audit_connstr(), refusal_audit_insert(tg_tag));
	RAISE EXCEPTION 'refused: % in production', tg_tag USING ERRCODE = '42501';
END
$fn$;

CREATE OR REPLACE FUNCTION refuse_per_session() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
BEGIN
	IF dblink_get_connections() IS NULL OR
	   NOT 'refusal_audit' = ANY (dblink_get_connections()) THEN
		PERFORM dblink_connect('refusal_audit', refusal_audit_connstr());
	END IF;
	PERFORM dblink_exec('refusal_audit', refusal_audit_insert(tg_tag));
	RAISE EXCEPTION 'refused: % in production', tg_tag USING ERRCODE = '42501';
END
$fn$;

DROP EVENT TRIGGER IF EXISTS refuse_drop;
SELECT format('CREATE EVENT TRIGGER refuse_drop ON ddl_command_start
	WHEN TAG IN (''DROP TABLE'') EXECUTE FUNCTION refuse_%s()', :'variant') \gexec
