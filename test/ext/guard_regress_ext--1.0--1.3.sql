-- An update that deletes every row.
DELETE FROM regress_ext_log;
