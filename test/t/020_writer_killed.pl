# The audit writer dies or stalls while clients are being refused: every
# refusal a client saw is still in guard.audit or in the server log, a
# stalled writer delays a refusal by no more than guard.audit_timeout, and
# the writer comes back and commits rows again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use GuardTest;

my $nclients = 4;
my $timeout_ms = 500;

# The test framework turns crash-restarts off; a killed writer must not
# take the server down for good.
my $node = guard_node('writer_killed',
	conf => "restart_after_crash = on\n"
	  . "guard.audit_timeout = ${timeout_ms}ms\n"
	  . "guard.audit_queue_size = 16\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
foreach my $c (1 .. $nclients)
{
	$node->safe_psql('postgres',
		"CREATE TABLE victim_$c (id int); INSERT INTO victim_$c VALUES (1)");
}
wait_for_writer($node);

# Clients that keep being refused, paced so that they are still running
# when the fault comes.
sub start_clients
{
	my ($prefix, $count) = @_;
	my @clients;
	foreach my $c (1 .. $nclients)
	{
		my $script = $node->basedir . "/$prefix-c$c.sql";
		my $by_line = refusal_script($script, "$prefix-c$c", $count,
			table => "victim_$c", pause => 0.01);
		my $client = start_client($node, 'postgres', $script,
			application_name => "$prefix-c$c");
		$client->{by_line} = $by_line;
		push @clients, $client;
	}
	return @clients;
}

# Wait until every client has seen a refusal (its second is in the table)
# and there are $n in all.
sub wait_for_rows
{
	my ($prefix, $n) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = $nclients AND sum(n) >= $n FROM "
		  . "(SELECT count(*) AS n FROM guard.audit WHERE statement LIKE '%/* $prefix-%' "
		  . "GROUP BY application_name HAVING count(*) >= 2) AS c")
	  or die "no audit rows for $prefix";
}

# Later refusals go to the table again: committed before the ERROR.
sub check_committed_again
{
	my ($prefix, $name) = @_;
	foreach my $i (1 .. 3)
	{
		my ($ret, $out, $err) =
		  $node->psql('postgres', "DROP TABLE victim_1 /* $prefix-$i */");
		like($err, qr/ERROR:  guard: DROP TABLE of "public\.victim_1" refused in production/,
			"$name: refusal $i");
		is(audit_count($node, "statement = 'DROP TABLE victim_1 /* $prefix-$i */'"),
			'1', "$name: refusal $i is in guard.audit when the client sees it");
	}
}

# 1. SIGKILL: the postmaster reinitializes the whole server.
my $offset = -s $node->logfile;
my $old_pid = $node->safe_psql('postgres', 'SELECT writer_pid FROM guard.status()');
is(writer_pid($node), $old_pid, 'guard.status() names the writer pg_stat_activity shows');

my $count = 400;
my @clients = start_clients('kill', $count);
wait_for_rows('kill', 20);
kill 'KILL', $old_pid or die "could not kill the writer: $!";

my @seen;
my $cut = 0;
foreach my $client (@clients)
{
	finish_client($client);
	my ($refused, $other) = refusals_seen($client, $client->{by_line});
	push @seen, @$refused;
	$cut++ if @$refused < $count;
	ok(@$refused > 0, "kill: $client->{name} saw refusals before the crash");
	# What else a client may see: its connection ending with the crash.
	my @unexpected = grep { !/terminating connection|server closed the connection|connection to server was lost/ } @$other;
	is(scalar(@unexpected), 0, "kill: no other error in $client->{name}")
	  or diag(join("\n", @unexpected));
}
is($cut, $nclients, 'kill: every client was cut off by the crash-restart');

ok( scalar(log_lines($node,
		qr/background worker "guard writer" \(PID $old_pid\) was terminated by signal 9/,
		$offset)),
	'kill: the log shows the writer killed');
# The server is back once the writer is ready again.
wait_for_writer($node);
my $new_pid = $node->safe_psql('postgres', 'SELECT writer_pid FROM guard.status()');
isnt($new_pid, $old_pid, 'kill: a new writer runs after the crash-restart');
is(writer_pid($node), $new_pid, 'kill: pg_stat_activity shows the new writer');

my $found = check_recorded($node, \@seen, qr/kill-c\d+-\d+/, $offset, 'kill');
note(sprintf('kill: %d refusals seen, %d in guard.audit, %d fallback lines',
		scalar(@seen), scalar(grep { $found->{table}{$_} } @seen),
		scalar(grep { $found->{fallback}{$_} } @seen)));
check_committed_again('kill-after', 'kill');

# 2. SIGSTOP: the writer is stuck, but alive.  Refusals wait for it no
# longer than guard.audit_timeout; once the queue has filled with rows
# nobody waits for any more, they go to the log at once.
$offset = -s $node->logfile;
$count = 200;
my $pid = $new_pid;
@clients = start_clients('stop', $count);
wait_for_rows('stop', 20);
# Stop the writer where it waits for work: stopped in the microseconds it
# holds guard's LWLock, it would stall every session, as any PostgreSQL
# process stopped holding an LWLock does.
my $stopped = 0;
foreach (1 .. 200)
{
	kill 'STOP', $pid or die "could not stop the writer: $!";
	last if $stopped = ($node->safe_psql('postgres',
			"SELECT wait_event IN ($GuardTest::writer_idle) FROM pg_stat_activity WHERE pid = $pid") eq 't');
	kill 'CONT', $pid;
	usleep(10_000);
}
ok($stopped, 'stop: the writer is stopped while it waits for work');

my ($elapsed, $err) = refuse_timed($node, 'postgres', 'DROP TABLE victim_1 /* stop-timed */');
like($err, qr/ERROR:  guard: DROP TABLE of "public\.victim_1" refused in production/,
	'stop: a statement is refused while the writer is stopped');
cmp_ok($elapsed, '<', 10 * $timeout_ms / 1000,
	"stop: the refusal did not wait much longer than guard.audit_timeout (took ${elapsed}s)");
note("stop: refusal took ${elapsed}s with guard.audit_timeout = ${timeout_ms}ms");

# Keep the writer stopped until the queue is full: a statement that finds
# it full waits guard.audit_timeout for a slot, then falls back.
my $full = 0;
foreach (1 .. 300)
{
	last if $full = scalar(log_lines($node,
			qr/guard audit fallback: .*"fallback":"the audit queue was full \(16 rows\) for guard\.audit_timeout"/,
			$offset));
	usleep(100_000);
}
kill 'CONT', $pid or die "could not continue the writer: $!";
ok($full, 'stop: the queue filled while the writer was stopped');

@seen = ('stop-timed');
foreach my $client (@clients)
{
	is(finish_client($client), 0, "stop: $client->{name} ran to the end");
	my ($refused, $other) = refusals_seen($client, $client->{by_line});
	push @seen, @$refused;
	is(scalar(@$refused), $count, "stop: every statement of $client->{name} was refused");
	is(scalar(@$other), 0, "stop: no other error in $client->{name}")
	  or diag(join("\n", @$other));
}

$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()')
  or die 'the queue never drained';
is($node->safe_psql('postgres', 'SELECT writer_state, writer_pid FROM guard.status()'),
	"ready|$pid", 'stop: the same writer is ready again');

$found = check_recorded($node, \@seen, qr/stop-(?:c\d+-\d+|timed)/, $offset, 'stop');
my %reasons;
foreach my $m (@seen)
{
	$reasons{$_}++ foreach @{ $found->{fallback}{$m} // [] };
}
ok($found->{fallback}{'stop-timed'}, 'stop: the timed refusal is a fallback line');
ok($reasons{"the audit row was not committed within $timeout_ms ms"},
	'stop: some refusals gave up waiting after guard.audit_timeout');
note("stop: fallback reasons: "
	  . join('; ', map { "$_: $reasons{$_}" } sort keys %reasons));
note(sprintf('stop: %d refusals seen, %d in guard.audit, %d fallback lines, %d in both',
		scalar(@seen), scalar(grep { $found->{table}{$_} } @seen),
		scalar(grep { $found->{fallback}{$_} } @seen),
		scalar(grep { $found->{table}{$_} && $found->{fallback}{$_} } @seen)));
check_committed_again('stop-after', 'stop');

# 3. SIGTERM: the writer exits cleanly and the postmaster starts a new one
# 5 s later; meanwhile refusals go to the log at once.
$offset = -s $node->logfile;
$pid = $node->safe_psql('postgres', 'SELECT writer_pid FROM guard.status()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres', "SELECT writer_state <> 'ready' FROM guard.status()")
  or die 'the writer did not stop';
($elapsed, $err) = refuse_timed($node, 'postgres', 'DROP TABLE victim_1 /* term-1 */');
like($err, qr/ERROR:  guard: DROP TABLE of "public\.victim_1" refused in production/,
	'term: a statement is refused while the writer is down');
my ($committed, $fallback) = audit_log_records($node, $offset);
my @term = grep { $_->{statement} =~ /term-1/ } @$fallback;
is(scalar(@term), 1, 'term: the refusal is one fallback line');
like($term[0]{fallback} // '', qr/^the audit writer is (stopped|starting)$/,
	'term: the fallback line says the writer is not running');
wait_for_writer($node);
isnt($node->safe_psql('postgres', 'SELECT writer_pid FROM guard.status()'), $pid,
	'term: a new writer runs');
check_committed_again('term-after', 'term');

$node->stop;
done_testing();
