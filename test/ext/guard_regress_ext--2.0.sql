-- An install script that drops a table it did not create.
DROP TABLE IF EXISTS public.regress_ext_victim;
CREATE TABLE regress_ext_log (id int PRIMARY KEY, note text);
