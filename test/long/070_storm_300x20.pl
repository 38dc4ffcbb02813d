# A storm of refusals: 300 clients, each running a script of 20 refused
# statements at once, against a server with the default audit queue (256
# slots) and guard.audit_timeout.  Every refusal must be a row of
# guard.audit; none may be only in the log.  Not part of test/check's
# default run (it takes a few minutes on 2 cores):
#
#   PROVE_TESTS=test/long/070_storm_300x20.pl test/check
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my ($clients, $each) = (300, 20);
my $node = guard_node('storm', conf => "max_connections = 320\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', 'CREATE TABLE victim (id int); INSERT INTO victim SELECT generate_series(1, 100)');
my $offset = -s $node->logfile;
my $dir = PostgreSQL::Test::Utils::tempdir();

my (@running, %by_line);
my $start = time;
foreach my $c (1 .. $clients)
{
	my $script = "$dir/client-$c.sql";
	$by_line{$script} = GuardTest::refusal_script($script, "s$c", $each);
	push @running, GuardTest::start_client($node, 'postgres', $script);
}
my ($refused, $other) = (0, 0);
foreach my $client (@running)
{
	GuardTest::finish_client($client);
	my ($r, $o) = GuardTest::refusals_seen($client, $by_line{ $client->{script} });
	$refused += @$r;
	$other += @$o;
	diag("unexpected: $o->[0]") if @$o && $other == @$o;
}
my $elapsed = time - $start;
note(sprintf('%d refusals in %.1f s', $refused, $elapsed));

is($refused, $clients * $each, "every statement of the $clients clients was refused");
is($other, 0, 'and nothing else was reported');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE verdict = 'blocked' AND statement LIKE '% /* s%'}),
	$clients * $each, 'every refusal is a row of guard.audit');
is(scalar(log_lines($node, qr/guard audit fallback:/, $offset)), 0,
	'none went only to the log');
is($node->safe_psql('postgres', 'SELECT rows_logged FROM guard.status()'), '0',
	'guard.status(): nothing logged instead');
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '100', 'nothing was lost');

$node->stop;
done_testing();
