/* guard--1.0.sql: the audit table and the functions around it. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION guard" to load this file. \quit

-- The audit table lives in the database named by guard.database only.
CREATE FUNCTION guard._install_check() RETURNS void
	AS 'MODULE_PATHNAME', 'guard_install_check' LANGUAGE C STRICT;
SELECT guard._install_check();
DROP FUNCTION guard._install_check();

-- One row for every destructive statement guard refused, allowed by
-- override, or warned about, from every database of the cluster.
CREATE TABLE guard.audit (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL,
	database name NOT NULL,
	login_role name,
	effective_role name,
	client_addr inet,
	application_name text,
	backend_pid int NOT NULL,
	command text NOT NULL,
	objects text[] NOT NULL,
	object_count int NOT NULL,
	statement text,
	environment text NOT NULL,
	verdict text NOT NULL
		CHECK (verdict IN ('blocked', 'overridden', 'warned', 'allowed')),
	reason text,
	clipped boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE guard.audit IS
	'Every destructive statement guard refused, allowed by override, or warned about; append-only.';
COMMENT ON COLUMN guard.audit.login_role IS 'session user';
COMMENT ON COLUMN guard.audit.effective_role IS 'current user: after SET ROLE, inside SECURITY DEFINER';
COMMENT ON COLUMN guard.audit.objects IS 'qualified names of what would have been destroyed';
COMMENT ON COLUMN guard.audit.object_count IS 'how many objects, even when objects lists fewer';
COMMENT ON COLUMN guard.audit.statement IS 'the text of this one statement';
COMMENT ON COLUMN guard.audit.clipped IS 'some text was too long for the queue and was cut; the server log has it whole';

CREATE INDEX audit_at_idx ON guard.audit (at);

-- pg_dump keeps the rows.
SELECT pg_catalog.pg_extension_config_dump('guard.audit', '');
SELECT pg_catalog.pg_extension_config_dump('guard.audit_id_seq', '');

-- Append-only for everyone but superusers, whatever privileges say.
CREATE FUNCTION guard.audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'guard.audit is append-only'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only a superuser may change or delete audit rows; old rows are removed with guard.prune().';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON guard.audit
	FOR EACH ROW EXECUTE FUNCTION guard.audit_append_only();
CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON guard.audit
	FOR EACH STATEMENT EXECUTE FUNCTION guard.audit_append_only();

-- Auditors read the table; the role is cluster-wide and outlives the
-- extension, so it is created only if missing.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'guard_auditor') THEN
		CREATE ROLE guard_auditor NOLOGIN;
	END IF;
END
$$;

REVOKE ALL ON guard.audit FROM PUBLIC;
REVOKE ALL ON SEQUENCE guard.audit_id_seq FROM PUBLIC;
GRANT USAGE ON SCHEMA guard TO guard_auditor;
GRANT SELECT ON guard.audit TO guard_auditor;

CREATE FUNCTION guard.status(
	OUT environment text,
	OUT preloaded boolean,
	OUT writer_state text,
	OUT writer_pid int,
	OUT queue_size int,
	OUT rows_pending int,
	OUT rows_queued bigint,
	OUT rows_written bigint,
	OUT rows_logged bigint,
	OUT rows_failed bigint)
	AS 'MODULE_PATHNAME', 'guard_status' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION guard.status() IS
	'guard''s environment, its audit writer, and its queue since the server started';

-- DROP DATABASE cannot run in a transaction block, out of reach of SET
-- LOCAL guard.override: this permits one, in this session, for 5 minutes.
CREATE FUNCTION guard.permit_drop_database(database name, reason text) RETURNS void
	AS 'MODULE_PATHNAME', 'guard_permit_drop_database_sql' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION guard.permit_drop_database(name, text) IS
	'permits one DROP DATABASE of that database in this session for 5 minutes, with a reason for the audit';

-- Superusers remove old rows with this, and only with this.
CREATE FUNCTION guard.prune(older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	removed bigint;
BEGIN
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied for function guard.prune'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only a superuser may remove audit rows.';
	END IF;
	IF older_than IS NULL OR older_than < interval '0' THEN
		RAISE EXCEPTION 'guard.prune needs a positive interval'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	DELETE FROM guard.audit WHERE at < pg_catalog.now() - older_than;
	GET DIAGNOSTICS removed = ROW_COUNT;
	RETURN removed;
END
$$;

REVOKE ALL ON FUNCTION guard.prune(interval) FROM PUBLIC;

COMMENT ON FUNCTION guard.prune(interval) IS
	'removes audit rows older than the interval; superusers only';
