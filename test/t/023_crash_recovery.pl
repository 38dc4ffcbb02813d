# A refusal's row is committed, and flushed, before its client sees the
# ERROR: an immediate shutdown right after loses none of them, even with
# synchronous_commit off and a lazy WAL writer.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('crash_recovery',
	conf => "synchronous_commit = off\nwal_writer_delay = 10s\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
foreach my $t ('victim', map { "victim_$_" } 1 .. 4)
{
	$node->safe_psql('postgres', "CREATE TABLE $t (id int); INSERT INTO $t VALUES (1)");
}
wait_for_writer($node);
is($node->safe_psql('postgres', 'SHOW synchronous_commit'), 'off',
	'sessions commit asynchronously');

# 1. One refusal, then an immediate shutdown.
my $offset = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE victim /* crash-1 */');
like($err, qr/ERROR:  guard: DROP TABLE of "public\.victim" refused in production/,
	'refused');
# An ordinary commit after it, for comparison: synchronous_commit = off
# may lose it.
$node->safe_psql('postgres', 'CREATE TABLE regress_async (id int)');
$node->stop('immediate');
my ($committed, $fallback) = audit_log_records($node, $offset);
my @logged = grep { $_->{statement} =~ /crash-1/ } @$committed;
is(scalar(@logged), 1, 'the log has the committed row');
is(scalar(grep { $_->{statement} =~ /crash-1/ } @$fallback), 0, 'and no fallback line');

$node->start;
wait_for_writer($node);
is($node->safe_psql('postgres',
		"SELECT id, command, objects, verdict, environment FROM guard.audit WHERE statement = 'DROP TABLE victim /* crash-1 */'"),
	"$logged[0]{id}|DROP TABLE|{public.victim}|blocked|production",
	'after the crash the row is in guard.audit, with the id the log gave');
note('an ordinary asynchronous commit made after it was '
	  . ($node->safe_psql('postgres', "SELECT to_regclass('regress_async') IS NULL") eq 't'
		? 'lost' : 'kept'));

# 2. An immediate shutdown while four clients are being refused: every
# refusal a client saw survives.
$offset = -s $node->logfile;
my @clients;
foreach my $c (1 .. 4)
{
	my $script = $node->basedir . "/burst-c$c.sql";
	my $by_line = refusal_script($script, "burst-c$c", 5000, table => "victim_$c");
	my $client = start_client($node, 'postgres', $script);
	$client->{by_line} = $by_line;
	push @clients, $client;
}
$node->poll_query_until('postgres',
	"SELECT count(*) >= 200 FROM guard.audit WHERE statement LIKE '%/* burst-%'")
  or die 'no refusals';
$node->stop('immediate');

my @seen;
my $cut = 0;
foreach my $client (@clients)
{
	finish_client($client);
	my ($refused, $other) = refusals_seen($client, $client->{by_line});
	push @seen, @$refused;
	$cut++ if @$refused < 5000;
	my @unexpected = grep { !/terminating connection|server closed the connection|connection to server was lost/ } @$other;
	is(scalar(@unexpected), 0, "no other error in $client->{name}")
	  or diag(join("\n", @unexpected));
}
ok($cut > 0, 'the shutdown cut clients off');
cmp_ok(scalar(@seen), '>=', 100, 'the clients saw refusals');

$node->start;
wait_for_writer($node);
my $found = check_recorded($node, \@seen, qr/burst-c\d+-\d+/, $offset, 'immediate shutdown');
is(scalar(grep { !$found->{table}{$_} } @seen), 0,
	'every refusal a client saw is in guard.audit after the crash')
  or diag('missing: ' . join(' ', grep { !$found->{table}{$_} } @seen));
note(sprintf('%d refusals seen before the shutdown, %d rows recovered',
		scalar(@seen), scalar(keys %{ $found->{table} })));

# Ids keep increasing after recovery.
my $max = $node->safe_psql('postgres', 'SELECT max(id) FROM guard.audit');
($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE victim /* crash-2 */');
like($err, qr/ERROR:  guard: DROP TABLE of "public\.victim" refused in production/,
	'refused after recovery');
cmp_ok($node->safe_psql('postgres',
		"SELECT id FROM guard.audit WHERE statement = 'DROP TABLE victim /* crash-2 */'"),
	'>', $max, 'a new row after recovery gets a higher id');

$node->stop;
done_testing();
