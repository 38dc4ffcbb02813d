--
-- Exemptions for routine destructive work: SECURITY LABEL FOR guard on a
-- table, a partitioned table (for its partitions) or a schema.  Exempted
-- statements run and are recorded as "allowed"; widening an exemption in
-- production needs the override.
--
\set SHOW_CONTEXT never

CREATE SCHEMA exemption_t;
SET search_path = exemption_t, public;

CREATE TABLE stage (id int, v text);
INSERT INTO stage SELECT g, 'x' FROM generate_series(1, 10) g;
CREATE TABLE kept (id int);
INSERT INTO kept VALUES (1);

-- Bad labels, wrong objects, non-superusers.
SECURITY LABEL FOR guard ON TABLE stage IS 'truncate,shred';
SECURITY LABEL FOR guard ON TABLE stage IS '';
SECURITY LABEL FOR guard ON COLUMN stage.v IS 'truncate';
CREATE VIEW stage_v AS SELECT * FROM stage;
SECURITY LABEL FOR guard ON VIEW stage_v IS 'truncate';
CREATE SEQUENCE seq;
SECURITY LABEL FOR guard ON SEQUENCE seq IS 'drop';
ALTER TABLE stage OWNER TO regress_owner;
GRANT USAGE ON SCHEMA exemption_t TO regress_owner;
SET ROLE regress_owner;
SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
RESET ROLE;

-- Widening an exemption is refused in production without the override.
SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL guard.override = 'ETL-1: the nightly load empties stage';
SECURITY LABEL FOR guard ON TABLE stage IS 'truncate, delete';
COMMIT;
SELECT * FROM guard.exemptions ORDER BY object;

-- Exempt operations run, and are recorded as allowed.
TRUNCATE stage;
INSERT INTO stage SELECT g, 'x' FROM generate_series(1, 10) g;
DELETE FROM stage;
INSERT INTO stage SELECT g, 'x' FROM generate_series(1, 10) g;
-- Other operations on the same table are still refused.
UPDATE stage SET v = 'y';
DROP TABLE stage;
ALTER TABLE stage DROP COLUMN v;
-- And one statement with an exempt and a protected table is refused.
TRUNCATE stage, kept;

-- A label on a partitioned table covers its partitions: per-day
-- partitions dropped on a schedule.
CREATE TABLE events (id int, day date) PARTITION BY RANGE (day);
CREATE TABLE events_20260101 PARTITION OF events
	FOR VALUES FROM ('2026-01-01') TO ('2026-01-02');
CREATE TABLE events_20260102 PARTITION OF events
	FOR VALUES FROM ('2026-01-02') TO ('2026-01-03');
INSERT INTO events VALUES (1, '2026-01-01'), (2, '2026-01-02');
DROP TABLE events_20260101;
BEGIN;
SET LOCAL guard.override = 'OPS-3: daily partitions are dropped by the scheduler';
SECURITY LABEL FOR guard ON TABLE events IS 'drop';
COMMIT;
DROP TABLE events_20260101;
TRUNCATE events_20260102;

-- A label on a schema covers its tables.
CREATE SCHEMA etl;
CREATE TABLE etl.raw (id int);
INSERT INTO etl.raw VALUES (1);
BEGIN;
SET LOCAL guard.override = 'ETL-2: the etl schema is scratch space';
SECURITY LABEL FOR guard ON SCHEMA etl IS 'truncate';
COMMIT;
TRUNCATE etl.raw;
INSERT INTO etl.raw VALUES (1);
DROP TABLE etl.raw;

-- Through every route, exempt work runs (and the rows are recorded).
SET search_path = routes_t, exemption_t, public;
SELECT r.route, s.stmt, regress_via(r.route, s.stmt) AS outcome
FROM regress_route r
	CROSS JOIN (VALUES ('utility', 'TRUNCATE exemption_t.stage'),
					   ('dml', 'DELETE FROM exemption_t.stage')) s (kind, stmt)
WHERE s.kind = 'dml' OR NOT r.dml_only
ORDER BY r.route, s.stmt;
SET search_path = exemption_t, public;

-- A label on a table created in the same transaction exempts nothing older:
-- no override needed (a migration, a restore in one transaction).
BEGIN;
CREATE TABLE new_stage (id int);
SECURITY LABEL FOR guard ON TABLE new_stage IS 'truncate';
COMMIT;
SELECT command, objects, verdict, new_value FROM guard.audit
WHERE objects = '{exemption_t.new_stage}';

-- Narrowing or removing an exemption needs no override, and is recorded.
SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
SECURITY LABEL FOR guard ON TABLE stage IS NULL;
INSERT INTO stage SELECT g, 'x' FROM generate_series(1, 10) g;
TRUNCATE stage;
SELECT * FROM guard.exemptions ORDER BY object;

SELECT command, objects, verdict, reason, old_value, new_value, count(*)
FROM guard.audit
WHERE objects && '{exemption_t.stage,exemption_t.kept,exemption_t.events,exemption_t.events_20260101,exemption_t.events_20260102,etl.raw,etl}'
GROUP BY command, objects, verdict, reason, old_value, new_value
ORDER BY min(id);

-- The labels are in the catalog of this database, for pg_dump to keep.
SELECT objtype, objname, label FROM pg_seclabels WHERE provider = 'guard' ORDER BY objname;
SELECT count(*) FROM kept;
SELECT count(*) FROM events;

-- Moving a protected table under an exemption widens it, like labelling
-- it: attached to a labelled partitioned table (even one created and
-- labelled in this transaction), or moved into a labelled schema.
CREATE TABLE old_rows (at int, v text);
INSERT INTO old_rows VALUES (1, 'kept'), (2, 'kept');
BEGIN;
CREATE TABLE lure (at int, v text) PARTITION BY RANGE (at);
SECURITY LABEL FOR guard ON TABLE lure IS 'drop,truncate,delete';
ALTER TABLE lure ATTACH PARTITION old_rows FOR VALUES FROM (0) TO (100);
ROLLBACK;
ALTER TABLE old_rows SET SCHEMA etl;
\echo :LAST_ERROR_SQLSTATE
-- A new table attached to a labelled parent holds nothing older.
CREATE TABLE labelled_parent (at int, v text) PARTITION BY RANGE (at);
BEGIN;
SET LOCAL guard.override = 'test: label the parent';
SECURITY LABEL FOR guard ON TABLE labelled_parent IS 'drop';
COMMIT;
BEGIN;
CREATE TABLE new_part (at int, v text);
ALTER TABLE labelled_parent ATTACH PARTITION new_part FOR VALUES FROM (0) TO (10);
COMMIT;
-- With the override, the move goes through and is recorded.
BEGIN;
SET LOCAL guard.override = 'test: old_rows is ETL staging now';
ALTER TABLE old_rows SET SCHEMA etl;
COMMIT;
SELECT command, objects, verdict, reason, statement FROM guard.audit
WHERE statement ~ '(ATTACH PARTITION|SET SCHEMA etl)' ORDER BY id;
SELECT count(*) FROM etl.old_rows;
