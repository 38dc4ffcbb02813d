# guard.environment from the server's side: no client startup option can
# lower it, drivers are told its value (ParameterStatus), and a reload
# switches every session, including those already connected.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use GuardTest;

my $node = guard_node('settings');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
$node->safe_psql('postgres',
	'CREATE TABLE victim (id int); INSERT INTO victim SELECT generate_series(1, 10)');

# Startup options: refused, the connection with them.
foreach my $opt ('-c guard.environment=development', '-c guard.environment=staging',
	'-c guard.override=JIRA-1')
{
	local $ENV{PGOPTIONS} = $opt;
	# The statement is on psql's command line: psql, refused at connect,
	# may be gone before it could read its standard input.
	my ($ret, $out, $err) = $node->psql('postgres', undef,
		extra_params => [ '-c', 'DROP TABLE victim' ]);
	isnt($ret, 0, "startup option \"$opt\" is refused");
	like($err, qr/FATAL:  parameter "guard\.(environment|override)"/,
		"the connection with \"$opt\" fails with guard's message");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '10',
	'nothing was dropped');

# The same through the connection string.
$node->connect_fails($node->connstr('postgres') . " options='-c guard.environment=development'",
	'options in the connection string are refused too',
	expected_stderr => qr/parameter "guard\.environment" cannot be set from a session/);

# Drivers see the environment at connect time and on change.
my $python = '/usr/bin/python3';
my $driver = <<'PY';
import sys, time, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
print("connect:", conn.get_parameter_status("guard.environment"))
sys.stdout.flush()
cur = conn.cursor()
# Wait for the test to switch the environment, then ask again.
for _ in range(200):
    cur.execute("SELECT 1")
    if conn.get_parameter_status("guard.environment") != "production":
        break
    time.sleep(0.05)
print("after reload:", conn.get_parameter_status("guard.environment"))
PY
my $script = $node->basedir . '/status.py';
open(my $fh, '>', $script) or die;
print $fh $driver;
close $fh;

my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start([ $python, $script, $node->connstr('postgres') ],
	'>', \$stdout, '2>', \$stderr);
# Wait for the driver to have connected.
for (my $i = 0; $i < 200 && $stdout !~ /connect:/; $i++)
{
	IPC::Run::pump_nb($h);
	usleep(50_000);
}
like($stdout, qr/^connect: production$/m,
	'a driver reads guard.environment from ParameterStatus at connect');

# Reload into staging: sessions already connected follow.
my $log_offset = -s $node->logfile;
$node->adjust_conf('postgresql.conf', 'guard.environment', "'staging'");
$node->reload;
$h->finish;
like($stdout, qr/^after reload: staging$/m,
	'the driver is told of the change on its next statement');
is($stderr, '', 'the driver saw no error');
ok(scalar(log_lines($node, qr/guard: environment changed from "production" to "staging"/, $log_offset)),
	'the change is in the server log');

# In staging, a destructive statement runs with a warning.
$node->poll_query_until('postgres', "SELECT current_setting('guard.environment') = 'staging'");
my ($ret, $out, $err) = $node->psql('postgres', 'DELETE FROM victim WHERE id = 1; DELETE FROM victim');
is($ret, 0, 'in staging the statement runs');
like($err, qr/WARNING:  guard: DELETE of "public\.victim" would be refused in production/,
	'with a warning');

# A session that stays connected across a reload is switched too.
my $session = $node->background_psql('postgres');
$session->query_safe('SELECT 1');
$node->adjust_conf('postgresql.conf', 'guard.environment', "'development'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('guard.environment') = 'development'");
is($session->query_safe("SELECT current_setting('guard.environment')"), 'development',
	'an open session follows the reload');

# Back to production by ALTER SYSTEM and a reload: raising is recorded,
# not refused.
$node->safe_psql('postgres', "ALTER SYSTEM SET guard.environment = 'production'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('guard.environment') = 'production'");
is($session->query_safe("SELECT current_setting('guard.environment')"), 'production',
	'and back, by ALTER SYSTEM');
$session->quit;
$node->safe_psql('postgres', 'INSERT INTO victim SELECT generate_series(1, 5)');
($ret, $out, $err) = $node->psql('postgres', 'TRUNCATE victim');
isnt($ret, 0, 'after ALTER SYSTEM and a reload, production refuses again');
like($err, qr/guard: TRUNCATE TABLE of "public\.victim" refused in production/,
	'with the refusal');

# Lowering it by ALTER SYSTEM is refused in production: it cannot run in a
# transaction block, so no override reaches it; a permit is the way.
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET guard.environment = 'development'");
isnt($ret, 0, 'ALTER SYSTEM cannot lower the environment in production');
like($err, qr/guard: ALTER SYSTEM of "guard\.environment" refused in production.*HINT:  If this is intended, first run SELECT guard\.permit_alter_system\('guard\.environment', '<reason>'\)/s,
	'and says how to do it deliberately');
is($node->safe_psql('postgres', q{
	SELECT string_agg(verdict || ' ' || coalesce(old_value, '-') || ' -> ' || coalesce(new_value, '-'), ', ' ORDER BY id)
	FROM guard.audit WHERE command = 'ALTER SYSTEM'}),
	'allowed development -> production, blocked production -> development',
	'both ALTER SYSTEM statements are in the audit table, with old and new values');

is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '5',
	'the table holds what the test left in it');

$node->stop;
done_testing();
