--
-- guard.environment can be set in the server configuration, ALTER SYSTEM,
-- ALTER DATABASE and ALTER ROLE only; never from a session, superusers
-- included.  The guard. prefix is reserved.
--
\set SHOW_CONTEXT never

SHOW guard.environment;

-- From a session, every way is refused.
SET guard.environment = 'development';
\echo :LAST_ERROR_SQLSTATE
SET LOCAL guard.environment = 'development';
BEGIN;
SET LOCAL guard.environment = 'development';
ROLLBACK;
SET SESSION guard.environment TO 'staging';
SELECT set_config('guard.environment', 'development', false);
SELECT set_config('guard.environment', 'development', true);
-- A function's SET clause is refused when the function is defined.
CREATE FUNCTION regress_lower() RETURNS text LANGUAGE sql
	SET guard.environment = 'development' AS $$ SELECT current_setting('guard.environment') $$;
CREATE FUNCTION regress_lower() RETURNS text LANGUAGE sql
	AS $$ SELECT current_setting('guard.environment') $$;
ALTER FUNCTION regress_lower() SET guard.environment = 'development';
DROP FUNCTION regress_lower();
-- RESET and DEFAULT only return to what the server set.
RESET guard.environment;
SET guard.environment TO DEFAULT;
RESET ALL;
SHOW guard.environment;

-- A non-superuser gets the same answer, and cannot use ALTER ROLE either.
SET ROLE regress_plain;
SET guard.environment = 'development';
ALTER ROLE regress_plain SET guard.environment = 'development';
RESET ROLE;

-- ALTER DATABASE and ALTER ROLE (by a superuser) validate the value.
ALTER ROLE regress_plain SET guard.environment = 'nonsense';
ALTER DATABASE contrib_regression SET guard.environment = 'nonsense';
ALTER SYSTEM SET guard.environment = 'nonsense';

-- Names under the guard. prefix that guard does not define are refused.
SET guard.enviroment = 'development';
SELECT set_config('guard.anything', 'x', false);
SHOW guard.nothing;

-- Settings that only the server configuration may change.
SET guard.database = 'postgres';
SET guard.audit_timeout = 10;
SET guard.audit_queue_size = 16;
SET guard.audit_development = on;

-- What a DBA sees.
SELECT name, setting, context, vartype FROM pg_settings
WHERE name LIKE 'guard.%' ORDER BY name;

-- Every database of the cluster reports the same environment.
\c regress_guard_other
SHOW guard.environment;
\c contrib_regression
