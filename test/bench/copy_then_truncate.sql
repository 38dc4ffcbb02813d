-- The reference for test/bench-recyclebin: what a recycle bin that copies
-- does before a TRUNCATE (pg_recyclebin's approach, CREATE TABLE AS), in
-- the TRUNCATE's transaction.  Its undo is an INSERT ... SELECT back.
BEGIN;
CREATE TABLE recyclebin_copy AS SELECT * FROM big;
TRUNCATE big;
COMMIT;
