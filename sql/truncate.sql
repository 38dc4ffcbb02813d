--
-- TRUNCATE, with the tables that inheritance, partitions and CASCADE pull
-- in; all named before anything is emptied.
--
\set SHOW_CONTEXT never

-- Tables cannot be dropped here: each topic has a schema of its own.
CREATE SCHEMA truncate_t;
SET search_path = truncate_t, public;

CREATE TABLE game (id int PRIMARY KEY);
CREATE TABLE player (id int PRIMARY KEY);
CREATE TABLE round (id int PRIMARY KEY, game_id int REFERENCES game);
CREATE TABLE score (id int PRIMARY KEY, round_id int REFERENCES round,
					player_id int REFERENCES player);
INSERT INTO game VALUES (1);
INSERT INTO player VALUES (1), (2);
INSERT INTO round VALUES (1, 1);
INSERT INTO score VALUES (1, 1, 1), (2, 1, 2);

TRUNCATE score;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE TABLE score;
TRUNCATE ONLY score;
TRUNCATE score, player;
TRUNCATE score RESTART IDENTITY;
-- CASCADE: everything that references game, transitively.
TRUNCATE game CASCADE;
-- Without CASCADE PostgreSQL would refuse; guard answers first.
TRUNCATE game;

-- Inheritance and partitions.
CREATE TABLE vehicle (id int);
CREATE TABLE car () INHERITS (vehicle);
CREATE TABLE truck () INHERITS (vehicle);
INSERT INTO car VALUES (1);
INSERT INTO truck VALUES (2);
INSERT INTO vehicle VALUES (3);
TRUNCATE vehicle;
TRUNCATE ONLY vehicle;
CREATE TABLE events (id int, day int) PARTITION BY RANGE (day);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (10);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10) TO (20);
INSERT INTO events VALUES (1, 1), (2, 12);
TRUNCATE events;
TRUNCATE events_2;

-- A foreign table's rows live elsewhere, but TRUNCATE empties them there.
DO $$
BEGIN
	EXECUTE format('CREATE SERVER regress_trunc_loop FOREIGN DATA WRAPPER postgres_fdw
					OPTIONS (host %L, port %L, dbname %L)',
				   split_part(current_setting('unix_socket_directories'), ',', 1),
				   current_setting('port'), current_database());
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_trunc_loop;
CREATE FOREIGN TABLE remote_player (id int) SERVER regress_trunc_loop
	OPTIONS (table_name 'player');
SELECT count(*) FROM remote_player;
TRUNCATE remote_player;

-- Mixed with a temporary table: only the permanent ones count.
CREATE TEMP TABLE scratch (x int);
TRUNCATE scratch, player;

-- Nothing was lost.
SELECT (SELECT count(*) FROM game) AS game, (SELECT count(*) FROM player) AS player,
	   (SELECT count(*) FROM round) AS round, (SELECT count(*) FROM score) AS score,
	   (SELECT count(*) FROM vehicle) AS vehicle, (SELECT count(*) FROM events) AS events;
