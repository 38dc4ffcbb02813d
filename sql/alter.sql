--
-- ALTER TABLE ... DROP COLUMN, directly and through inheritance.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA alter_t;
SET search_path = alter_t, public;

CREATE TABLE player (id int PRIMARY KEY, name text, email text, "Nick Name" text);
INSERT INTO player VALUES (1, 'ann', 'ann@example.com', 'a'), (2, 'bob', 'bob@example.com', 'b');

ALTER TABLE player DROP COLUMN email;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE player DROP COLUMN IF EXISTS email;
ALTER TABLE player DROP email CASCADE;
ALTER TABLE player DROP COLUMN "Nick Name";
ALTER TABLE IF EXISTS player DROP COLUMN name, DROP COLUMN email;
ALTER TABLE player ADD COLUMN age int, DROP COLUMN email;
-- Of nothing: left to PostgreSQL.
ALTER TABLE player DROP COLUMN IF EXISTS nothing;
ALTER TABLE player DROP COLUMN nothing;
ALTER TABLE IF EXISTS no_such_table DROP COLUMN email;

-- Inherited columns: the parent's statement reaches the children.
CREATE TABLE vehicle (id int, colour text);
CREATE TABLE car (doors int) INHERITS (vehicle);
INSERT INTO car VALUES (1, 'red', 4);
ALTER TABLE vehicle DROP COLUMN colour;
ALTER TABLE car DROP COLUMN doors;

-- Foreign tables.
CREATE SERVER regress_alter_srv FOREIGN DATA WRAPPER postgres_fdw;
CREATE FOREIGN TABLE remote_player (id int, name text) SERVER regress_alter_srv;
ALTER FOREIGN TABLE remote_player DROP COLUMN name;

-- Other subcommands run.
ALTER TABLE player ADD COLUMN age int;
ALTER TABLE player ALTER COLUMN age SET DEFAULT 0;
ALTER TABLE player RENAME COLUMN age TO years;

SELECT id, name, email, "Nick Name" FROM player ORDER BY id;
SELECT colour, doors FROM car;
