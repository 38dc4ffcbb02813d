/* guard--1.0--1.1.sql: changes to guard's settings and labels, dry runs. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION guard UPDATE TO '1.1'" to load this file. \quit

-- Changes to guard's own settings and exemptions are recorded with the
-- value before and after.
ALTER TABLE guard.audit
	ADD COLUMN old_value text,
	ADD COLUMN new_value text;

COMMENT ON COLUMN guard.audit.old_value IS
	'for a change to a guard setting or label: the value before';
COMMENT ON COLUMN guard.audit.new_value IS
	'for a change to a guard setting or label: the value after';

-- The exemptions of this database: tables and schemas labelled for guard.
-- Labels live in each database; pg_seclabels shows them in any database.
CREATE VIEW guard.exemptions AS
	SELECT 'table'::text AS object_type,
		   pg_catalog.format('%I.%I', n.nspname, c.relname) AS object,
		   l.label AS operations
	FROM pg_catalog.pg_seclabel l
		JOIN pg_catalog.pg_class c
			ON l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND l.objoid = c.oid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE l.provider = 'guard' AND l.objsubid = 0
	UNION ALL
	SELECT 'schema', pg_catalog.format('%I', n.nspname), l.label
	FROM pg_catalog.pg_seclabel l
		JOIN pg_catalog.pg_namespace n
			ON l.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND l.objoid = n.oid
	WHERE l.provider = 'guard';

COMMENT ON VIEW guard.exemptions IS
	'tables and schemas of this database exempt from guard for some operations, by SECURITY LABEL FOR guard';

GRANT SELECT ON guard.exemptions TO guard_auditor;

-- What production would refuse in a script, without running it.
CREATE FUNCTION guard.dry_run(script text,
	OUT statement_no int,
	OUT statement text,
	OUT command text,
	OUT verdict text,
	OUT objects text[],
	OUT detail text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'guard_dry_run' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION guard.dry_run(text) IS
	'statement by statement, what production would refuse in a SQL script, without running any of it';
