--
-- The recycle bin: in production, a table that an overridden DROP TABLE
-- lets through is kept, and guard.undrop puts it back as it was.
--
\set SHOW_CONTEXT never

CREATE SCHEMA recyclebin_t;
SET search_path = recyclebin_t, public;
CREATE ROLE regress_reader;
SHOW guard.recycle_retention;

CREATE TABLE team (id int PRIMARY KEY, name text);
INSERT INTO team VALUES (1, 'red'), (2, 'blue');
CREATE TABLE score (
	id serial PRIMARY KEY,
	team_id int REFERENCES team,
	points int NOT NULL DEFAULT 7 CHECK (points >= 0),
	note text
);
INSERT INTO score (team_id, points, note)
SELECT 1 + g % 2, g, repeat(md5(g::text), 100) FROM generate_series(1, 500) g;
CREATE INDEX score_points ON score (points);
COMMENT ON TABLE score IS 'points per team';
COMMENT ON COLUMN score.note IS 'free text';
GRANT SELECT ON score TO regress_reader;
ALTER TABLE score ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_team ON score USING (team_id = 1);
CREATE FUNCTION no_negative() RETURNS trigger LANGUAGE plpgsql AS
	$$BEGIN NEW.points := greatest(NEW.points, 0); RETURN NEW; END$$;
CREATE TRIGGER score_no_negative BEFORE INSERT ON score
	FOR EACH ROW EXECUTE FUNCTION no_negative();

-- Without the override: refused, nothing kept.
DROP TABLE score;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';

-- With it: the table is gone from its schema, and kept.
BEGIN;
SET LOCAL guard.override = 'OPS-7: drop the old scores';
DROP TABLE score;
COMMIT;
SELECT count(*) FROM score;
SELECT "table", command, kept_by, reason, size > 8192 * 4 AS holds_rows,
	   expires - kept_at AS kept_for,
	   audit_id = (SELECT max(id) FROM guard.audit WHERE command = 'DROP TABLE') AS points_at_drop
FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';
SELECT command, verdict, objects,
	   regexp_replace(reason, 'guard_bin_\d+ until .*, for the statement recorded as id \d+$',
					  'guard_bin_N until (7 days on), for the statement recorded as id N') AS reason
FROM guard.audit WHERE command IN ('DROP TABLE', 'guard.keep') ORDER BY id DESC LIMIT 2;
-- The name is free again.
CREATE TABLE score (id int);
-- So it cannot come back under it.
SELECT guard.undrop('recyclebin_t.score');
SELECT guard.undrop('recyclebin_t.nothing');
DROP TABLE score;

-- Back, as it was.
SELECT guard.undrop('recyclebin_t.score');
SELECT count(*), sum(points), sum(length(note)) FROM score;
SELECT pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'score'::regclass AND contype IN ('p', 'c', 'f') ORDER BY conname;
SELECT indexname FROM pg_indexes
WHERE schemaname = 'recyclebin_t' AND tablename = 'score' ORDER BY 1;
SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'score'::regclass ORDER BY adnum;
SELECT nextval('score_id_seq');
SELECT obj_description('score'::regclass, 'pg_class'), col_description('score'::regclass, 4);
SELECT has_table_privilege('regress_reader', 'score', 'SELECT');
SELECT polname, pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polrelid = 'score'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'score'::regclass AND NOT tgisinternal;
INSERT INTO score (team_id, points) VALUES (1, -5) RETURNING points;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';
SELECT command, verdict, objects, reason ~ '^put back from guard_bin_\d+, where it was kept since ' AS reason_ok
FROM guard.audit ORDER BY id DESC LIMIT 1;

-- Under another name, when the name is taken.
BEGIN;
SET LOCAL guard.override = 'OPS-8: drop it again';
DROP TABLE score;
COMMIT;
CREATE TABLE score (id int);
SELECT guard.undrop('recyclebin_t.score', 'score_restored');
SELECT count(*) FROM score_restored;
DROP TABLE score;

-- A partitioned table comes back with its partitions.
CREATE TABLE event (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO event SELECT g, date '2025-06-01' + g FROM generate_series(1, 400) g;
BEGIN;
SET LOCAL guard.override = 'OPS-9: events';
DROP TABLE event;
COMMIT;
SELECT count(*) FROM pg_class WHERE relname LIKE 'event%' AND relnamespace = 'recyclebin_t'::regnamespace;
SELECT guard.undrop('recyclebin_t.event');
SELECT tableoid::regclass, count(*) FROM event GROUP BY 1 ORDER BY 1;

-- What depends on a table: without CASCADE PostgreSQL refuses the drop.
-- With it, the views on the table go into the bin with it, the foreign
-- keys of other tables that reference it are dropped, and undo brings
-- them all back.
CREATE VIEW red_team AS SELECT * FROM team WHERE id = 1;
CREATE VIEW red_names AS SELECT name FROM red_team;
GRANT SELECT ON red_team TO regress_reader;
BEGIN;
SET LOCAL guard.override = 'OPS-10: team';
DROP TABLE team;
ROLLBACK;
BEGIN;
SET LOCAL guard.override = 'OPS-10: team';
DROP TABLE team CASCADE;
COMMIT;
SELECT to_regclass('team'), to_regclass('red_team'), to_regclass('red_names');
SELECT count(*) FROM pg_constraint WHERE conrelid = 'score_restored'::regclass AND contype = 'f';
SELECT "table", command FROM guard.recyclebin WHERE "table" = 'recyclebin_t.team';
SELECT guard.undrop('recyclebin_t.team');
SELECT * FROM red_names;
SELECT has_table_privilege('regress_reader', 'red_team', 'SELECT');
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'score_restored'::regclass AND contype = 'f';
-- An inheritance child goes with its parent under CASCADE, and comes back
-- under it.
CREATE TABLE animal (id int, name text);
CREATE TABLE dog (bark text) INHERITS (animal);
INSERT INTO animal VALUES (1, 'generic');
INSERT INTO dog VALUES (2, 'rex', 'woof');
BEGIN;
SET LOCAL guard.override = 'OPS-25: animals';
DROP TABLE animal CASCADE;
COMMIT;
SELECT to_regclass('animal'), to_regclass('dog');
SELECT guard.undrop('recyclebin_t.animal');
SELECT tableoid::regclass, * FROM animal ORDER BY id;
-- Something else that depends on it (a function's body): the drop runs,
-- with a WARNING that it is not kept.
CREATE FUNCTION team_count() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC SELECT count(*) FROM team; END;
BEGIN;
SET LOCAL guard.override = 'OPS-10: team, really';
DROP TABLE score_restored, team CASCADE;
COMMIT;
SELECT to_regclass('team'), to_regclass('red_team'), to_regprocedure('team_count()');
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';

-- What PostgreSQL itself refuses to drop is left to it to refuse.
BEGIN;
SET LOCAL guard.override = 'OPS-16: never';
DROP TABLE pg_catalog.pg_class;
ROLLBACK;

-- A partition dropped alone is detached, kept, and attached again on undo.
BEGIN;
SET LOCAL guard.override = 'OPS-11: one year';
DROP TABLE event_2025;
COMMIT;
SELECT tableoid::regclass, count(*) FROM event GROUP BY 1 ORDER BY 1;
SELECT guard.undrop('recyclebin_t.event_2025');
SELECT tableoid::regclass, count(*) FROM event GROUP BY 1 ORDER BY 1;
SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'event_2025'::regclass;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';

-- Not kept: an empty table, a table exempt by its label (routine work).
CREATE TABLE empty_one (id int);
DROP TABLE empty_one;
CREATE TABLE daily (id int);
INSERT INTO daily VALUES (1);
BEGIN;
SET LOCAL guard.override = 'OPS-12: daily is dropped every night';
SECURITY LABEL FOR guard ON TABLE daily IS 'drop';
COMMIT;
DROP TABLE daily;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';

-- guard.purge destroys a kept table for good: with the override, recorded.
BEGIN;
SET LOCAL guard.override = 'OPS-13: events, really';
DROP TABLE event;
COMMIT;
SELECT guard.purge('recyclebin_t.event');
BEGIN;
SET LOCAL guard.override = 'OPS-13: purge the events';
SELECT guard.purge('recyclebin_t.event');
COMMIT;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%';
SELECT command, verdict, reason FROM guard.audit ORDER BY id DESC LIMIT 1;

-- An expired entry is purged when the next table is kept.
CREATE TABLE old_one (id int);
INSERT INTO old_one VALUES (1);
BEGIN;
SET LOCAL guard.override = 'OPS-14: old';
DROP TABLE old_one;
COMMIT;
DO $$
DECLARE
	bin text := (SELECT bin FROM guard.recyclebin WHERE "table" = 'recyclebin_t.old_one');
BEGIN
	EXECUTE format('COMMENT ON SCHEMA %I IS %L', bin,
				   jsonb_set(obj_description(bin::regnamespace, 'pg_namespace')::jsonb,
							 '{expires}', to_jsonb('2000-01-01 00:00:00+00'::text)));
END
$$;
CREATE TABLE newer (id int);
INSERT INTO newer VALUES (1);
BEGIN;
SET LOCAL guard.override = 'OPS-15: newer';
DROP TABLE newer;
COMMIT;
SELECT "table" FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%' ORDER BY 1;
SELECT command, verdict, objects, regexp_replace(reason, 'id \d+$', 'id N') AS reason,
	   substring(reason FROM 'id (\d+)$')::bigint =
	   (SELECT max(id) FROM guard.audit
		WHERE command = 'DROP TABLE' AND objects = '{recyclebin_t.old_one}') AS points_at_drop
FROM guard.audit WHERE command = 'guard.purge'
ORDER BY id DESC LIMIT 1;

-- guard.recycle_max_size caps the bin: past it, production refuses the
-- drop, and says why.
ALTER SYSTEM SET guard.recycle_max_size = '1MB';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW guard.recycle_max_size;
CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
-- (The sizes depend on the major: the bin's is masked.)
BEGIN;
SET LOCAL guard.override = 'OPS-17: big';
DO $$
DECLARE
	msg text;
	detail text;
	hint text;
BEGIN
	DROP TABLE big;
EXCEPTION WHEN insufficient_privilege THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RAISE NOTICE E'%\n%\n%', msg, regexp_replace(detail, 'would hold \d+ kB', 'would hold N kB'), hint;
END
$$;
ROLLBACK;
-- A TRUNCATE too.
BEGIN;
SET LOCAL guard.override = 'OPS-17: big';
DO $$
DECLARE
	msg text;
	detail text;
BEGIN
	TRUNCATE big;
EXCEPTION WHEN insufficient_privilege THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RAISE NOTICE E'%\n%', msg, regexp_replace(detail, 'would hold \d+ kB', 'would hold N kB');
END
$$;
ROLLBACK;
SELECT count(*) FROM big;
ALTER SYSTEM RESET guard.recycle_max_size;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW guard.recycle_max_size;

-- TRUNCATE: the rows it removes are kept without a copy (the table in the
-- bin is given the file the table had), and guard.undrop puts them back.
CREATE TABLE ledger (
	id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	gone int,
	amount int NOT NULL,
	memo text,
	doubled int GENERATED ALWAYS AS (amount * 2) STORED
);
ALTER TABLE ledger DROP COLUMN gone;
INSERT INTO ledger (amount, memo)
SELECT g, repeat(md5(g::text), 100) FROM generate_series(1, 300) g;
CREATE TABLE entry (id int PRIMARY KEY, ledger_id int NOT NULL REFERENCES ledger);
INSERT INTO entry SELECT g, g FROM generate_series(1, 300) g;
SELECT pg_relation_filenode('ledger') AS ledger_file \gset
TRUNCATE ledger CASCADE;
-- Rolled back, it keeps nothing.
BEGIN;
SET LOCAL guard.override = 'OPS-18: not yet';
TRUNCATE ledger CASCADE;
ROLLBACK;
SELECT count(*) FROM ledger;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%' AND command = 'TRUNCATE TABLE';
BEGIN;
SET LOCAL guard.override = 'OPS-18: the wrong ledger';
TRUNCATE ledger RESTART IDENTITY CASCADE;
COMMIT;
SELECT (SELECT count(*) FROM ledger) AS ledger, (SELECT count(*) FROM entry) AS entry;
SELECT "table", command, reason, size > 8192 * 4 AS holds_rows,
	   audit_id = (SELECT max(id) FROM guard.audit WHERE command = 'TRUNCATE TABLE') AS points_at_truncate
FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%' AND command = 'TRUNCATE TABLE';
SELECT bin AS ledger_bin FROM guard.recyclebin WHERE "table" = 'recyclebin_t.ledger' \gset
SELECT relname, pg_relation_filenode(oid) = :ledger_file AS ledger_file
FROM pg_class WHERE relnamespace = :'ledger_bin'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT count(*), sum(length(memo)) FROM :"ledger_bin".ledger;
-- Each has a TOAST table named for it (pg_upgrade matches them by name).
SELECT count(*) FILTER (WHERE t.relname = 'pg_toast_' || c.oid) AS named_for_it
FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
WHERE c.oid IN ('ledger'::regclass, (:'ledger_bin' || '.ledger')::regclass);
CREATE EXTENSION amcheck;
SELECT count(*) AS corrupt FROM verify_heapam(:'ledger_bin' || '.ledger');
DROP EXTENSION amcheck;
SELECT command, verdict, objects,
	   regexp_replace(reason, 'guard_bin_\d+ until .*, for the statement recorded as id \d+$',
					  'guard_bin_N until (7 days on), for the statement recorded as id N') AS reason
FROM guard.audit WHERE command IN ('TRUNCATE TABLE', 'guard.keep') ORDER BY id DESC LIMIT 2;
-- A row added since whose key a kept row has: nothing is put back.
INSERT INTO ledger (amount) VALUES (7);
SELECT guard.undrop('recyclebin_t.ledger');
SELECT (SELECT count(*) FROM ledger) AS ledger, (SELECT count(*) FROM entry) AS entry;
BEGIN;
SET LOCAL guard.override = 'OPS-18: make way';
DELETE FROM ledger;
COMMIT;
-- Rows added since without such a key stay beside the kept ones.
INSERT INTO ledger (id, amount) OVERRIDING SYSTEM VALUE VALUES (1000, 7);
SELECT guard.undrop('recyclebin_t.ledger');
SELECT count(*), sum(amount), sum(length(memo)), bool_and(doubled = amount * 2) FROM ledger;
SELECT count(*) FROM entry;
SELECT count(*) FROM ledger WHERE memo = repeat(md5(amount::text), 100);
-- The identity that RESTART IDENTITY reset goes on after the kept rows.
INSERT INTO ledger (amount) VALUES (301) RETURNING id;
SELECT count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.%' AND command = 'TRUNCATE TABLE';
SELECT command, verdict, objects, reason ~ '^600 rows put back from guard_bin_\d+, where they were kept since ' AS reason_ok
FROM guard.audit ORDER BY id DESC LIMIT 1;
-- Under a new name, the kept rows become a table of their own.
BEGIN;
SET LOCAL guard.override = 'OPS-19: entries';
TRUNCATE entry;
COMMIT;
SELECT guard.undrop('recyclebin_t.entry', 'entry_kept');
SELECT (SELECT count(*) FROM entry) AS entry, (SELECT count(*) FROM entry_kept) AS entry_kept;
-- A table that lost a column since cannot take the rows back.
BEGIN;
SET LOCAL guard.override = 'OPS-20: ledger again';
TRUNCATE ledger CASCADE;
ALTER TABLE ledger DROP COLUMN memo;
COMMIT;
SELECT guard.undrop('recyclebin_t.ledger');
BEGIN;
SET LOCAL guard.override = 'OPS-20: done with it';
SELECT guard.purge('recyclebin_t.ledger');
COMMIT;

-- DROP SCHEMA ... CASCADE: the schema is kept whole, renamed, and comes
-- back with everything in it; a view of another schema on its tables goes
-- with it, and a foreign key of another table is dropped and recreated.
CREATE SCHEMA storefront;
COMMENT ON SCHEMA storefront IS 'the storefront';
CREATE TYPE storefront.mood AS ENUM ('happy', 'sad');
CREATE TABLE storefront.customer (id int PRIMARY KEY, mood storefront.mood);
INSERT INTO storefront.customer VALUES (1, 'happy'), (2, 'sad');
CREATE FUNCTION storefront.is_happy(storefront.customer) RETURNS bool LANGUAGE sql
	AS $$ SELECT $1.mood = 'happy' $$;
CREATE VIEW happy_customer AS SELECT id FROM storefront.customer c WHERE storefront.is_happy(c);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES storefront.customer);
INSERT INTO orders VALUES (10, 1);
BEGIN;
SET LOCAL guard.override = 'OPS-22: the wrong schema';
DROP SCHEMA storefront CASCADE;
COMMIT;
SELECT to_regnamespace('storefront'), to_regclass('happy_customer');
SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f';
SELECT "table", command, reason, size > 0 AS holds_rows FROM guard.recyclebin WHERE "table" = 'storefront';
SELECT guard.undrop('storefront');
SELECT * FROM happy_customer;
SELECT obj_description('storefront'::regnamespace, 'pg_namespace');
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'orders'::regclass AND contype = 'f';
SELECT count(*) FROM guard.recyclebin WHERE "table" = 'storefront';
SELECT command, verdict, objects, reason ~ '^schema put back from guard_bin_\d+, where it was kept since ' AS reason_ok
FROM guard.audit ORDER BY id DESC LIMIT 1;
-- Recreated since (as a script that drops and recreates would): under a
-- new name, without the foreign key, which names the old one.
BEGIN;
SET LOCAL guard.override = 'OPS-23: the wrong schema again';
DROP SCHEMA storefront CASCADE;
COMMIT;
CREATE SCHEMA storefront;
SELECT guard.undrop('storefront');
SELECT guard.undrop('storefront', 'storefront_restored');
SELECT count(*) FROM storefront_restored.customer;
DROP SCHEMA storefront;

-- DROP OWNED: the tables the role owns are kept, given to the bootstrap
-- superuser meanwhile, so that DROP OWNED drops the rest of what it owns;
-- undo gives them back to it, with their grants, views and sequences.
CREATE ROLE regress_leaver;
CREATE TABLE owned_one (id serial PRIMARY KEY, v text);
INSERT INTO owned_one (v) VALUES ('a'), ('b');
CREATE TABLE owned_two (id int PRIMARY KEY REFERENCES owned_one);
INSERT INTO owned_two VALUES (1);
CREATE VIEW owned_view AS SELECT v FROM owned_one;
CREATE FUNCTION leaver_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE not_owned (id int);
INSERT INTO not_owned VALUES (1);
ALTER TABLE owned_one OWNER TO regress_leaver;
ALTER TABLE owned_two OWNER TO regress_leaver;
ALTER VIEW owned_view OWNER TO regress_leaver;
ALTER FUNCTION leaver_fn() OWNER TO regress_leaver;
GRANT SELECT ON owned_one TO regress_reader;
-- Refused without the override.
DROP OWNED BY regress_leaver;
BEGIN;
SET LOCAL guard.override = 'OPS-24: the role leaves';
DROP OWNED BY regress_leaver;
COMMIT;
SELECT to_regclass('owned_one'), to_regclass('owned_two'), to_regclass('owned_view'),
	   to_regprocedure('leaver_fn()'), to_regclass('not_owned');
SELECT "table", command, reason FROM guard.recyclebin WHERE command = 'DROP OWNED' ORDER BY 1;
SELECT command, verdict, objects,
	   regexp_replace(reason, 'guard_bin_\d+ until .*, for the statement recorded as id \d+$',
					  'guard_bin_N until (7 days on), for the statement recorded as id N') AS reason,
	   regexp_replace(reason, '.* id ', '')::bigint =
		 (SELECT max(id) FROM guard.audit WHERE command = 'DROP OWNED') AS points_at_it
FROM guard.audit WHERE command = 'guard.keep' ORDER BY id DESC LIMIT 1;
-- Nothing the role owned is left: DROP ROLE goes through.
DROP ROLE regress_leaver;
-- Its tables come back, to the bootstrap superuser, with a WARNING.
\set VERBOSITY terse
SELECT guard.undrop('recyclebin_t.owned_one') IS NOT NULL AS back;
\set VERBOSITY default
SELECT count(*), string_agg(v, ',' ORDER BY v) FROM owned_view;
SELECT pg_get_userbyid(relowner) = (SELECT rolname FROM pg_roles WHERE oid = 10) AS bootstrap_owns,
	   relacl::text LIKE '%regress_reader=r/%' AS grant_kept
FROM pg_class WHERE oid = 'owned_one'::regclass;
SELECT count(*) FROM pg_constraint WHERE conrelid = 'owned_two'::regclass AND contype = 'f';
INSERT INTO owned_one (v) VALUES ('c') RETURNING id;
-- A role that still exists gets its tables back.
CREATE ROLE regress_leaver;
ALTER TABLE owned_one OWNER TO regress_leaver;
ALTER TABLE owned_two OWNER TO regress_leaver;
BEGIN;
SET LOCAL guard.override = 'OPS-25: the role leaves again';
DROP OWNED BY regress_leaver CASCADE;
COMMIT;
SELECT guard.undrop('recyclebin_t.owned_one') IS NOT NULL AS back;
SELECT c.relname, pg_get_userbyid(c.relowner)
FROM pg_class c WHERE c.oid IN ('owned_one'::regclass, 'owned_two'::regclass,
	'owned_one_id_seq'::regclass, 'owned_view'::regclass) ORDER BY 1;
-- A kept table that uses what DROP OWNED drops (a trigger's function) is
-- not kept: the statement runs, with a WARNING that says so.
CREATE FUNCTION leaver_trigger() RETURNS trigger LANGUAGE plpgsql AS
	$$BEGIN RETURN NEW; END$$;
CREATE TRIGGER owned_one_t BEFORE INSERT ON owned_one
	FOR EACH ROW EXECUTE FUNCTION leaver_trigger();
ALTER FUNCTION leaver_trigger() OWNER TO regress_leaver;
BEGIN;
SET LOCAL guard.override = 'OPS-26: the role leaves for good';
DROP OWNED BY regress_leaver CASCADE;
COMMIT;
SELECT to_regclass('owned_one'), count(*) FROM guard.recyclebin WHERE "table" LIKE 'recyclebin_t.owned%';
DROP ROLE regress_leaver;

-- DROP EXTENSION: its tables that hold rows leave it and are kept, with
-- what of other schemas depends on them under CASCADE; they come back as
-- tables of their own.  (routes installed it.)
CREATE EXTENSION IF NOT EXISTS guard_regress_ext;
CREATE VIEW ext_notes AS SELECT note FROM public.regress_ext_log;
DROP EXTENSION guard_regress_ext CASCADE;
BEGIN;
SET LOCAL guard.override = 'OPS-27: the extension goes';
DROP EXTENSION guard_regress_ext CASCADE;
COMMIT;
SELECT to_regclass('public.regress_ext_log'), to_regclass('ext_notes'),
	   (SELECT count(*) FROM pg_extension WHERE extname = 'guard_regress_ext') AS installed;
SELECT "table", command, reason FROM guard.recyclebin WHERE command = 'DROP EXTENSION';
SELECT guard.undrop('public.regress_ext_log') IS NOT NULL AS back;
SELECT * FROM public.regress_ext_log ORDER BY id;
SELECT * FROM ext_notes ORDER BY 1;
SELECT count(*) AS still_a_member FROM pg_depend
WHERE classid = 'pg_class'::regclass AND objid = 'public.regress_ext_log'::regclass AND deptype = 'e';
-- Installed again, the extension has its table again: the kept one comes
-- back beside it, under a new name.
BEGIN;
SET LOCAL guard.override = 'OPS-28: the extension goes again';
DROP TABLE public.regress_ext_log CASCADE;
SELECT guard.purge('public.regress_ext_log') IS NOT NULL AS purged;
COMMIT;
CREATE EXTENSION guard_regress_ext;
BEGIN;
SET LOCAL guard.override = 'OPS-29: and once more';
DROP EXTENSION guard_regress_ext;
COMMIT;
CREATE EXTENSION guard_regress_ext;
SELECT guard.undrop('public.regress_ext_log');
SELECT guard.undrop('public.regress_ext_log', 'regress_ext_log_kept') IS NOT NULL AS back;
SELECT count(*) FROM public.regress_ext_log_kept;
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'public.regress_ext_log_kept'::regclass;
BEGIN;
SET LOCAL guard.override = 'test: clean up the extension';
DROP EXTENSION guard_regress_ext;
DROP TABLE public.regress_ext_log_kept;
COMMIT;

-- Clean up: what is left in the bin, and the schema.
BEGIN;
SET LOCAL guard.override = 'test: clean up';
DROP SCHEMA recyclebin_t, storefront_restored CASCADE;
SELECT count(guard.purge("table")) > 0 FROM guard.recyclebin;
SELECT count(*) FROM guard.recyclebin;
COMMIT;
DROP ROLE regress_reader;
