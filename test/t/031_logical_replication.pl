# A subscription into a production server: a TRUNCATE on the publisher,
# applied by the subscriber's apply worker, is refused and recorded, and
# the subscription waits until a DBA skips that transaction; a TRUNCATE of
# a table that holds no row goes through, recorded as allowed; replicated
# row changes are applied.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

# The publisher is a development server: what it does is not in question.
my $publisher = guard_node('publisher', environment => 'development',
	init => { allows_streaming => 'logical' });
$publisher->start;
my $subscriber = guard_node('subscriber',
	conf => "wal_retrieve_retry_interval = '200ms'\n");
$subscriber->start;
$subscriber->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($subscriber);

my $tables = q{
	CREATE TABLE score (id int PRIMARY KEY, points int);
	CREATE TABLE scratch (id int PRIMARY KEY);
};
$publisher->safe_psql('postgres', $tables . q{
	INSERT INTO score SELECT g, g FROM generate_series(1, 100) g;
	CREATE PUBLICATION pub FOR TABLE score, scratch;
});
$subscriber->safe_psql('postgres', $tables);
$subscriber->safe_psql('postgres', sprintf(
	q{CREATE SUBSCRIPTION sub CONNECTION 'host=%s port=%d dbname=postgres' PUBLICATION pub},
	$publisher->host, $publisher->port));
$subscriber->wait_for_subscription_sync($publisher, 'sub');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM score'), '100',
	'the subscriber has the rows');

# Row changes are applied: each names one row, as the publisher decided.
$publisher->safe_psql('postgres', 'DELETE FROM score WHERE id <= 10');
$publisher->wait_for_catchup('sub');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM score'), '90',
	'replicated row deletions are applied');

# A TRUNCATE of a table that holds no row loses nothing.
$publisher->safe_psql('postgres', 'TRUNCATE scratch');
$publisher->wait_for_catchup('sub');
is(audit_count($subscriber, q{command = 'TRUNCATE TABLE' AND objects = '{public.scratch}'
		AND verdict = 'allowed' AND statement LIKE '%subscription "sub"%'}),
	'1', 'a replicated TRUNCATE of an empty table goes through, recorded as allowed');

# A TRUNCATE of a table with rows is refused before its transaction commits.
my $offset = -s $subscriber->logfile;
$publisher->safe_psql('postgres', 'TRUNCATE score');
$publisher->safe_psql('postgres', 'INSERT INTO score VALUES (1000, 1)');
$subscriber->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM guard.audit
	WHERE command = 'TRUNCATE TABLE' AND objects = '{public.score}' AND verdict = 'blocked'})
  or die 'no refusal of the replicated TRUNCATE';
ok(log_lines($subscriber, qr/ERROR:  guard: TRUNCATE TABLE of "public\.score" refused in production/, $offset) >= 1,
	'the apply worker logs the refusal');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM score'), '90',
	'the subscriber keeps its rows');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM score WHERE id = 1000'), '0',
	'and the subscription waits: later transactions are not applied yet');
is($subscriber->safe_psql('postgres', q{
	SELECT statement FROM guard.audit
	WHERE command = 'TRUNCATE TABLE' AND verdict = 'blocked' ORDER BY id LIMIT 1}),
	'TRUNCATE public.score -- applied by subscription "sub"',
	'the record names the subscription');

# The DBA decides: skip that transaction, as the README says.
my $lsn;
for (1 .. 100)
{
	($lsn) = slurp_file($subscriber->logfile, $offset) =~ /finished at ([0-9A-F]+\/[0-9A-F]+)/;
	last if $lsn;
	select undef, undef, undef, 0.1;
}
ok($lsn, 'the log names the transaction to skip') or diag(slurp_file($subscriber->logfile, $offset));
$subscriber->safe_psql('postgres', "ALTER SUBSCRIPTION sub SKIP (lsn = '$lsn')");
$subscriber->poll_query_until('postgres', 'SELECT count(*) = 1 FROM score WHERE id = 1000')
  or die 'the subscription did not go on after the skip';
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM score'), '91',
	'after the skip, replication goes on and no row was lost');

$subscriber->stop;
$publisher->stop;
done_testing();
