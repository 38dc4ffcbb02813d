--
-- DROP TABLE of every kind of table, however it is named; by the owner
-- and by a superuser alike.  Nothing is lost.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA drop_t;
SET search_path = drop_t, public;

CREATE TABLE score (id int PRIMARY KEY, points int);
INSERT INTO score SELECT g, g * 10 FROM generate_series(1, 100) g;

DROP TABLE score;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE public.score;
DROP TABLE IF EXISTS score;
DROP TABLE "score";
DROP TABLE score RESTRICT;
DROP TABLE score CASCADE;

-- Through search_path, and with identifiers that need quotes.
CREATE SCHEMA "App Data";
CREATE TABLE "App Data"."Player Stats" (id int);
INSERT INTO "App Data"."Player Stats" VALUES (1);
SET search_path = "App Data", public;
DROP TABLE "Player Stats";
SET search_path = drop_t, public;
DROP TABLE "App Data"."Player Stats";
-- A temporary table of the same name shadows nothing guard protects.
CREATE TEMP TABLE score (x int);
DROP TABLE score;
DROP TABLE score;

-- Several tables in one statement: all are named.
CREATE TABLE round (id int);
CREATE TABLE "order" (id int);
INSERT INTO round VALUES (1); INSERT INTO "order" VALUES (1);
DROP TABLE score, round, "order";

-- Partitioned tables take their partitions; a partition alone is a table.
CREATE TABLE events (id int, day int) PARTITION BY RANGE (day);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (10);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10) TO (20)
	PARTITION BY RANGE (day);
CREATE TABLE events_2a PARTITION OF events_2 FOR VALUES FROM (10) TO (15);
INSERT INTO events VALUES (1, 1), (2, 12);
DROP TABLE events;
DROP TABLE events_1;
DROP TABLE events_2a;

-- Inheritance: the parent alone (PostgreSQL then refuses the dependency
-- itself), and with CASCADE the children too; a child alone.
CREATE TABLE vehicle (id int);
CREATE TABLE car () INHERITS (vehicle);
INSERT INTO car VALUES (1);
INSERT INTO vehicle VALUES (2);
DROP TABLE vehicle;
DROP TABLE vehicle CASCADE;
DROP TABLE car;

-- Unlogged tables, materialized views and foreign tables.
CREATE UNLOGGED TABLE cache (k text);
INSERT INTO cache VALUES ('k');
DROP TABLE cache;
CREATE MATERIALIZED VIEW top_scores AS SELECT * FROM score WHERE points > 900;
DROP MATERIALIZED VIEW top_scores;
CREATE EXTENSION postgres_fdw;
CREATE SERVER regress_loopback FOREIGN DATA WRAPPER postgres_fdw;
CREATE FOREIGN TABLE remote_score (id int, points int) SERVER regress_loopback
	OPTIONS (table_name 'score');
DROP FOREIGN TABLE remote_score;

-- Wrong kinds are left to PostgreSQL's own errors.
DROP TABLE top_scores;
DROP MATERIALIZED VIEW score;

-- A table's owner who is not a superuser is refused the same way.
CREATE TABLE owned_by_plain (id int);
ALTER TABLE owned_by_plain OWNER TO regress_owner;
SET ROLE regress_owner;
DROP TABLE owned_by_plain;
RESET ROLE;

-- Nothing was lost.
SELECT count(*) AS score_rows, sum(points) AS score_points FROM score;
SELECT count(*) FROM events;
SELECT count(*) FROM vehicle;
SELECT count(*) FROM "App Data"."Player Stats";
SELECT relname FROM pg_class
WHERE relname IN ('score', 'round', 'order', 'events', 'events_1', 'events_2',
				  'events_2a', 'vehicle', 'car', 'cache', 'top_scores',
				  'remote_score', 'owned_by_plain', 'Player Stats')
	AND relpersistence <> 't'
ORDER BY relname;

-- A sequence's value is data (the next id of a table whose default a
-- restore dropped first): dropping one that was used is refused; one never
-- used holds no value yet.
CREATE SEQUENCE used_seq;
SELECT nextval('used_seq');
DROP SEQUENCE used_seq;
CREATE SEQUENCE fresh_seq;
DROP SEQUENCE fresh_seq;
DROP SEQUENCE IF EXISTS no_such_seq;

-- DROP DATABASE cannot run in a transaction block, so SET LOCAL
-- guard.override cannot reach it; a permit, for one database, in this
-- session, allows one.
CREATE DATABASE regress_permit_db;
CREATE DATABASE regress_other_db;
DROP DATABASE regress_permit_db;
SELECT guard.permit_drop_database('regress_permit_db', '   ');
SELECT guard.permit_drop_database('regress_no_such_db', 'OPS-1');
GRANT USAGE ON SCHEMA guard TO regress_owner;
SET ROLE regress_owner;
SELECT guard.permit_drop_database('regress_permit_db', 'OPS-1');
RESET ROLE;
REVOKE USAGE ON SCHEMA guard FROM regress_owner;
SELECT guard.permit_drop_database('regress_permit_db', 'OPS-2: decommission the permit db');
-- It covers that database only.
DROP DATABASE regress_other_db;
DROP DATABASE regress_permit_db;
-- It is used up.
CREATE DATABASE regress_permit_db;
DROP DATABASE regress_permit_db;
SELECT command, objects, verdict, reason FROM guard.audit
WHERE objects && '{regress_permit_db,regress_other_db}' ORDER BY id;
