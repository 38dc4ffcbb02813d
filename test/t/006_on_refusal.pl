# guard.on_refusal = 'disconnect' (the default): after a refused statement
# the client receives the refusal's ERROR as usual (SQLSTATE 42501, guard's
# message, then ReadyForQuery), and its session ends before it can run
# another statement.  A script that ignores errors stops at its first
# refusal; other sessions go on; 'error' keeps the session open.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('refusal', on_refusal => 'disconnect');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', q{
	CREATE TABLE score (id int PRIMARY KEY, points int);
	INSERT INTO score SELECT g, g * 10 FROM generate_series(1, 5) g;
});
my $checksum_sql = q{SELECT count(*) || ' ' || sum(points) FROM score};
my $before = $node->safe_psql('postgres', $checksum_sql);

# psql -f without ON_ERROR_STOP: a fixture script meant for a test database.
my $script = PostgreSQL::Test::Utils::tempdir() . '/reset.sql';
open my $fh, '>', $script or die;
print $fh "DROP TABLE score;\n"
  . "CREATE TABLE score (id int PRIMARY KEY, points int);\n"
  . "INSERT INTO score VALUES (100, 1), (101, 2);\n";
close $fh;
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'psql', '-X', '-d', $node->connstr('postgres'), '-f', $script ],
	'>', \$stdout, '2>', \$stderr);
like($stderr, qr/ERROR:  guard: DROP TABLE of "public\.score" refused in production/,
	'psql -f: the refusal is reported');
like($stderr, qr/FATAL:  guard: this session ends after its refused statement/,
	'psql -f: the next statement ends the session');
unlike($stderr, qr/relation "score" already exists/, 'psql -f: the CREATE never ran');
ok(!$ok, 'psql -f exits with a failure status');
is($node->safe_psql('postgres', $checksum_sql), $before, 'psql -f: nothing was inserted');

# psycopg2, as an application would use it.
my $python = '/usr/bin/python3';
my $client = <<'PY';
import sys, psycopg2, psycopg2.errors
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
try:
    cur.execute("DROP TABLE score")
except psycopg2.Error as e:
    print("first:", type(e).__name__, e.pgcode, e.pgerror.splitlines()[0])
try:
    conn.rollback()
    print("rollback: ok")
except psycopg2.Error as e:
    print("rollback:", type(e).__name__)
try:
    cur = conn.cursor()
    cur.execute("INSERT INTO score VALUES (200, 1)")
    conn.commit()
    print("second: ran")
except psycopg2.Error as e:
    print("second:", type(e).__name__, e.pgcode)
print("closed:", conn.closed != 0)
PY
my ($py_out, $py_err);
IPC::Run::run([ $python, '-c', $client, $node->connstr('postgres') ], '>', \$py_out, '2>', \$py_err);
like($py_out, qr/^first: InsufficientPrivilege 42501 ERROR:  guard: DROP TABLE of "public\.score" refused in production$/m,
	'psycopg2: its usual permission error, with SQLSTATE 42501 and guard\'s message')
  or diag($py_err);
like($py_out, qr/^rollback: ok$/m, 'psycopg2: ROLLBACK still runs');
like($py_out, qr/^second: OperationalError/m, 'psycopg2: the next statement finds the session gone');
like($py_out, qr/^closed: True$/m, 'psycopg2: the connection is closed');
is($node->safe_psql('postgres', $checksum_sql), $before, 'psycopg2: nothing was inserted');

# A function that catches the refusal runs nothing after it either.
my ($ret, $out, $err) = $node->psql('postgres', q{
	DO $$
	BEGIN
		BEGIN
			DROP TABLE score;
		EXCEPTION WHEN insufficient_privilege THEN
			RAISE NOTICE 'caught';
		END;
		INSERT INTO score VALUES (300, 1);
	END
	$$;});
like($err, qr/FATAL:  guard: this session ends/, 'a caught refusal: the next statement ends the session');
is($node->safe_psql('postgres', $checksum_sql), $before, 'and nothing was inserted');

# Other sessions go on: one open before the refusal, and new ones.
my $other = $node->background_psql('postgres');
$other->query_safe('SELECT 1');
($ret, $out, $err) = $node->psql('postgres', "DROP TABLE score; SELECT 'after'");
like($err, qr/refused in production/, 'a refusal in another session');
is($other->query_safe('SELECT count(*) FROM score'), '5', 'a session open meanwhile goes on');
$other->quit;
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'new sessions connect as usual');

# Every refusal is recorded.
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE command = 'DROP TABLE' AND verdict = 'blocked'
		AND database = 'postgres'}),
	'4', 'each refusal is in the audit table');

# A misdirected pg_restore --clean of an older dump, without
# --single-transaction: it stops at its first refused DROP TABLE, before it
# appends a row or rewinds a sequence.
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	CREATE TABLE customer (id serial PRIMARY KEY, name text);
	CREATE TABLE purchase (id serial PRIMARY KEY, customer_id int REFERENCES customer, total int);
	INSERT INTO customer (name) SELECT 'c' || g FROM generate_series(1, 20) g;
	INSERT INTO purchase (customer_id, total) SELECT 1 + g % 20, g FROM generate_series(1, 100) g;
});
my $dump = PostgreSQL::Test::Utils::tempdir() . '/shop.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'an older dump');
$node->safe_psql('shop', q{
	INSERT INTO customer (name) VALUES ('newer');
	INSERT INTO purchase (customer_id, total) VALUES (1, 1000);
});
my $state_sql = q{
	SELECT (SELECT count(*) || '/' || sum(total) FROM purchase) || ' '
		|| (SELECT count(*) FROM customer) || ' '
		|| (SELECT last_value FROM customer_id_seq) || ' '
		|| (SELECT last_value FROM purchase_id_seq)};
my $shop_before = $node->safe_psql('shop', $state_sql);
$ok = IPC::Run::run([ 'pg_restore', '--clean', '-d', $node->connstr('shop'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok(!$ok, 'pg_restore --clean fails');
like($stderr, qr/guard: DROP (TABLE|SEQUENCE) of "public\.\w+" refused in production/,
	'pg_restore: its first DROP of data (a used sequence, then tables) is refused');
is($node->safe_psql('shop', $state_sql), $shop_before,
	'pg_restore: every table has the same rows and every sequence the same value');

# 'error': the session goes on after a refusal.
$node->append_conf('postgresql.conf', "guard.on_refusal = 'error'\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('guard.on_refusal') = 'error'})
  or die 'the reload did not take';
($ret, $out, $err) = $node->psql('postgres', "DROP TABLE score;\nSELECT 'still here';",
	on_error_stop => 0);
like($out, qr/still here/, "with 'error', the session goes on");
unlike($err, qr/FATAL/, "with 'error', no FATAL");

$node->stop;
done_testing();
