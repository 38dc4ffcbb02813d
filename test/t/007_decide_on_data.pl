# Decided on data, in production: work that destroys no row runs
# (pgbench -i on a new database), one row is enough to refuse, and the
# emptiness that lets a DROP through is established under the DROP's own
# lock, so that rows inserted concurrently are never lost.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('data');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);

# pgbench -i on a new database: it drops, creates and truncates its own,
# still empty, tables.
$node->safe_psql('postgres', 'CREATE DATABASE bench');
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pgbench', '-i', '-s', '1', '-d', $node->connstr('bench') ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pgbench -i succeeds on a new production database') or diag($stderr);
is($node->safe_psql('bench', 'SELECT count(*) FROM pgbench_accounts'), '100000',
	'and loads its data');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit
	WHERE database = 'bench' AND verdict = 'allowed' AND reason = 'the table held no rows'}),
	'1', 'its TRUNCATE of empty tables is recorded as allowed, with the reason');

# Run again, it would destroy the data: refused.
$ok = IPC::Run::run([ 'pgbench', '-i', '-s', '1', '-d', $node->connstr('bench') ],
	'>', \$stdout, '2>', \$stderr);
ok(!$ok, 'pgbench -i over loaded tables fails');
like($stderr, qr/guard: DROP TABLE of .*"public\.pgbench_accounts".* refused in production/,
	'because guard refuses its DROP TABLE');
is($node->safe_psql('bench', 'SELECT count(*) FROM pgbench_accounts'), '100000',
	'and every row is there');

# A DROP racing an INSERT: the DROP cannot see the uncommitted row, so it
# waits for its lock; once the INSERT commits, the row is there and the
# DROP is refused.
$node->safe_psql('postgres', 'CREATE TABLE racing (id int)');
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe('INSERT INTO racing VALUES (1)');
my $dropper = $node->background_psql('postgres', on_error_stop => 0);
$dropper->query_until(qr/dropping/, "\\echo dropping\nDROP TABLE racing;\n\\echo dropped\n");
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pg_stat_activity
	WHERE query = 'DROP TABLE racing;' AND wait_event_type = 'Lock'})
  or die 'the DROP never waited';
pass('the DROP waits for the lock the INSERT holds');
$writer->query_safe('COMMIT');
$dropper->query_until(qr/dropped/, '');
like($dropper->{stderr}, qr/guard: DROP TABLE of "public\.racing" refused in production/,
	'once the INSERT commits, the DROP is refused');
$dropper->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM racing'), '1', 'the inserted row is there');

# The same race, with the INSERT rolled back: the table is empty and drops.
$writer->query_safe('BEGIN');
$writer->query_safe('INSERT INTO racing VALUES (2)');
$writer->query_safe('ROLLBACK');
$node->safe_psql('postgres', 'DELETE FROM racing WHERE id = 1');
my ($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE racing');
is($ret, 0, 'a table whose rows were all deleted drops');
$writer->quit;

# One row is enough.
$node->safe_psql('postgres', 'CREATE TABLE one_row (id int); INSERT INTO one_row VALUES (1)');
foreach my $sql ('DROP TABLE one_row', 'TRUNCATE one_row', 'DELETE FROM one_row')
{
	($ret, $out, $err) = $node->psql('postgres', $sql);
	like($err, qr/refused in production/, "one row: $sql is refused");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM one_row'), '1', 'and the row is there');

$node->stop;
done_testing();
