-- An update that drops a column.
ALTER TABLE regress_ext_log DROP COLUMN note;
