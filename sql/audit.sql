--
-- The audit table: a refused statement's row survives its transaction's
-- rollback, with every column right; the table is append-only, readable by
-- auditors, pruned only by superusers, and protected like any other table.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA audit_t;
SET search_path = audit_t, public;

CREATE TABLE ledger (id int PRIMARY KEY, amount numeric);
INSERT INTO ledger SELECT g, g FROM generate_series(1, 20) g;
GRANT USAGE ON SCHEMA audit_t TO regress_owner, regress_plain;
GRANT ALL ON ledger TO regress_plain;
ALTER TABLE ledger OWNER TO regress_owner;

-- A refusal in the middle of a transaction that is then rolled back.
SET application_name = 'regress audit app';
BEGIN;
INSERT INTO ledger VALUES (21, 21);
SET LOCAL ROLE regress_owner;
SELECT 1 AS before \; DROP TABLE ledger \; SELECT 2 AS after;
ROLLBACK;
RESET application_name;

SELECT database, login_role, effective_role, client_addr, application_name,
	   backend_pid = pg_backend_pid() AS this_backend,
	   at > now() - interval '1 minute' AS recent,
	   command, objects, object_count, statement, environment, verdict, reason, clipped
FROM guard.audit ORDER BY id DESC LIMIT 1;
SELECT count(*) FROM ledger;

-- Ids increase.
DELETE FROM ledger;
UPDATE ledger SET amount = 0;
SELECT bool_and(id > prev) AS increasing
FROM (SELECT id, lag(id) OVER (ORDER BY at, id) AS prev FROM guard.audit) s
WHERE prev IS NOT NULL;

-- A statement too long for the queue is clipped in the table, whole in the log.
SELECT 'DELETE FROM ledger /* ' || repeat('x', 10000) || ' */' AS long_stmt \gset
:long_stmt;
SELECT clipped, length(statement) < 10000 AS shorter, left(statement, 22) AS starts
FROM guard.audit ORDER BY id DESC LIMIT 1;

-- Append-only: a plain role has no rights; granted rights are not enough.
SET ROLE regress_plain;
SELECT count(*) FROM guard.audit;
UPDATE guard.audit SET reason = 'forged';
DELETE FROM guard.audit WHERE id = 1;
RESET ROLE;
GRANT USAGE ON SCHEMA guard TO regress_plain;
GRANT SELECT, UPDATE, DELETE, TRUNCATE ON guard.audit TO regress_plain;
SET ROLE regress_plain;
UPDATE guard.audit SET reason = 'forged' WHERE id = 1;
DELETE FROM guard.audit WHERE id = 1;
TRUNCATE guard.audit;
SELECT guard.prune('1 day');
RESET ROLE;
REVOKE ALL ON guard.audit FROM regress_plain;
REVOKE USAGE ON SCHEMA guard FROM regress_plain;

-- A role renamed since its last row is named as it is now.
CREATE TABLE rename_probe AS SELECT 1 AS id;
ALTER TABLE rename_probe OWNER TO regress_plain;
SET ROLE regress_plain;
DELETE FROM rename_probe /* before the rename */;
RESET ROLE;
ALTER ROLE regress_plain RENAME TO regress_renamed;
SET ROLE regress_renamed;
DELETE FROM rename_probe /* after the rename */;
RESET ROLE;
ALTER ROLE regress_renamed RENAME TO regress_plain;
SELECT effective_role, regexp_replace(statement, '.*/\* (.*) \*/', '\1') AS statement
FROM guard.audit WHERE statement LIKE '%the rename%' ORDER BY id;
BEGIN;
SET LOCAL guard.override = 'test: empty the probe';
DELETE FROM rename_probe;
COMMIT;
DROP TABLE rename_probe;

-- Auditors read it.
GRANT guard_auditor TO regress_plain;
SET ROLE regress_plain;
SELECT count(*) > 0 AS can_read FROM guard.audit;
RESET ROLE;
REVOKE guard_auditor FROM regress_plain;

-- Superusers prune old rows with guard.prune, and only that way.
SELECT guard.prune('100 years');
SELECT guard.prune(NULL);
SELECT guard.prune('-1 day');
SELECT guard.prune('0 seconds');
-- It records itself: who, the cut-off, how many rows.
SELECT command, objects, verdict, login_role = current_user AS by_me,
	reason ~ '^removed 0 rows recorded before \d{4}-' AS says_cutoff
FROM guard.audit WHERE command = 'guard.prune';
-- guard.max_rows does not limit it.
ALTER ROLE CURRENT_USER IN DATABASE contrib_regression SET guard.max_rows = 1;
\c
SET search_path = audit_t, public;
SHOW guard.max_rows;
BEGIN;
SELECT guard.prune('1 microsecond') > 1 AS pruned_more_than_the_limit;
ROLLBACK;
BEGIN;
SET LOCAL guard.override = 'test: the row limit of this test is done';
ALTER ROLE CURRENT_USER IN DATABASE contrib_regression RESET guard.max_rows;
COMMIT;
\c
SET search_path = audit_t, public;

-- In production even a superuser needs the override to change or delete
-- audit rows, whatever the condition; with it, the change is recorded.
UPDATE guard.audit SET reason = 'forged' WHERE id = 1;
DELETE FROM guard.audit WHERE id > 0;
BEGIN;
SET LOCAL guard.override = 'AUD-1: remove a row with a secret in its statement';
DELETE FROM guard.audit WHERE id = (SELECT min(id) FROM guard.audit);
ROLLBACK;
SELECT command, verdict, reason FROM guard.audit
WHERE command IN ('UPDATE', 'DELETE') AND objects = '{guard.audit}' AND login_role = current_user
ORDER BY id;

-- In production, guard's own table, schema and extension are protected.
SELECT rows_logged AS logged_before FROM guard.status() \gset
DELETE FROM guard.audit;
TRUNCATE guard.audit;
DROP TABLE guard.audit;
DROP SCHEMA guard CASCADE;
DROP EXTENSION guard;
ALTER TABLE guard.audit DROP COLUMN reason;
SELECT command, objects, verdict FROM guard.audit
WHERE objects && '{guard.audit,guard.audit.reason}' ORDER BY id;
SELECT rows_logged - :logged_before AS logged FROM guard.status();

-- A session that holds a lock on guard.audit cannot wait for the writer it
-- blocks: its refusal is logged at once, and the writer commits the row
-- when the session's transaction has ended.
BEGIN;
LOCK TABLE guard.audit IN SHARE MODE;
DELETE FROM ledger /* while holding a lock on guard.audit */;
ROLLBACK;
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN EXISTS (SELECT FROM guard.audit
						  WHERE statement LIKE '%while holding a lock on guard.audit%');
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT command, objects, verdict FROM guard.audit
WHERE statement LIKE '%while holding a lock on guard.audit%';
SELECT rows_logged - :logged_before AS logged FROM guard.status();

-- The status function.
SELECT environment, preloaded, writer_state, rows_pending,
	   rows_written > 0 AS wrote, rows_queued >= rows_written AS consistent
FROM guard.status();
