-- Installs a table of the extension's own, with rows worth keeping.
CREATE TABLE regress_ext_log (id int PRIMARY KEY, note text);
INSERT INTO regress_ext_log VALUES (1, 'first'), (2, 'second'), (3, 'third');
SELECT pg_catalog.pg_extension_config_dump('regress_ext_log', '');
