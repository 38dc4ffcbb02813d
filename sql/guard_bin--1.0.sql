/* guard_bin--1.0.sql: the recycle bin in a database other than the audit
 * database.  guard keeps what an override lets through in every database;
 * extension guard, in the audit database, has these objects there, and
 * guard_bin has them in any other. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION guard_bin" to load this file. \quit

CREATE FUNCTION guard._bin_install_check() RETURNS void
	AS 'MODULE_PATHNAME', 'guard_bin_install_check' LANGUAGE C STRICT;
SELECT guard._bin_install_check();
DROP FUNCTION guard._bin_install_check();

-- As in guard--1.2--1.3.sql.
CREATE VIEW guard.recyclebin AS
SELECT n.nspname AS bin,
	   e->>'table' AS "table",
	   e->>'command' AS command,
	   (e->>'at')::timestamptz AS kept_at,
	   e->>'role' AS kept_by,
	   e->>'reason' AS reason,
	   (e->>'audit_id')::bigint AS audit_id,
	   (SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'm')) AS size,
	   (e->>'expires')::timestamptz AS expires
FROM pg_catalog.pg_namespace n,
	 LATERAL (SELECT pg_catalog.obj_description(n.oid, 'pg_namespace')::jsonb) AS d(e)
WHERE n.nspname LIKE 'guard\_bin\_%';

COMMENT ON VIEW guard.recyclebin IS
	'tables kept by the recycle bin of this database: what, from which statement, when, who, the override''s reason, size and expiry';

CREATE FUNCTION guard.undrop(name text, new_name name DEFAULT NULL) RETURNS regclass
	AS 'MODULE_PATHNAME', 'guard_undrop' LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION guard.undrop(text, name) FROM PUBLIC;

COMMENT ON FUNCTION guard.undrop(text, name) IS
	'puts a table kept by the recycle bin back where it was, under its name or new_name';

CREATE FUNCTION guard.purge(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'guard_purge' LANGUAGE C STRICT VOLATILE;

REVOKE ALL ON FUNCTION guard.purge(text) FROM PUBLIC;

COMMENT ON FUNCTION guard.purge(text) IS
	'destroys a table kept by the recycle bin for good; superusers only, with the override in production';
