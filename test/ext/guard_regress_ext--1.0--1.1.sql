-- An update that drops the extension's table.
DROP TABLE regress_ext_log;
