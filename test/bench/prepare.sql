-- The tables of the callgrind scripts' DML part (gen_scripts.py, dml.sql),
-- loaded once into the prepared data directory after pgbench -i -s 1.
CREATE TABLE dml_items (
	id int PRIMARY KEY,
	grp int NOT NULL,
	qty int NOT NULL,
	note text
);
INSERT INTO dml_items
	SELECT g, g % 100 + 1, 0, 'item ' || g FROM generate_series(1, 100000) g;
CREATE INDEX dml_items_grp ON dml_items (grp);

CREATE TABLE dml_groups (grp int PRIMARY KEY, active bool NOT NULL);
INSERT INTO dml_groups SELECT g, g % 2 = 0 FROM generate_series(1, 100) g;

-- No index: its statements are sequential scans with a filter.
CREATE TABLE dml_small (id int NOT NULL, v int NOT NULL);
INSERT INTO dml_small SELECT g, g FROM generate_series(1, 200) g;

VACUUM (FREEZE, ANALYZE);
CHECKPOINT;
