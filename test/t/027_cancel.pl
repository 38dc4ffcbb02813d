# The wait for the audit row honours a query cancel and statement_timeout,
# and the record still lands somewhere: with the writer stopped (SIGSTOP)
# and guard.audit_timeout at a minute, a cancelled or timed-out refusal
# returns at once with guard's refusal, and its record is in the log.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $node = guard_node('cancel', conf => "guard.audit_timeout = '60s'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', 'CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)');
my $pid = writer_pid($node);
my $offset = -s $node->logfile;

kill 'STOP', $pid or die "could not stop the writer: $!";

# statement_timeout ends the wait.
my $start = time;
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '500ms'; DROP TABLE victim /* timed-out */");
my $elapsed = time - $start;
like($err, qr/guard: DROP TABLE of "public\.victim" refused in production/,
	'statement_timeout: the client gets the refusal');
cmp_ok($elapsed, '<', 20, "statement_timeout: well before guard.audit_timeout (took ${elapsed}s)");

# A query cancel ends the wait.
my $client = $node->background_psql('postgres', on_error_stop => 0);
$client->query_until(qr/sent/, "\\echo sent\nDROP TABLE victim /* cancelled */;\n\\echo done\n");
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE 'DROP TABLE victim /* cancelled */%' AND wait_event_type = 'Extension'})
  or die 'the refusal never waited';
$start = time;
$node->safe_psql('postgres', q{
	SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'DROP TABLE victim /* cancelled */%'});
$client->query_until(qr/done/, '');
$elapsed = time - $start;
like($client->{stderr}, qr/guard: DROP TABLE of "public\.victim" refused in production/,
	'cancel: the client gets the refusal');
cmp_ok($elapsed, '<', 20, "cancel: at once (took ${elapsed}s)");
$client->quit;

# Both records are in the log, saying the writer may still commit them.
my @fallback = log_lines($node, qr/guard audit fallback: .*"fallback":"the wait for the audit row was cancelled/, $offset);
is(scalar(grep { /timed-out/ } @fallback), 1, 'statement_timeout: the record is in the log');
is(scalar(grep { /cancelled \*\// } @fallback), 1, 'cancel: the record is in the log');

# The writer goes on, and commits them after all.
kill 'CONT', $pid;
$node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM guard.audit WHERE statement LIKE 'DROP TABLE victim /* %'})
  or die 'the writer never committed the two rows';

# And the log says so, with each id: "id":null is not its last word.
my %late;
foreach (1 .. 100)
{
	%late = map { /process (\d+) logged as a fallback at .* was committed later, with id (\d+)/ ? ($2 => $1) : () }
	  log_lines($node, qr/was committed later, with id/, $offset);
	last if keys %late == 2;
	select undef, undef, undef, 0.1;
}
is(join(',', sort { $a <=> $b } keys %late),
	$node->safe_psql('postgres', q{
		SELECT string_agg(id::text, ',' ORDER BY id) FROM guard.audit
		WHERE statement LIKE 'DROP TABLE victim /* %'}),
	'the log names the id each fallback record was committed with');
is(join(',', map { $late{$_} } sort { $a <=> $b } keys %late),
	$node->safe_psql('postgres', q{
		SELECT string_agg(backend_pid::text, ',' ORDER BY id) FROM guard.audit
		WHERE statement LIKE 'DROP TABLE victim /* %'}),
	'and the process that logged it');
pass('once the writer goes on, both rows are in the table too');
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '1', 'nothing was destroyed');

$node->stop;
done_testing();
