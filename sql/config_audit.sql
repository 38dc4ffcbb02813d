--
-- Changes to guard's own settings leave a trace: ALTER SYSTEM, ALTER
-- DATABASE and ALTER ROLE ... SET or RESET of guard.* are recorded with the
-- old and new value.  In production, lowering guard.environment (or raising
-- or removing guard.max_rows) through ALTER DATABASE or ALTER ROLE needs
-- the override; through ALTER SYSTEM, which cannot run in a transaction
-- block, a permit (guard.permit_alter_system).  A change is judged by what it does at its own
-- level: removing a stored "production" where the server itself is
-- production lowers nothing.
--
\set SHOW_CONTEXT never

CREATE ROLE regress_migrator LOGIN;
CREATE DATABASE regress_config_db;

-- Raising or restating protection is recorded, not refused.
ALTER ROLE regress_migrator SET guard.environment = 'production';
ALTER DATABASE regress_config_db SET guard.environment = 'production';
ALTER ROLE regress_migrator IN DATABASE regress_config_db SET guard.max_rows = 100;

-- Lowering it is refused in production without the override.
ALTER ROLE regress_migrator SET guard.environment = 'staging';
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE regress_config_db SET guard.environment = 'development';
ALTER ROLE regress_migrator IN DATABASE regress_config_db SET guard.max_rows = 0;
ALTER ROLE regress_migrator IN DATABASE regress_config_db RESET guard.max_rows;
ALTER ROLE regress_migrator IN DATABASE regress_config_db RESET ALL;
-- The server is production: these lower nothing, and are recorded.
ALTER DATABASE regress_config_db RESET guard.environment;
ALTER ROLE regress_migrator RESET ALL;
ALTER SYSTEM SET guard.environment = 'development';
ALTER SYSTEM RESET guard.environment;
SELECT setdatabase <> 0 AS per_database, setrole <> 0 AS per_role, setconfig
FROM pg_db_role_setting
WHERE setrole = 'regress_migrator'::regrole OR setdatabase =
	(SELECT oid FROM pg_database WHERE datname = 'regress_config_db')
ORDER BY 1, 2;

-- Through every route, lowering it is refused.
SET search_path = routes_t, public;
SELECT r.route, regress_via(r.route, s.stmt) AS outcome
FROM regress_route r
	CROSS JOIN (VALUES ('ALTER ROLE regress_migrator SET guard.environment = ''development''')) s (stmt)
WHERE NOT r.dml_only AND r.route <> 'SECURITY DEFINER'
ORDER BY r.route;
RESET search_path;

-- With the override it goes through, with its reason.
BEGIN;
SET LOCAL guard.override = 'MIG-1: the migrator gets warnings, not refusals';
ALTER ROLE regress_migrator SET guard.environment = 'staging';
COMMIT;
\c - regress_migrator
SHOW guard.environment;
\c - postgres

-- ALTER SYSTEM of other guard settings is recorded; nothing changes until a
-- reload.
ALTER SYSTEM SET guard.audit_timeout = 3000;
ALTER SYSTEM RESET guard.audit_timeout;

-- Raising guard.max_rows is tightening; removing it again weakens, and
-- needs a permit for that setting, used up by one ALTER SYSTEM.
ALTER SYSTEM SET guard.max_rows = 5;
ALTER SYSTEM RESET guard.max_rows;
SELECT guard.permit_alter_system('guard.audit_timeout', 'OPS-3');
SELECT guard.permit_alter_system('guard.max_rows', '  ');
SELECT guard.permit_alter_system('guard.environment', 'OPS-4: not this one');
ALTER SYSTEM RESET guard.max_rows;
SELECT guard.permit_alter_system('guard.max_rows', 'OPS-5: the limit was for the migration only');
ALTER SYSTEM RESET guard.max_rows;
ALTER SYSTEM SET guard.max_rows = 5;
ALTER SYSTEM RESET guard.max_rows;
-- A permit is for ALTER SYSTEM only: elsewhere the override is the way.
SELECT guard.permit_alter_system('guard.environment', 'OPS-6');
ALTER DATABASE regress_config_db SET guard.environment = 'development';
SELECT guard.permit_alter_system('guard.max_rows', 'OPS-7: the limit was for the migration only');
ALTER SYSTEM RESET guard.max_rows;

SELECT command, objects, verdict, reason, old_value, new_value, statement
FROM guard.audit
WHERE objects && '{guard.environment,guard.max_rows,guard.audit_timeout}'
ORDER BY id;

BEGIN;
SET LOCAL guard.override = 'MIG-2: clean up';
ALTER ROLE regress_migrator RESET ALL;
ALTER DATABASE regress_config_db RESET ALL;
COMMIT;
