# The server crashes again and again under clients that are being refused
# and that reconnect each time: the audit writer killed with SIGKILL five
# times (each a crash-restart), then the postmaster stopped with -m
# immediate and started again.  Statements are refused throughout, every
# refusal a client saw is a row of guard.audit or a fallback line in the
# log, committed rows survive, and guard is back to committing rows by
# itself once the server is.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $nclients = 3;
my $kills = 5;
my $refused = qr/ERROR:  guard: DROP TABLE of "public\.victim_1" refused in production/;

# The test framework turns crash-restarts off.
my $node = guard_node('crash_storms', conf => "restart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
foreach my $c (1 .. $nclients)
{
	$node->safe_psql('postgres',
		"CREATE TABLE victim_$c (id int); INSERT INTO victim_$c VALUES ($c)");
}
wait_for_writer($node);

sub start_clients
{
	my ($prefix) = @_;
	return map {
		start_storm($node, 'postgres', "$prefix-c$_",
			table => "victim_$_", count => 150, pause => 0.01)
	} 1 .. $nclients;
}

# Wait until every client has had two refusals committed after row $after:
# it is connected, and it has seen the first of them (a client sends its
# next statement only once it has the previous one's ERROR).
sub wait_for_clients
{
	my ($prefix, $after) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = $nclients FROM (SELECT application_name FROM guard.audit "
		  . "WHERE id > $after AND application_name LIKE '$prefix-c%' "
		  . "GROUP BY application_name HAVING count(*) >= 2) AS c")
	  or die "the clients of $prefix were not all refused after row $after";
}

sub max_id
{
	return $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM guard.audit');
}

# What the clients saw; each must have gone on after $min_generations - 1
# lost connections.
sub collect
{
	my ($name, $min_generations, @clients) = @_;
	my @seen;
	my $cut = 0;
	foreach my $client (@clients)
	{
		my $s = storm_seen($client);
		push @seen, @{ $s->{refused} };
		cmp_ok($s->{generations}, '>=', $min_generations,
			"$name: $client->{name} reconnected and was refused again each time");
		$cut++ if $s->{cut};
		is(scalar(@{ $s->{unexpected} }), 0,
			"$name: no error but refusals and lost connections in $client->{name}")
		  or diag(join("\n", @{ $s->{unexpected} }));
		note("$name: $client->{name}: " . scalar(@{ $s->{refused} })
			  . " refusals in $s->{generations} connections, $s->{cut} cut off");
	}
	return ($cut, @seen);
}

# Later refusals are rows of guard.audit when the client sees them.
sub check_committed_again
{
	my ($prefix, $name) = @_;
	my $offset = -s $node->logfile;
	foreach my $i (1 .. 3)
	{
		my $stmt = "DROP TABLE victim_1 /* $prefix-$i */";
		my ($ret, $out, $err) = $node->psql('postgres', $stmt);
		like($err, $refused, "$name: refusal $i");
		is(audit_count($node, "statement = '$stmt'"), '1',
			"$name: refusal $i is in guard.audit when the client sees it");
	}
	my ($committed, $fallback) = audit_log_records($node, $offset);
	is(scalar(grep { ($_->{statement} // '') =~ /\Q$prefix\E-/ } @$committed), 3,
		"$name: each has its \"guard audit:\" line");
	is(scalar(grep { ($_->{statement} // '') =~ /\Q$prefix\E-/ } @$fallback), 0,
		"$name: and no fallback line");
}

sub reasons
{
	my ($found, @seen) = @_;
	my %reasons;
	foreach my $m (@seen)
	{
		$reasons{$_}++ foreach @{ $found->{fallback}{$m} // [] };
	}
	return join('; ', map { "$_: $reasons{$_}" } sort keys %reasons) || 'none';
}

# 1. The writer killed with SIGKILL five times, each time once the server
# is back and every client is being refused again.  Each kill makes the
# postmaster reinitialize the whole server, cutting every client off.
my $offset = -s $node->logfile;
my @clients = start_clients('kill');
my $after = 0;
my @killed;
foreach my $k (1 .. $kills)
{
	wait_for_clients('kill', $after);
	# A few seconds of storm between two crashes.
	sleep 2;
	my $pid = $node->safe_psql('postgres', 'SELECT writer_pid FROM guard.status()');
	like($pid, qr/^\d+$/, "kill $k: the writer runs");
	push @killed, $pid;
	kill 'KILL', $pid or die "could not kill the writer: $!";
	# The writer of the reinitialized server: guard.status() named the
	# dead one until shared memory was reset.
	ok( $node->poll_query_until('postgres',
			"SELECT writer_state = 'ready' AND writer_pid <> $pid FROM guard.status()"),
		"kill $k: a new writer is ready after the crash-restart")
	  or die "the writer did not come back after kill $k";
	is($node->safe_psql('postgres', 'SELECT id FROM victim_1'), '1',
		"kill $k: the server serves other sessions again, data intact");
	$after = max_id();
}
# The clients reconnect after the last crash too.
wait_for_clients('kill', $after);
stop_storm(@clients);

foreach my $pid (@killed)
{
	is( scalar(log_lines($node,
				qr/background worker "guard writer" \(PID $pid\) was terminated by signal 9/,
				$offset)),
		1, "the log shows writer $pid killed");
}
is(scalar(log_lines($node, qr/all server processes terminated; reinitializing/, $offset)),
	$kills, "the server was reinitialized $kills times");
my $final = $node->safe_psql('postgres', 'SELECT writer_pid FROM guard.status()');
is(scalar(keys %{ { map { $_ => 1 } @killed, $final } }), $kills + 1,
	'a new writer after each crash');

my ($cut, @seen) = collect('kill', $kills + 1, @clients);
is($cut, $nclients, 'kill: every client lost its connection to a crash');
my $found = check_recorded($node, \@seen, qr/kill-c\d+-g\d+-\d+/, $offset, 'kill');
note(sprintf('kill: %d refusals seen, %d in guard.audit, %d fallback lines; fallback reasons: %s',
		scalar(@seen), scalar(grep { $found->{table}{$_} } @seen),
		scalar(grep { $found->{fallback}{$_} } @seen), reasons($found, @seen)));
foreach my $c (1 .. $nclients)
{
	is($node->safe_psql('postgres', "SELECT id FROM victim_$c"), $c, "kill: victim_$c is intact");
}
is($node->safe_psql('postgres', 'SELECT writer_state FROM guard.status()'), 'ready',
	'kill: guard.status() says the writer is ready');
check_committed_again('kill-after', 'kill');

# 2. The postmaster stopped with -m immediate in the middle of a storm,
# and started again while the clients wait to reconnect.
$offset = -s $node->logfile;
$after = max_id();
@clients = start_clients('imm');
wait_for_clients('imm', $after);
# The rows committed so far: the single writer gives ids in commit order.
my ($before, $max_before) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE statement LIKE '%/* imm-%'), max(id) FROM guard.audit");
$node->stop('immediate');
my ($committed_before) = audit_log_records($node, $offset);
my %ids_before = map { (($_->{statement} // '') =~ /(imm-c\d+-g\d+-\d+)/)[0] => $_->{id} }
  grep { ($_->{statement} // '') =~ /imm-c/ } @$committed_before;

$node->start;
wait_for_writer($node);
is($node->safe_psql('postgres', 'SELECT id FROM victim_1'), '1',
	'immediate: the server serves other sessions again, data intact');
wait_for_clients('imm', max_id());
stop_storm(@clients);

# Every row committed before the stop, as its log line says, is there.
my $rows = $node->safe_psql('postgres',
	"SELECT substring(statement from 'imm-c[0-9]+-g[0-9]+-[0-9]+'), id FROM guard.audit "
	  . "WHERE statement LIKE '%/* imm-%'");
my %ids_after = map { split /\|/ } split /\n/, $rows;
is(audit_count($node, "statement LIKE '%/* imm-%' AND id <= $max_before"), $before,
	"immediate: the $before rows committed before the stop are all in guard.audit");
my @lost = grep { ($ids_after{$_} // '') ne $ids_before{$_} } sort keys %ids_before;
is(scalar(@lost), 0,
	'immediate: every row committed before the stop is in guard.audit with its id')
  or diag("lost or changed: @lost");

# A client between two scripts at the stop is not cut off; most are.
($cut, @seen) = collect('immediate', 2, @clients);
cmp_ok($cut, '>=', 1, 'immediate: the stop cut clients off');
$found = check_recorded($node, \@seen, qr/imm-c\d+-g\d+-\d+/, $offset, 'immediate');
note(sprintf('immediate: %d rows committed before the stop; %d refusals seen, %d in guard.audit, %d fallback lines; fallback reasons: %s',
		scalar(keys %ids_before), scalar(@seen),
		scalar(grep { $found->{table}{$_} } @seen),
		scalar(grep { $found->{fallback}{$_} } @seen), reasons($found, @seen)));
foreach my $c (1 .. $nclients)
{
	is($node->safe_psql('postgres', "SELECT id FROM victim_$c"), $c,
		"immediate: victim_$c is intact");
}
check_committed_again('imm-after', 'immediate');

$node->stop;
done_testing();
