--
-- Staging runs destructive statements with a warning and records them;
-- development runs them silently and records nothing by default.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA staging_t;
SET search_path = staging_t, public;

CREATE ROLE regress_stager LOGIN SUPERUSER;
CREATE ROLE regress_developer LOGIN SUPERUSER;
-- Lowering the environment for a role is itself guarded in production.
BEGIN;
SET LOCAL guard.override = 'TEST-1: roles for the staging and development tests';
ALTER ROLE regress_stager SET guard.environment = 'staging';
ALTER ROLE regress_developer SET guard.environment = 'development';
COMMIT;
CREATE DATABASE regress_staging_db;
CREATE DATABASE regress_dev_db;

\c - regress_stager
SET search_path = staging_t, public;
SHOW guard.environment;
CREATE TABLE staged (id int, v text);
INSERT INTO staged SELECT g, 'x' FROM generate_series(1, 5) g;
UPDATE staged SET v = 'y';
DELETE FROM staged;
-- (Each statement runs in staging: the rows come back for the next.)
INSERT INTO staged SELECT g, 'x' FROM generate_series(1, 5) g;
ALTER TABLE staged DROP COLUMN v;
TRUNCATE staged;
INSERT INTO staged SELECT g FROM generate_series(1, 5) g;
DROP TABLE staged;
DROP DATABASE regress_staging_db;
-- What cascades is listed as it is dropped.
CREATE TABLE vparent (id int, colour text);
CREATE TABLE vchild (doors int) INHERITS (vparent);
INSERT INTO vparent VALUES (1, 'red');
INSERT INTO vchild VALUES (2, 'blue', 4);
ALTER TABLE vparent DROP COLUMN colour;
CREATE SCHEMA staged_schema;
CREATE TABLE staged_schema.one (id int);
CREATE TABLE staged_schema.two (id int);
INSERT INTO staged_schema.one VALUES (1);
INSERT INTO staged_schema.two VALUES (2);
DROP SCHEMA staged_schema CASCADE;
-- A table that holds no row loses nothing: no warning, recorded as allowed.
CREATE TABLE staged_empty (id int);
DROP TABLE staged_empty;
-- With an override, staging rehearses production: no warning.
CREATE TABLE staged2 (id int);
INSERT INTO staged2 VALUES (1);
BEGIN;
SET LOCAL guard.override = 'REL-1: rehearsal';
DROP TABLE staged2;
COMMIT;
-- Exempt statements are not warned about.
CREATE TEMP TABLE t (id int);
DROP TABLE t;

-- Staging rehearses the recycle bin: an overridden or warned DROP TABLE
-- keeps its table, as production would.
SELECT command, objects, environment, verdict,
	   regexp_replace(reason, 'guard_bin_\d+ until .*, for the statement recorded as id \d+$',
					  'guard_bin_N until (7 days on), for the statement recorded as id N') AS reason
FROM guard.audit WHERE login_role = 'regress_stager' ORDER BY id;

\c - regress_developer
SET search_path = staging_t, public;
SHOW guard.environment;
CREATE TABLE developed (id int, v text);
INSERT INTO developed VALUES (1, 'x');
UPDATE developed SET v = 'y';
DELETE FROM developed;
ALTER TABLE developed DROP COLUMN v;
TRUNCATE developed;
DROP TABLE developed;
DROP DATABASE regress_dev_db;
SELECT count(*) FROM guard.audit WHERE login_role = 'regress_developer';

-- Back in production.
\c - postgres
SHOW guard.environment;
