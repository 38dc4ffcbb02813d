# guard.on_refusal = 'disconnect' behind a connection pooler (pgbouncer):
# the server session of the refused client ends with its refused statement,
# and the pool's other clients go on.
#
# The FATAL that ends the refused server session follows the refusal's
# ReadyForQuery in the same write, so pgbouncer reads both together: in
# session mode and in transaction mode alike, it closes the refused client
# with that server session ("server conn crashed?"), before it could hand
# the session to another client.  Each other client of the pool goes on,
# on a new server session if it shared the refused one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $pgbouncer = '/usr/sbin/pgbouncer';
-x $pgbouncer or BAIL_OUT("$pgbouncer is missing: install Debian's pgbouncer (test/lib.sh does)");

my $node = guard_node('pooled', on_refusal => 'disconnect');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', q{
	CREATE TABLE score (id int PRIMARY KEY, points int);
	INSERT INTO score SELECT g, g * 10 FROM generate_series(1, 5) g;
});

# pgbouncer in front of the node: one database name per pool mode, with a
# single server session in transaction mode, so that every client shares it.
my $dir = PostgreSQL::Test::Utils::tempdir();
my $user = getpwuid($<);
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $server = sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port);
open my $fh, '>', "$dir/users.txt" or die;
print $fh qq{"$user" ""\n};
close $fh;
open $fh, '>', "$dir/pgbouncer.ini" or die;
print $fh <<"INI";
[databases]
by_session = $server pool_mode=session pool_size=2
by_transaction = $server pool_mode=transaction pool_size=1
[pgbouncer]
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/users.txt
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
close $fh;
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ],
	'>', "$dir/stdout", '2>', "$dir/stderr");
my $up = 0;
for (1 .. 100)
{
	if (-S "$dir/.s.PGSQL.$port") { $up = 1; last; }
	select undef, undef, undef, 0.1;
}
ok($up, 'pgbouncer listens') or BAIL_OUT('pgbouncer did not start: ' . slurp_file("$dir/pgbouncer.log"));

# Two clients of one pool, as two application threads would be: b has used
# the pool before a's refusal and goes on using it after.
my $client = <<'PY';
import sys, psycopg2
dsn, block = sys.argv[1], sys.argv[2] == 'block'
def say(who, what):
    print(who + ":", what, flush=True)
def run(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()[0] if cur.description else 'ok'
a = psycopg2.connect(dsn)
b = psycopg2.connect(dsn)
a.autocommit = not block
b.autocommit = True
say("b before", run(b, "SELECT count(*) FROM score"))
try:
    run(a, "DROP TABLE score")
    say("a", "dropped")
except psycopg2.Error as e:
    say("a", "%s %s %s" % (type(e).__name__, e.pgcode, e.pgerror.splitlines()[0]))
if block:
    try:
        a.rollback()
        say("a rollback", "ok")
    except psycopg2.Error as e:
        say("a rollback", type(e).__name__)
for i in range(3):
    try:
        say("b after", run(b, "SELECT count(*) FROM score"))
    except psycopg2.Error as e:
        say("b after", "%s %s" % (type(e).__name__, str(e).splitlines()[0]))
try:
    a.autocommit = True
    say("a next", run(a, "SELECT count(*) FROM score"))
except psycopg2.Error as e:
    say("a next", "%s %s" % (type(e).__name__, str(e).splitlines()[0]))
PY

sub pooled
{
	my ($db, $mode) = @_;
	my ($out, $err);
	IPC::Run::run([ '/usr/bin/python3', '-c', $client,
		"host=$dir port=$port dbname=$db", $mode ], '>', \$out, '2>', \$err);
	note($err) if $err;
	return $out;
}

my $refusal = qr/^a: InsufficientPrivilege 42501 ERROR:  guard: DROP TABLE of "public\.score" refused in production$/m;
for my $mode ('autocommit', 'block')
{
	my $out = pooled('by_transaction', $mode);
	like($out, $refusal, "transaction pooling, $mode: the refused client gets its permission error");
	like($out, qr/^a rollback: ok$/m, "transaction pooling, block: ROLLBACK runs")
	  if $mode eq 'block';
	is(scalar(() = $out =~ /^b after: 5$/mg), 3,
		"transaction pooling, $mode: the other client's statements after the refusal all run")
	  or diag($out);
	like($out, qr/^a next: OperationalError /m,
		"transaction pooling, $mode: the refused client is disconnected with its server session");
}

my $out = pooled('by_session', 'autocommit');
like($out, $refusal, 'session pooling: the refused client gets its permission error');
like($out, qr/^a next: OperationalError /m,
	'session pooling: the refused client is disconnected with its server session');
is(scalar(() = $out =~ /^b after: 5$/mg), 3, 'session pooling: the other client goes on')
  or diag($out);

is($node->safe_psql('postgres', 'SELECT count(*) FROM score'), '5', 'no row was lost');
is(audit_count($node, q{command = 'DROP TABLE' AND verdict = 'blocked'}), '3',
	'each refusal through the pooler is in the audit table');

$bouncer->kill_kill;
$node->stop;
done_testing();
