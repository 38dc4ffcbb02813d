--
-- ALTER TABLE ... DROP COLUMN, directly and through inheritance, and column
-- type changes that would alter values the column holds.
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
INSERT INTO vehicle VALUES (2, 'blue');
ALTER TABLE vehicle DROP COLUMN colour;
ALTER TABLE car DROP COLUMN doors;

-- Foreign tables: a column is a local definition of remote data; dropping
-- it loses no stored value (see the end).
CREATE SERVER regress_alter_srv FOREIGN DATA WRAPPER postgres_fdw;
CREATE FOREIGN TABLE remote_player (id int, name text) SERVER regress_alter_srv;
ALTER FOREIGN TABLE remote_player DROP COLUMN name;

-- Other subcommands run.
ALTER TABLE player ADD COLUMN age int;
ALTER TABLE player ALTER COLUMN age SET DEFAULT 0;
ALTER TABLE player RENAME COLUMN age TO years;

-- Column type changes: decided on data.  One that would change a value the
-- column holds is refused; one that changes none runs.
CREATE TABLE stock_item (id int PRIMARY KEY, qty int, price numeric, code text, label varchar(20));
INSERT INTO stock_item VALUES (1, 5, 1.50, '007', 'blue widget'), (2, 7, 2.00, '12', 'red');
ALTER TABLE stock_item ALTER COLUMN qty TYPE int USING 0;
ALTER TABLE stock_item ALTER COLUMN qty TYPE int USING NULL;
ALTER TABLE stock_item ALTER COLUMN label TYPE text USING left(label, 1);
ALTER TABLE stock_item ALTER COLUMN label TYPE varchar(3) USING label::varchar(3);
ALTER TABLE stock_item ALTER COLUMN label TYPE varchar(3);
ALTER TABLE stock_item ALTER COLUMN price TYPE int;
ALTER TABLE stock_item ALTER COLUMN code TYPE int USING code::int;
\echo :LAST_ERROR_SQLSTATE
-- Lossless: widening, to text and back, a longer varchar, a USING that
-- keeps every value.
ALTER TABLE stock_item ALTER COLUMN qty TYPE bigint;
ALTER TABLE stock_item ALTER COLUMN qty TYPE text;
ALTER TABLE stock_item ALTER COLUMN qty TYPE int USING qty::int;
ALTER TABLE stock_item ALTER COLUMN label TYPE varchar(50);
ALTER TABLE stock_item ALTER COLUMN code TYPE text USING trim(code);
-- A value that fits now: only the values that are there count.
UPDATE stock_item SET label = 'ab' WHERE id = 1;
UPDATE stock_item SET label = 'cd' WHERE id = 2;
ALTER TABLE stock_item ALTER COLUMN label TYPE varchar(3) USING label::varchar(3);
-- On an empty table, nothing can be lost.
CREATE TABLE empty_item (price numeric);
ALTER TABLE empty_item ALTER COLUMN price TYPE int USING 0;
SELECT * FROM stock_item ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'stock_item'::regclass AND attnum > 0 ORDER BY attnum;

SELECT id, name, email, "Nick Name" FROM player ORDER BY id;
SELECT colour, doors FROM car;

-- A foreign table's columns define remote data locally: dropping one or
-- changing its type changes no stored value, and its rows are not read
-- (this wrapper has no handler and could not read them).
CREATE FOREIGN DATA WRAPPER alter_dummy;
CREATE SERVER alter_dummy_srv FOREIGN DATA WRAPPER alter_dummy;
CREATE FOREIGN TABLE remote_item (id int, label text, price numeric) SERVER alter_dummy_srv;
ALTER FOREIGN TABLE remote_item ALTER COLUMN price TYPE int;
ALTER FOREIGN TABLE remote_item DROP COLUMN label;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'remote_item'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
BEGIN;
SET LOCAL guard.override = 'test: the foreign table is done';
DROP FOREIGN DATA WRAPPER alter_dummy CASCADE;
COMMIT;
