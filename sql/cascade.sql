--
-- Statements that destroy tables or columns by cascade.  The whole list is
-- named (the first five, then a count) and nothing is committed.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA cascade_t;
SET search_path = cascade_t, public;
\set VERBOSITY terse

-- DROP SCHEMA ... CASCADE with seven tables.
CREATE SCHEMA shop;
CREATE TABLE shop.a (id int); CREATE TABLE shop.b (id int); CREATE TABLE shop.c (id int);
CREATE TABLE shop.d (id int); CREATE TABLE shop.e (id int); CREATE TABLE shop.f (id int);
CREATE TABLE shop.g (id int);
CREATE VIEW shop.v AS SELECT * FROM shop.a;
INSERT INTO shop.a VALUES (1); INSERT INTO shop.b VALUES (1); INSERT INTO shop.c VALUES (1);
INSERT INTO shop.d VALUES (1); INSERT INTO shop.e VALUES (1); INSERT INTO shop.f VALUES (1);
INSERT INTO shop.g VALUES (1);
DROP SCHEMA shop CASCADE;
\echo :LAST_ERROR_SQLSTATE
SELECT verdict, object_count, array_length(objects, 1) AS listed
FROM guard.audit WHERE statement = 'DROP SCHEMA shop CASCADE';
-- An empty schema, or a schema of views, drops.
CREATE SCHEMA empty_schema;
DROP SCHEMA empty_schema;
CREATE SCHEMA views_only;
CREATE VIEW views_only.v AS SELECT 1 AS one;
DROP SCHEMA views_only CASCADE;

-- DROP OWNED BY takes every table the role owns.
CREATE ROLE regress_leaver;
CREATE TABLE leaver_data (id int);
INSERT INTO leaver_data VALUES (1);
ALTER TABLE leaver_data OWNER TO regress_leaver;
DROP OWNED BY regress_leaver;
-- REASSIGN OWNED keeps the data.
REASSIGN OWNED BY regress_leaver TO regress_owner;
DROP OWNED BY regress_leaver;
DROP ROLE regress_leaver;

-- DROP EXTENSION ... CASCADE drops the columns of its types.
CREATE EXTENSION hstore;
CREATE TABLE profile (id int, attrs hstore);
INSERT INTO profile VALUES (1, 'a=>1');
DROP EXTENSION hstore CASCADE;
DROP EXTENSION hstore;

-- DROP TYPE / DROP DOMAIN ... CASCADE drop the columns that use them.
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE feeling (id int, m mood);
INSERT INTO feeling VALUES (1, 'happy');
DROP TYPE mood CASCADE;
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE counter (id int, n positive);
INSERT INTO counter VALUES (1, 1);
DROP DOMAIN positive CASCADE;
-- A composite type's attribute, and the typed table that uses it.
CREATE TYPE address AS (street text, city text);
CREATE TABLE office OF address;
INSERT INTO office VALUES ('Main St', 'Springfield');
ALTER TYPE address DROP ATTRIBUTE city CASCADE;
-- A table whose row type another table stores.
CREATE TABLE item (id int);
CREATE TABLE basket (id int, thing item);
INSERT INTO item VALUES (1);
INSERT INTO basket VALUES (1, ROW(1));
DROP TABLE item CASCADE;

-- DROP FUNCTION ... CASCADE drops a generated column that uses it.
CREATE FUNCTION double_it(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
CREATE TABLE doubled (x int, y int GENERATED ALWAYS AS (double_it(x)) STORED);
INSERT INTO doubled (x) VALUES (1);
DROP FUNCTION double_it(int) CASCADE;
-- DROP COLLATION ... CASCADE drops a column that uses it.
CREATE COLLATION regress_coll (provider = libc, locale = 'C');
CREATE TABLE named (id int, label text COLLATE regress_coll);
INSERT INTO named VALUES (1, 'one');
DROP COLLATION regress_coll CASCADE;

-- DROP VIEW ... CASCADE takes a materialized view built on it.
CREATE VIEW base_v AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW built_on_v AS SELECT * FROM base_v;
DROP VIEW base_v CASCADE;
-- A view alone drops.
CREATE VIEW lone_v AS SELECT 1 AS one;
DROP VIEW lone_v;

-- DROP SERVER ... CASCADE drops its foreign tables.
CREATE SERVER regress_cascade_srv FOREIGN DATA WRAPPER postgres_fdw;
CREATE FOREIGN TABLE remote_thing (id int) SERVER regress_cascade_srv;
DROP SERVER regress_cascade_srv CASCADE;

-- DROP TABLE ... CASCADE takes the views on it; only the table counts.
CREATE TABLE base_t (id int);
INSERT INTO base_t VALUES (1);
CREATE VIEW on_base_t AS SELECT * FROM base_t;
DROP TABLE base_t CASCADE;

-- A foreign key from an older table into a table created in the same
-- transaction: the new table loses nothing, but its foreign key's actions
-- change the older table's rows, one by one, each with a condition.  The
-- loss is the older table's, and is judged on its rows.
CREATE TABLE old_child (id int, p_id int, note text DEFAULT 'kept');
INSERT INTO old_child VALUES (1, 1), (2, 2);
CREATE TABLE empty_child (id int, p_id int);
CREATE FUNCTION new_parent_with(action text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CREATE TABLE new_parent (id int PRIMARY KEY, flag int);
	INSERT INTO new_parent VALUES (1, 0), (2, 0);
	EXECUTE 'ALTER TABLE old_child ADD FOREIGN KEY (p_id) REFERENCES new_parent ' || action;
END
$$;
BEGIN;
SELECT new_parent_with('ON DELETE CASCADE');
DELETE FROM new_parent;
ROLLBACK;
BEGIN;
SELECT new_parent_with('ON DELETE SET NULL');
DELETE FROM new_parent;
ROLLBACK;
BEGIN;
SELECT new_parent_with('ON UPDATE CASCADE');
UPDATE new_parent SET id = -id;
ROLLBACK;
-- Through a second new table, CASCADE after CASCADE.
BEGIN;
SELECT new_parent_with('ON DELETE CASCADE');
CREATE TABLE new_grandparent (id int PRIMARY KEY);
INSERT INTO new_grandparent VALUES (1), (2);
ALTER TABLE new_parent ADD FOREIGN KEY (id) REFERENCES new_grandparent ON DELETE CASCADE;
DELETE FROM new_grandparent;
ROLLBACK;
-- What runs: an UPDATE that sets no key, a DELETE with a condition, a
-- cascade into a table that holds no row, NO ACTION.
BEGIN;
SELECT new_parent_with('ON DELETE CASCADE ON UPDATE CASCADE');
UPDATE new_parent SET flag = 1;
DELETE FROM new_parent WHERE id = 1;
ALTER TABLE empty_child ADD FOREIGN KEY (p_id) REFERENCES new_parent ON DELETE CASCADE;
ALTER TABLE old_child DROP CONSTRAINT old_child_p_id_fkey;
DELETE FROM new_parent;
ROLLBACK;
BEGIN;
SELECT new_parent_with('');
UPDATE old_child SET p_id = NULL WHERE id = 2;
DELETE FROM new_parent WHERE id = 2;
ROLLBACK;
SELECT id, p_id, note FROM old_child ORDER BY id;

-- Nothing was lost.
SELECT (SELECT count(*) FROM shop.a) AS shop_a, (SELECT count(*) FROM profile) AS profile,
	   (SELECT attrs FROM profile) AS attrs;
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'cascade_t'
	AND table_name IN ('feeling', 'counter', 'office', 'basket', 'doubled', 'named', 'profile')
ORDER BY table_name, ordinal_position;
SELECT relname FROM pg_class
WHERE relname IN ('leaver_data', 'built_on_v', 'remote_thing', 'base_t', 'item')
ORDER BY relname;
