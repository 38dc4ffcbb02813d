"""Write the statement scripts that test/benchmark feeds to a single-user
backend under callgrind: one statement a line (postgres --single without -j
ends a statement at the newline), fixed values from a fixed pseudo-random
sequence, so that every run executes exactly the same statements.

    gen_scripts.py OUTDIR [SIZE]

SIZE scales every script (1.0 for the full run, less for --quick).  Writes:

  empty.sql    only the check statement: the backend's start and end, which
               test/benchmark subtracts from the others
  tpcb.sql     pgbench's TPC-B transaction (BEGIN, 3 UPDATEs, SELECT,
               INSERT, END) with fixed aid/tid/bid/delta
  utility.sql  temporary tables created, indexed, analyzed, altered,
               truncated and dropped; a table created and dropped in one
               transaction; SET/RESET/SHOW; ANALYZE; DROP ... IF EXISTS of
               nothing: all things guard must let through
  dml.sql      DELETE and UPDATE with conditions on ordinary tables (index,
               range, join, IN list, sequential scan with a filter, a
               data-modifying WITH): guard examines each plan, and lets it
               through

Every script starts with the same check statement, which shows
guard.environment (production with guard, NULL without), so that the output
of each run proves whether guard was loaded.  The tables come from
prepare.sql (pgbench -i -s 1 plus the dml_* tables).
"""

import os
import sys

CHECK = "SELECT current_setting('guard.environment', true) AS guard_environment;"

ACCOUNTS = 100000       # pgbench -i -s 1
TELLERS = 10
BRANCHES = 1
ITEMS = 100000          # dml_items, see prepare.sql
GROUPS = 100
SMALL = 200


class Lcg:
    """A fixed pseudo-random sequence (the C library's LCG constants)."""

    def __init__(self, seed):
        self.state = seed

    def next(self, n):
        self.state = (self.state * 1103515245 + 12345) % (1 << 31)
        return self.state % n + 1


def tpcb(n_tx):
    rnd = Lcg(20261124)
    lines = []
    for _ in range(n_tx):
        aid = rnd.next(ACCOUNTS)
        tid = rnd.next(TELLERS)
        bid = rnd.next(BRANCHES)
        delta = rnd.next(10001) - 5001
        lines += [
            "BEGIN;",
            f"UPDATE pgbench_accounts SET abalance = abalance + {delta} WHERE aid = {aid};",
            f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid};",
            f"UPDATE pgbench_tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};",
            f"UPDATE pgbench_branches SET bbalance = bbalance + {delta} WHERE bid = {bid};",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
            f"VALUES ({tid}, {bid}, {aid}, {delta}, CURRENT_TIMESTAMP);",
            "END;",
        ]
    return lines


def utility(n_loops):
    lines = []
    for i in range(n_loops):
        lines += [
            "CREATE TEMP TABLE bench_tmp (id int PRIMARY KEY, v text, extra int);",
            "CREATE INDEX bench_tmp_v ON bench_tmp (v);",
            f"INSERT INTO bench_tmp SELECT g, 'v' || g, {i} FROM generate_series(1, 20) g;",
            "ANALYZE bench_tmp;",
            "ALTER TABLE bench_tmp DROP COLUMN extra;",
            "TRUNCATE bench_tmp;",
            f"SET work_mem = '{4 + i % 8}MB';",
            "SHOW work_mem;",
            "RESET work_mem;",
            "SET statement_timeout = '1min';",
            "RESET statement_timeout;",
            "DROP INDEX bench_tmp_v;",
            "DROP TABLE bench_tmp;",
            "DROP TABLE IF EXISTS bench_missing;",
            "BEGIN;",
            "CREATE TABLE bench_new (id int, v text);",
            "TRUNCATE bench_new;",
            "DROP TABLE bench_new;",
            "COMMIT;",
            "ANALYZE pgbench_branches;",
        ]
    return lines


def dml(n_loops):
    rnd = Lcg(4242)
    lines = []
    deleted = set()

    def fresh_item():
        # An id no DELETE has taken yet, so that every DELETE deletes a row.
        while True:
            item = rnd.next(ITEMS)
            if item not in deleted:
                deleted.add(item)
                return item

    for i in range(n_loops):
        a = rnd.next(ITEMS)
        b = rnd.next(ITEMS - 10)
        grp = rnd.next(GROUPS)
        small = rnd.next(SMALL)
        lines += [
            f"UPDATE dml_items SET qty = qty + 1 WHERE id = {a};",
            f"DELETE FROM dml_items WHERE id = {fresh_item()};",
            f"UPDATE dml_items SET note = 'range {i}' WHERE id BETWEEN {b} AND {b + 4};",
            f"UPDATE dml_small SET v = v + 1 WHERE id = {small};",
            f"DELETE FROM dml_small WHERE v < 0 AND id = {small};",
            "UPDATE dml_items i SET qty = qty - 1 FROM dml_groups g "
            f"WHERE g.grp = i.grp AND g.active AND i.id = {rnd.next(ITEMS)};",
            f"DELETE FROM dml_items WHERE id IN ({fresh_item()}, {fresh_item()});",
            f"WITH d AS (DELETE FROM dml_items WHERE id = {fresh_item()} RETURNING id) "
            "SELECT count(*) FROM d;",
            f"UPDATE dml_groups SET active = NOT active WHERE grp = {grp};",
            f"DELETE FROM dml_items WHERE grp = {grp} AND id = {fresh_item()};",
        ]
    return lines


def write(outdir, name, lines):
    path = os.path.join(outdir, name)
    with open(path, "w") as f:
        f.write(CHECK + "\n")
        for line in lines:
            f.write(line + "\n")
    # The check statement counts too.
    return len(lines) + 1


def main():
    outdir = sys.argv[1]
    size = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    os.makedirs(outdir, exist_ok=True)
    counts = {
        "empty": write(outdir, "empty.sql", []),
        "tpcb": write(outdir, "tpcb.sql", tpcb(max(1, int(2000 * size)))),
        "utility": write(outdir, "utility.sql", utility(max(1, int(400 * size)))),
        "dml": write(outdir, "dml.sql", dml(max(1, int(800 * size)))),
    }
    with open(os.path.join(outdir, "statements.txt"), "w") as f:
        for name, n in counts.items():
            f.write(f"{name} {n}\n")


if __name__ == "__main__":
    main()
