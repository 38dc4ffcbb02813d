"""Read callgrind output files for test/benchmark.

    callgrind.py total FILE
        the program's total instructions (Ir)

    callgrind.py explain STATEMENTS GUARD GUARD_EMPTY VANILLA VANILLA_EMPTY [TOP]
        Markdown: where guard's extra instructions go, for one script.  Each
        run's start and end (its *_EMPTY run: the same backend given only the
        check statement) is subtracted first, so only the statements count.
        Three views:
          1. guard.so's own code: instructions executed inside guard.so, per
             function (exact);
          2. the difference guard - vanilla per function, exclusive
             instructions, whatever the object (exact, sums to the measured
             difference; PostgreSQL's static functions have no symbol in
             Debian's stripped binary and show as addresses);
          3. the calls guard.so makes outside itself, inclusive, the
             statement handed on (standard_ProcessUtility,
             standard_ExecutorStart, any standard_*) left out.  An upper bound: a catalog
             lookup guard makes first also fills caches that the statement
             would otherwise fill itself a moment later.

The format is callgrind's (valgrind's manual, "Callgrind Format
Specification"): name compression "(id) name", positions "line" with
relative (+N, -N) and same-as-before (*) compression, a "calls=" line
followed by the cost line of that call (its inclusive cost).  Names that
callgrind splits by recursion depth (fn'2) are merged.
"""

import re
import sys
from collections import defaultdict

GUARD_OBJECT = re.compile(r"/guard\.so$")
# The calls through which guard's hooks hand the statement on
# (standard_ProcessUtility, standard_ExecutorStart, ...): vanilla pays them.
CHAIN = re.compile(r"^standard_")
RECURSION = re.compile(r"'\d+$")
KIND = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
        "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}
COMPRESSED = re.compile(r"\((\d+)\)(?: (.*))?$")


class Profile:
    def __init__(self):
        self.total = 0
        self.self_cost = defaultdict(int)           # (ob, fn) -> Ir
        self.calls = defaultdict(lambda: [0, 0])    # (ob, fn, cob, cfn) -> [count, Ir]


def parse(path):
    prof = Profile()
    names = {"ob": {}, "fl": {}, "fn": {}}
    ob = fn = cob = cfn = None
    pending_call = None   # the count of the call whose cost line comes next
    summary = totals = None

    def resolve(kind, value):
        m = COMPRESSED.match(value)
        if not m:
            return value
        ident, name = m.group(1), m.group(2)
        table = names[KIND[kind]]
        if name is not None:
            table[ident] = name
            return name
        return table.get(ident, "(%s)" % ident)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] == "#":
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending_call is not None:
                    entry = prof.calls[(ob, fn, cob if cob is not None else ob, cfn)]
                    entry[0] += pending_call
                    entry[1] += cost
                    pending_call = None
                    cob = None
                else:
                    prof.self_cost[(ob, fn)] += cost
                continue
            key, eq, value = line.partition("=")
            if eq and key in KIND:
                name = resolve(key, value)
                if key == "ob":
                    ob = name
                elif key == "fn":
                    fn = RECURSION.sub("", name)
                elif key == "cob":
                    cob = name
                elif key == "cfn":
                    cfn = RECURSION.sub("", name)
            elif eq and key == "calls":
                pending_call = int(value.split()[0])
            elif line.startswith("summary:"):
                summary = int(line.split()[1])
            elif line.startswith("totals:"):
                totals = int(line.split()[1])
    prof.total = totals if totals is not None else (summary or 0)
    return prof


def is_guard(ob):
    return ob is not None and GUARD_OBJECT.search(ob) is not None


def short(ob):
    return ob.rsplit("/", 1)[-1] if ob else "?"


def num(x):
    return "{:,}".format(x)


def guard_views(prof):
    """Per guard.so function: own Ir, entries from outside; calls out."""
    own = defaultdict(int)
    entered = defaultdict(int)
    callees = defaultdict(lambda: [0, 0])
    for (ob, fn), cost in prof.self_cost.items():
        if is_guard(ob):
            own[fn] += cost
    for (ob, fn, cob, cfn), (count, cost) in prof.calls.items():
        if is_guard(ob) and not is_guard(cob) and not CHAIN.match(cfn):
            callees[(fn, short(cob), cfn)][0] += count
            callees[(fn, short(cob), cfn)][1] += cost
        elif is_guard(cob) and not is_guard(ob):
            entered[cfn] += count
    return own, entered, callees


def minus(a, b):
    keys = set(a) | set(b)
    out = {}
    for k in keys:
        va, vb = a.get(k, 0), b.get(k, 0)
        if isinstance(va, list) or isinstance(vb, list):
            va = va if isinstance(va, list) else [0, 0]
            vb = vb if isinstance(vb, list) else [0, 0]
            out[k] = [va[0] - vb[0], va[1] - vb[1]]
        else:
            out[k] = va - vb
    return out


def explain(statements, guard, guard_empty, vanilla, vanilla_empty, top):
    g, ge, v, ve = (parse(p) for p in (guard, guard_empty, vanilla, vanilla_empty))
    measured = (g.total - ge.total) - (v.total - ve.total)
    per = (lambda x: "%.1f" % (x / statements)) if statements else (lambda x: "-")
    lines = []

    own_g, entered_g, callees_g = guard_views(g)
    own_e, entered_e, callees_e = guard_views(ge)
    own = minus(own_g, own_e)
    entered = minus(entered_g, entered_e)
    callees = minus(callees_g, callees_e)

    own_total = sum(own.values())
    share = (lambda x: "%.0f%%" % (x * 100.0 / measured)) if measured else (lambda x: "-")
    summary = "Measured: %s extra instructions per statement; guard.so's own code: %s (%s of it)" % (
        per(measured), per(own_total), share(own_total))
    biggest = sorted((kv for kv in callees.items() if kv[1][0] > 1), key=lambda kv: -kv[1][1])
    if biggest and biggest[0][1][1] > 0:
        (fn, cob, cfn), (count, cost) = biggest[0]
        summary += "; the largest call guard makes: `%s` -> `%s`, %s per statement inclusive (an upper bound: %s of the measured)" % (
            fn, cfn, per(cost), share(cost))
    lines.append(summary + ".")
    lines.append("")
    lines.append("**1. guard.so's own code** (instructions executed inside guard.so, the backend's start and end subtracted):")
    lines.append("")
    lines.append("| guard.so function | calls from PostgreSQL | Ir | per statement |")
    lines.append("|---|---:|---:|---:|")
    # Functions whose difference to the empty run is tiny are start-up only
    # (PLT stubs, _PG_init's helpers): left out.
    ranked = sorted((kv for kv in own.items() if abs(kv[1]) >= 100), key=lambda kv: -kv[1])
    for fn, cost in ranked:
        lines.append("| `%s` | %s | %s | %s |" % (
            fn, num(entered[fn]) if entered.get(fn) else "", num(cost), per(cost)))
    lines.append("| **all of guard.so** | | **%s** | **%s** |" % (num(own_total), per(own_total)))
    lines.append("")

    diff = minus(minus(g.self_cost, ge.self_cost), minus(v.self_cost, ve.self_cost))
    lines.append("**2. guard - vanilla, per function** (exclusive instructions; sums to the measured difference, %s, %s per statement; "
                 "libc's string functions move a little either way with the same number of calls: the same comparisons "
                 "on strings at other addresses, whose alignment changes the vector code's path):" % (num(measured), per(measured)))
    lines.append("")
    lines.append("| function | object | extra Ir | per statement |")
    lines.append("|---|---|---:|---:|")
    ranked = sorted((kv for kv in diff.items() if kv[1] != 0), key=lambda kv: -abs(kv[1]))
    for (ob, fn), cost in ranked[:top]:
        lines.append("| `%s` | %s | %s | %s |" % (fn, short(ob), num(cost), per(cost)))
    rest = ranked[top:]
    if rest:
        cost = sum(c for _, c in rest)
        lines.append("| %d other functions | | %s | %s |" % (len(rest), num(cost), per(cost)))
    lines.append("")

    lines.append("**3. calls guard.so makes outside itself** (inclusive: the callee and all it calls; the statement handed on to standard_* left out; an upper bound, see above):")
    lines.append("")
    lines.append("| guard.so function | calls | callee | object | Ir | per statement |")
    lines.append("|---|---:|---|---|---:|---:|")
    ranked = sorted((kv for kv in callees.items() if kv[1][0] > 1 and abs(kv[1][1]) >= 100),
                    key=lambda kv: -kv[1][1])
    for (fn, cob, cfn), (count, cost) in ranked[:top]:
        lines.append("| `%s` | %s | `%s` | %s | %s | %s |" % (fn, num(count), cfn, cob, num(cost), per(cost)))
    rest = ranked[top:]
    if rest:
        cost = sum(c for _, (n, c) in rest)
        lines.append("| %d others | | | | %s | %s |" % (len(rest), num(cost), per(cost)))
    if not ranked:
        lines.append("| (none) | | | | 0 | 0 |")
    return "\n".join(lines)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "total":
        print(parse(sys.argv[2]).total)
    elif len(sys.argv) >= 7 and sys.argv[1] == "explain":
        top = int(sys.argv[7]) if len(sys.argv) > 7 else 15
        print(explain(int(sys.argv[2]), *sys.argv[3:7], top))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
