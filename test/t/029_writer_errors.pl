# The writer recovers from errors in its own loop instead of exiting: a
# query cancel (pg_cancel_backend) while it is idle or while it waits for a
# lock leaves the same process writing, and no record falls back to the
# log.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('writer_errors', conf => "guard.audit_timeout = '30s'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', 'CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)');
my $pid = writer_pid($node);
my $offset = -s $node->logfile;

sub refuse
{
	my ($marker) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "DROP TABLE victim /* $marker */");
	like($err, qr/refused in production/, "$marker: refused");
}

# Cancelled while idle.
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $reported = 0;
foreach (1 .. 100)
{
	$reported = log_lines($node, qr/canceling statement due to user request/, $offset);
	last if $reported;
	select undef, undef, undef, 0.1;
}
ok($reported, 'idle: the writer reports the cancel');
refuse('after-idle-cancel');
is(writer_pid($node), $pid, 'idle: the same writer process goes on');
is(audit_count($node, q{statement LIKE '%after-idle-cancel%'}), '1',
	'idle: the next refusal is a committed row');

# Cancelled while it waits for a lock on guard.audit: that try ends, and
# the rows are written once the lock is gone.
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE guard.audit IN ACCESS EXCLUSIVE MODE');
my $client = $node->background_psql('postgres', on_error_stop => 0);
$client->query_until(qr/sent/, "\\echo sent\nDROP TABLE victim /* during-lock */;\n\\echo done\n");
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_locks WHERE pid = $pid AND NOT granted})
  or die 'the writer never waited for the lock';
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_locks WHERE pid = $pid AND NOT granted})
  or die 'the writer did not wait again after the cancel';
$locker->query_safe('COMMIT');
$client->query_until(qr/done/, '');
like($client->{stderr}, qr/refused in production/, 'lock: the client gets the refusal');
$client->quit;
is(writer_pid($node), $pid, 'lock: the same writer process goes on');
is(audit_count($node, q{statement LIKE '%during-lock%'}), '1',
	'lock: the row was committed after the cancel');
is(scalar(log_lines($node, qr/guard audit fallback:/, $offset)), 0,
	'nothing fell back to the log');

$locker->quit;

$node->stop;
done_testing();
