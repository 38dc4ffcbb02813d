--
-- Installing the extension: only in the database named by guard.database,
-- and the audit writer becomes ready once the table exists.
--
SHOW guard.environment;
SHOW guard.database;

-- guard protects every database, but its table lives in one.  (Since 18
-- an error in an extension script has a CONTEXT line; not ours to test.)
\set SHOW_CONTEXT never
CREATE DATABASE regress_guard_other;
\c regress_guard_other
SHOW guard.environment;
CREATE EXTENSION guard;
\c contrib_regression

CREATE EXTENSION guard;

-- The writer connects to this database, which pg_regress created after the
-- server started; wait until it has found the table.
DO $$
BEGIN
	FOR i IN 1..600 LOOP
		EXIT WHEN (SELECT writer_state FROM guard.status()) = 'ready';
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT environment, preloaded, writer_state, writer_pid IS NOT NULL AS writer_running,
	queue_size, rows_pending
FROM guard.status();

-- The writer is visible as a background process of its own.
SELECT backend_type, datname FROM pg_stat_activity WHERE backend_type = 'guard writer';

-- Roles used by the other tests.
CREATE ROLE regress_owner LOGIN;
CREATE ROLE regress_plain LOGIN;
