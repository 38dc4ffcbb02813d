--
-- guard.override: only inside a transaction block, honoured for that
-- transaction only, never blank, by a superuser or a role granted
-- SET ON PARAMETER guard.override.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA override_t;
SET search_path = override_t, public;

CREATE TABLE ov (id int PRIMARY KEY);
INSERT INTO ov SELECT generate_series(1, 10);

-- Outside a transaction block: refused.
SET LOCAL guard.override = 'JIRA-1';
SET guard.override = 'JIRA-1';
SELECT set_config('guard.override', 'JIRA-1', true);
\echo :LAST_ERROR_SQLSTATE

-- Inside one, but without LOCAL, it would outlive the transaction.
BEGIN;
SET guard.override = 'JIRA-1';
ROLLBACK;

-- Blank reasons are refused.
BEGIN;
SET LOCAL guard.override = '';
ROLLBACK;
BEGIN;
SET LOCAL guard.override = '   ';
ROLLBACK;

-- Never from ALTER ROLE, ALTER DATABASE, ALTER SYSTEM or a function.
ALTER ROLE regress_plain SET guard.override = 'JIRA-1';
ALTER DATABASE contrib_regression SET guard.override = 'JIRA-1';
ALTER SYSTEM SET guard.override = 'JIRA-1';
CREATE FUNCTION regress_ov() RETURNS int LANGUAGE sql
	SET guard.override = 'JIRA-1' AS 'SELECT 1';

-- The override lets the transaction through, and is shown while it lasts.
BEGIN;
SET LOCAL guard.override = 'JIRA-2: remove rows 1 to 3';
SHOW guard.override;
DELETE FROM ov WHERE id <= 3;
DELETE FROM ov;
ROLLBACK;
SHOW guard.override;
SELECT count(*) FROM ov;

-- set_config(..., true) is SET LOCAL.
BEGIN;
SELECT set_config('guard.override', 'JIRA-3', true);
DELETE FROM ov;
ROLLBACK;

-- set_config(..., false) inside a block binds to that transaction too:
-- afterwards the value is neither honoured nor shown.
BEGIN;
SELECT set_config('guard.override', 'JIRA-4', false);
COMMIT;
SHOW guard.override;
DELETE FROM ov;
SELECT count(*) FROM ov;

-- An override set in a savepoint that rolls back is gone.
BEGIN;
SAVEPOINT s;
SET LOCAL guard.override = 'JIRA-5';
ROLLBACK TO SAVEPOINT s;
DELETE FROM ov;
ROLLBACK;

-- A prepared statement run under an override is refused again afterwards.
PREPARE regress_wipe AS DELETE FROM ov;
BEGIN;
SET LOCAL guard.override = 'JIRA-6';
EXECUTE regress_wipe;
ROLLBACK;
EXECUTE regress_wipe;
EXECUTE regress_wipe;
DEALLOCATE regress_wipe;
SELECT count(*) FROM ov;

-- A plain role cannot set it, even as the table's owner.
ALTER TABLE ov OWNER TO regress_owner;
SET ROLE regress_owner;
BEGIN;
SET LOCAL guard.override = 'JIRA-7';
ROLLBACK;
DELETE FROM ov;
RESET ROLE;

-- GRANT SET ON PARAMETER gives it that right.
GRANT SET ON PARAMETER guard.override TO regress_owner;
SET ROLE regress_owner;
BEGIN;
SET LOCAL guard.override = 'JIRA-8: owner empties ov';
DELETE FROM ov;
COMMIT;
RESET ROLE;
REVOKE SET ON PARAMETER guard.override FROM regress_owner;
SELECT count(*) FROM ov;

-- Every use is in the audit table with its reason.
SELECT login_role, effective_role, command, objects, verdict, reason
FROM guard.audit WHERE objects = '{public.ov}' ORDER BY id;

DROP TABLE ov;
BEGIN;
SET LOCAL guard.override = 'JIRA-9: drop ov';
DROP TABLE ov;
COMMIT;
