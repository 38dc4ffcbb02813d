/* guard--1.1--1.2.sql: a permit for ALTER SYSTEM; guard.prune records itself. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION guard UPDATE TO '1.2'" to load this file. \quit

-- ALTER SYSTEM cannot run in a transaction block, where the override is
-- set: a permit allows one that weakens one setting.
CREATE FUNCTION guard.permit_alter_system(setting text, reason text) RETURNS void
	AS 'MODULE_PATHNAME', 'guard_permit_alter_system_sql' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION guard.permit_alter_system(text, text) IS
	'permits one ALTER SYSTEM that weakens that setting in this session for 5 minutes, with a reason for the audit';

-- guard.prune refuses intervals that are not positive, may remove any
-- number of rows whatever guard.max_rows says, and records itself.
DROP FUNCTION guard.prune(interval);
CREATE FUNCTION guard.prune(older_than interval) RETURNS bigint
	AS 'MODULE_PATHNAME', 'guard_prune' LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION guard.prune(interval) FROM PUBLIC;

COMMENT ON FUNCTION guard.prune(interval) IS
	'removes audit rows older than the interval, and records that it did; superusers only';
