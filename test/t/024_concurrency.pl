# Sixteen sessions refused a hundred times each, at once: every refusal
# is recorded exactly once, whole and with its own session's details, and
# with a writer that keeps up all of them are in guard.audit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $nclients = 16;
my $count = 100;
my $total = $nclients * $count;
my @commands = ('DROP TABLE', 'TRUNCATE TABLE', 'DELETE');    # by $i % 3

# A long timeout: a refusal that went to the log here would mean a writer
# stalled for seconds, not a busy one.
my $node = guard_node('concurrency', conf => "guard.audit_timeout = 10s\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
foreach my $c (1 .. $nclients)
{
	$node->safe_psql('postgres',
		"CREATE TABLE victim_$c (id int); INSERT INTO victim_$c VALUES ($c)");
}
wait_for_writer($node);

my $offset = -s $node->logfile;
my (@clients, @scripts);
foreach my $c (1 .. $nclients)
{
	my $script = $node->basedir . "/conc-c$c.sql";
	my $by_line = refusal_script($script, "conc-c$c", $count, table => "victim_$c");
	push @scripts, [ $script, $by_line ];
}
my $t0 = time();
foreach my $c (1 .. $nclients)
{
	my ($script, $by_line) = @{ $scripts[ $c - 1 ] };
	my $client = start_client($node, 'postgres', $script,
		application_name => "conc-c$c");
	$client->{by_line} = $by_line;
	push @clients, $client;
}

my @seen;
foreach my $client (@clients)
{
	is(finish_client($client), 0, "$client->{name} ran to the end");
}
my $wall = time() - $t0;
foreach my $client (@clients)
{
	my ($refused, $other) = refusals_seen($client, $client->{by_line});
	is(scalar(@$refused), $count, "every statement of $client->{name} was refused");
	is(scalar(@$other), 0, "no other error in $client->{name}")
	  or diag(join("\n", @$other));
	push @seen, @$refused;
}
my %seen = map { $_ => 1 } @seen;
is(scalar(keys %seen), $total, "the clients saw $total distinct refusals");

$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()')
  or die 'the queue never drained';
my $found = check_recorded($node, \@seen, qr/conc-c\d+-\d+/, $offset, 'concurrency');
my $rows = 0;
$rows += $_ foreach values %{ $found->{table} };
my $fallbacks = 0;
$fallbacks += scalar(@$_) foreach values %{ $found->{fallback} };
is($rows + $fallbacks, $total,
	'rows in guard.audit plus fallback lines equal the refusals the clients saw');
my @not_once = grep { ($found->{table}{$_} // 0) + scalar(@{ $found->{fallback}{$_} // [] }) != 1 } @seen;
is(scalar(@not_once), 0, 'each refusal is recorded exactly once')
  or diag("not once: @not_once[0 .. ($#not_once < 9 ? $#not_once : 9)]");
is($rows, $total, 'all of them are in guard.audit');
is($fallbacks, 0, 'none went to the log instead');

# The "guard audit:" lines name the same rows.
my %ids = map { $_ => join(',', @{ $found->{logged}{$_} // [] }) } @seen;
my $table_ids = $node->safe_psql('postgres',
	"SELECT substring(statement from 'conc-c[0-9]+-[0-9]+'), id FROM guard.audit WHERE statement LIKE '%/* conc-c%'");
my $mismatch = 0;
foreach my $l (split /\n/, $table_ids)
{
	my ($m, $id) = split /\|/, $l;
	$mismatch++ unless ($ids{$m} // '') eq $id;
}
is($mismatch, 0, 'each row has one "guard audit:" log line with its id');

# Each row holds its own session's record, not a neighbour's.
my $records = $node->safe_psql('postgres',
	"SELECT statement, command, array_to_string(objects, ','), object_count, application_name, "
	  . "backend_pid, verdict, environment, database, login_role "
	  . "FROM guard.audit WHERE statement LIKE '%/* conc-c%'");
my $user = $node->safe_psql('postgres', 'SELECT current_user');
my @forms = ('DROP TABLE victim_%d', 'TRUNCATE victim_%d', 'DELETE FROM victim_%d');
my (%pids, @wrong);
foreach my $l (split /\n/, $records)
{
	my ($stmt, $command, $objects, $n, $app, $pid, $verdict, $env, $db, $role) =
	  split /\|/, $l;
	my ($c, $i) = $stmt =~ /conc-c(\d+)-(\d+)/;
	push @wrong, $l
	  unless $stmt eq sprintf($forms[ $i % 3 ], $c) . " /* conc-c$c-$i */"
	  && $command eq $commands[ $i % 3 ]
	  && $objects eq "public.victim_$c"
	  && $n eq '1'
	  && $app eq "conc-c$c"
	  && $verdict eq 'blocked'
	  && $env eq 'production'
	  && $db eq 'postgres'
	  && $role eq $user;
	$pids{$c}{$pid} = 1;
}
is(scalar(@wrong), 0, 'every row has its own statement, command, objects and session')
  or diag(join("\n", @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]));
is(scalar(grep { keys %{ $pids{$_} } != 1 } 1 .. $nclients), 0,
	'the rows of each client name one backend');
is(scalar(keys %{ { map { (keys %{ $pids{$_} })[0] => 1 } 1 .. $nclients } }), $nclients,
	'and the clients name distinct backends');

is($node->safe_psql('postgres',
		'SELECT rows_queued = rows_written, rows_logged, rows_failed, rows_pending FROM guard.status()'),
	't|0|0|0', 'guard.status(): every queued row written, none logged or failed');
foreach my $c (1 .. $nclients)
{
	is($node->safe_psql('postgres', "SELECT id FROM victim_$c"), $c,
		"victim_$c is intact");
}

my $transactions = $node->safe_psql('postgres',
	"SELECT count(DISTINCT xmin::text) FROM guard.audit WHERE statement LIKE '%/* conc-c%'");
note(sprintf('%d refusals by %d sessions in %.2f s: %.0f refusals/s; the writer committed them in %d transactions',
		$total, $nclients, $wall, $total / $wall, $transactions));

$node->stop;
done_testing();
