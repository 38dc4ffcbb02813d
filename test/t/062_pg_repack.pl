# pg_repack, the usual tool for online table maintenance, on a production
# server.  pg_repack copies the table into its own schema, "repack", logs
# the writes meanwhile in a log table there, swaps the storage, and then
# empties and drops its work tables, which guard refuses like any other
# table with rows, and its error clean-up retries a refused drop on new
# connections without end.  So without the set-up, guard refuses pg_repack
# at its start, when it creates its first work table: it stops at once,
# with guard's hint, having changed nothing.
# After the set-up (one label on schema repack, with the override), it
# runs, and every row is intact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('repack', on_refusal => 'disconnect');
plan skip_all => 'Debian does not package pg_repack for this major (postgresql-NN-repack)'
  unless extension_available($node, 'pg_repack');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_repack;
	CREATE TABLE big (id int PRIMARY KEY, v text);
	INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	DELETE FROM big WHERE id % 2 = 0;
});
my $sum_sql = q{SELECT count(*) || ' ' || sum(hashtext(v)) FROM big};
my $sum = $node->safe_psql('postgres', $sum_sql);
my $filenode = $node->safe_psql('postgres', q{SELECT pg_relation_filenode('big')});

# pg_repack -t big; with a time limit, stopped as a DBA would (Ctrl-C).
sub repack
{
	my ($limit) = @_;
	my ($stdout, $stderr) = ('', '');
	my $h = IPC::Run::start([ 'pg_repack', '-h', $node->host, '-p', $node->port,
		'-d', 'postgres', '-t', 'big' ], '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout($limit));
	my $ok = eval { $h->finish; $h->result(0) == 0 };
	if (!defined $ok)
	{
		$h->kill_kill;
		return (undef, $stderr);
	}
	return ($ok, $stderr);
}

# Without the set-up: pg_repack is refused at its start, when it creates
# its log table, with the hint; it stops there, having changed nothing.
my ($ok, $err) = repack(60);
ok(defined $ok && !$ok, 'without the set-up, pg_repack fails at once');
like($err, qr/guard: CREATE TABLE of "repack\.log_\d+" refused in production/,
	'at guard\'s refusal of its first work table');
like($err, qr/SECURITY LABEL FOR guard ON SCHEMA repack IS 'drop,delete'/,
	'with the hint that gives the set-up');
is($node->safe_psql('postgres', $sum_sql), $sum, 'every row is intact');
is($node->safe_psql('postgres', q{SELECT pg_relation_filenode('big')}), $filenode,
	'the table was not touched');
is(audit_count($node, q{verdict = 'blocked' AND objects[1] LIKE 'repack.%'}), '1',
	'one refusal, recorded: no retries');

# What a pg_repack stopped half-way leaves (its trigger on the table, its
# work tables) is removed as the README says; here there is nothing.
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_trigger WHERE tgrelid = 'big'::regclass AND tgname LIKE 'repack%'}),
	'0', 'no trigger of pg_repack is left on the table');
$node->safe_psql('postgres', q{
	BEGIN;
	SET LOCAL guard.override = 'OPS-11: remove what a stopped pg_repack left';
	DROP EXTENSION pg_repack CASCADE;
	COMMIT;
	CREATE EXTENSION pg_repack;
});

# The set-up, once after each CREATE EXTENSION pg_repack.
$node->safe_psql('postgres', q{
	BEGIN;
	SET LOCAL guard.override = 'OPS-12: pg_repack may empty and drop its own work tables';
	SECURITY LABEL FOR guard ON SCHEMA repack IS 'drop,delete';
	COMMIT;
});
($ok, $err) = repack(120);
ok($ok, 'after the set-up, pg_repack -t succeeds') or diag($err);
is($node->safe_psql('postgres', $sum_sql), $sum, 'every row is intact');
isnt($node->safe_psql('postgres', q{SELECT pg_relation_filenode('big')}), $filenode,
	'the table was rewritten');
ok(audit_count($node, q{verdict = 'allowed' AND command = 'DROP TABLE' AND objects[1] LIKE 'repack.%'}) >= 1,
	'its drops are recorded as allowed');
is(audit_count($node, q{verdict = 'allowed' AND objects && '{public.big}'}), '0',
	'nothing of the user\'s table was let through');

# The label exempts pg_repack's schema only: the user's table is protected.
my ($ret, $out, $err2) = $node->psql('postgres', 'DROP TABLE big');
like($err2, qr/guard: DROP TABLE of "public\.big" refused in production/,
	'the repacked table is still protected');

$node->stop;
done_testing();
