-- An update that empties it.
TRUNCATE regress_ext_log;
