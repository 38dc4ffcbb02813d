# Faults of the audit writer's surroundings rather than of the writer
# itself: no background worker slot left for it, its audit database renamed
# under it, the audit table's files unwritable.  In each, statements are
# still refused, each refusal is a row of guard.audit or a fallback line in
# the log, other sessions are served, and guard is back to committing rows
# once the fault is gone.
use strict;
use warnings;

use Cwd ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

# Long, so that a refusal which waited for the writer would be noticed.
my $timeout_s = 20;
my $quick = $timeout_s / 2;
my $refused = qr/ERROR:  guard: [A-Z ]+ of "public\.victim(_\d)?" refused in production/;

# A refusal that is one fallback line with the given reason, at once.
sub check_fallback
{
	my ($node, $sql, $marker, $reason, $name) = @_;
	my $offset = -s $node->logfile;
	my ($elapsed, $err) = refuse_timed($node, 'postgres', $sql);
	like($err, $refused, "$name: refused");
	cmp_ok($elapsed, '<', $quick,
		"$name: without waiting for guard.audit_timeout (took ${elapsed}s)");
	my ($committed, $fallback) = audit_log_records($node, $offset);
	my @mine = grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$fallback;
	is(scalar(@mine), 1, "$name: one fallback line");
	is(scalar(grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$committed),
		0, "$name: no committed line");
	like($mine[0]{fallback} // '', $reason, "$name: the fallback line says why");
	return $mine[0]{fallback};
}

# A psql client refused $count times on victim_$c, to the end.
sub run_client
{
	my ($node, $prefix, $c, $count) = @_;
	my $script = $node->basedir . "/$prefix-c$c.sql";
	my $by_line = refusal_script($script, "$prefix-c$c", $count, table => "victim_$c");
	my $client = start_client($node, 'postgres', $script);
	$client->{by_line} = $by_line;
	return $client;
}

# Each storm client was refused on every statement it ran and saw nothing
# else; returns the markers.
sub storm_refusals
{
	my ($name, $count, @clients) = @_;
	my @seen;
	foreach my $client (@clients)
	{
		my $s = storm_seen($client);
		is(scalar(@{ $s->{refused} }), $s->{generations} * $count,
			"$name: every statement of $client->{name} was refused");
		is(scalar(@{ $s->{unexpected} }) + $s->{cut}, 0,
			"$name: no other error in $client->{name}")
		  or diag(join("\n", @{ $s->{unexpected} }));
		push @seen, @{ $s->{refused} };
	}
	return @seen;
}

sub fallback_reasons
{
	my ($found, @seen) = @_;
	my %reasons;
	foreach my $m (@seen)
	{
		$reasons{$_}++ foreach @{ $found->{fallback}{$m} // [] };
	}
	return \%reasons;
}

sub setup_node
{
	my ($name, $conf, $auditdb) = @_;
	my $node = guard_node($name,
		conf => "guard.audit_timeout = ${timeout_s}s\n" . ($conf // ''));
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE $auditdb") if $auditdb ne 'postgres';
	$node->safe_psql($auditdb, 'CREATE EXTENSION guard');
	foreach my $t ('victim', 'victim_1', 'victim_2')
	{
		$node->safe_psql('postgres', "CREATE TABLE $t (id int); INSERT INTO $t VALUES (1)");
	}
	wait_for_writer($node, $auditdb);
	return $node;
}

sub check_intact
{
	my ($node, $name) = @_;
	is($node->safe_psql('postgres',
			'SELECT (SELECT count(*) FROM victim) + (SELECT count(*) FROM victim_1) + (SELECT count(*) FROM victim_2)'),
		'3', "$name: nothing was destroyed");
}

# 1. No background worker slot for the writer.  PostgreSQL 15 accepts
# max_worker_processes = 0; with 1, the logical replication launcher,
# registered before shared_preload_libraries are loaded, takes the only
# slot.  The writer is then never registered: every refusal goes to the
# log at once.
my $node = setup_node('worker_slots', '', 'postgres');
check_committed($node, 'postgres', 'postgres', 'DROP TABLE victim /* ws-0 */', 'ws-0', 'workers: before');

foreach my $n (0, 1)
{
	my $name = "max_worker_processes = $n";
	my $offset = -s $node->logfile;
	$node->append_conf('postgresql.conf', "max_worker_processes = $n\n");
	$node->restart;
	ok(scalar(log_lines($node, qr/LOG:  too many background workers/, $offset)),
		"$name: the log says a background worker could not be registered");
	if ($n == 1)
	{
		is($node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'"),
			'1', "$name: the logical replication launcher has the only slot");
	}
	is($node->safe_psql('postgres', 'SELECT writer_state, writer_pid IS NULL FROM guard.status()'),
		'stopped|t', "$name: guard.status() says the writer is stopped");

	check_fallback($node, "DROP TABLE victim /* ws$n-1 */", "ws$n-1",
		qr/^the audit writer is stopped$/, "$name: DROP TABLE");
	my @clients = map { run_client($node, "ws$n", $_, 30) } 1, 2;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM victim_1'), '1',
		"$name: other sessions are served");
	my @seen = ("ws$n-1");
	foreach my $client (@clients)
	{
		is(finish_client($client), 0, "$name: $client->{name} ran to the end");
		my ($r, $other) = refusals_seen($client, $client->{by_line});
		is(scalar(@$r), 30, "$name: every statement of $client->{name} was refused");
		is(scalar(@$other), 0, "$name: no other error in $client->{name}")
		  or diag(join("\n", @$other));
		push @seen, @$r;
	}
	my $found = check_recorded($node, \@seen, qr/ws$n-(?:c\d+-)?\d+/, $offset, $name);
	is(scalar(grep { $found->{table}{$_} } @seen), 0, "$name: none is in guard.audit");
	my $reasons = fallback_reasons($found, @seen);
	is_deeply($reasons, { 'the audit writer is stopped' => scalar(@seen) },
		"$name: each is a fallback line saying the writer is stopped");
	is($node->safe_psql('postgres',
			'SELECT rows_queued, rows_logged, rows_failed FROM guard.status()'),
		'0|' . scalar(@seen) . '|0', "$name: guard.status() counts them as logged");
	is(scalar(log_lines($node, qr/guard writer started/, $offset)), 0,
		"$name: no writer ever started");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'guard writer'"),
		'0', "$name: pg_stat_activity shows no writer");
}

$node->append_conf('postgresql.conf', "max_worker_processes = 8\n");
$node->restart;
wait_for_writer($node);
check_committed($node, 'postgres', 'postgres', 'DROP TABLE victim /* ws-after */', 'ws-after',
	'workers: once there is a slot again');
check_intact($node, 'workers');
$node->stop;

# 2. The audit database renamed while the server runs, under a storm of
# refusals.  The rename needs the writer gone: it is terminated, and the
# rename, which waits a few seconds for the database's sessions to end,
# comes before the postmaster starts a new writer 5 s later.  That writer,
# and each one after it, cannot connect; renaming the database back lets
# the next one in.
$node = setup_node('audit_db_renamed', "guard.database = 'auditdb'\n", 'auditdb');
check_committed($node, 'postgres', 'auditdb', 'DROP TABLE victim /* ren-0 */', 'ren-0', 'rename: before');

my $offset = -s $node->logfile;
my $count = 50;
my @clients = map {
	start_storm($node, 'postgres', "ren-c$_", table => "victim_$_", count => $count, pause => 0.02)
} 1, 2;
my $clients_refused = sub {
	my ($after) = @_;
	$node->poll_query_until('auditdb',
		"SELECT count(*) = 2 FROM (SELECT application_name FROM guard.audit WHERE id > $after "
		  . "AND application_name LIKE 'ren-c%' GROUP BY application_name HAVING count(*) >= 5) AS c")
	  or die "the clients were not refused after row $after";
};
$clients_refused->(0);

my $rename_offset = -s $node->logfile;
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type IN ('guard writer', 'guard purger'); "
	  . 'ALTER DATABASE auditdb RENAME TO auditdb_renamed');
ok(eval { $node->wait_for_log(qr/FATAL:  database "auditdb" does not exist/, $rename_offset) },
	'rename: the next writer cannot connect to the renamed database');
like($node->safe_psql('auditdb_renamed', 'SELECT writer_state FROM guard.status()'),
	qr/^(stopped|starting)$/, 'rename: guard.status() says the writer is not running');
check_fallback($node, 'DROP TABLE victim /* ren-1 */', 'ren-1',
	qr/^the audit writer is (stopped|starting)$/, 'rename: DROP TABLE');
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '1',
	'rename: other sessions are served');
# The storm goes on against the missing database for a while.
foreach my $c (1, 2)
{
	$node->wait_for_log(qr/guard audit fallback: [^\n]*ren-c$c-g/, $rename_offset);
}
# And past the writer's next attempt.
$node->wait_for_log(qr/FATAL:  database "auditdb" does not exist(?s:.*)FATAL:  database "auditdb" does not exist/,
	$rename_offset);
my $retries = scalar(log_lines($node, qr/FATAL:  database "auditdb" does not exist/, $rename_offset));

$node->safe_psql('postgres', 'ALTER DATABASE auditdb_renamed RENAME TO auditdb');
ok($node->poll_query_until('auditdb', "SELECT writer_state = 'ready' FROM guard.status()"),
	"rename: the writer is ready again by itself once the database is renamed back")
  or die 'the writer did not recover';
note("rename: the writer failed to connect $retries times meanwhile");
# The storm's rows are committed again.
$clients_refused->($node->safe_psql('auditdb', 'SELECT max(id) FROM guard.audit'));
stop_storm(@clients);

my @seen = ('ren-1', storm_refusals('rename', $count, @clients));
my $found = check_recorded($node, \@seen, qr/ren-(?:c\d+-g\d+-)?\d+/, $offset,
	'rename', 'auditdb');
my $reasons = fallback_reasons($found, @seen);
my @other_reasons = grep { !/^the audit writer (is stopped|is starting|stopped)$/ } keys %$reasons;
is(scalar(@other_reasons), 0, 'rename: each fallback line says the writer is not running')
  or diag(explain($reasons));
ok(scalar(grep { $found->{table}{$_} } @seen) && scalar(grep { $found->{fallback}{$_} } @seen),
	'rename: the storm has rows from before and after, and fallback lines from during the fault');
note(sprintf('rename: %d refusals seen, %d in guard.audit, %d fallback lines; fallback reasons: %s',
		scalar(@seen), scalar(grep { $found->{table}{$_} } @seen),
		scalar(grep { $found->{fallback}{$_} } @seen),
		join('; ', map { "$_: $reasons->{$_}" } sort keys %$reasons)));
check_committed($node, 'postgres', 'auditdb', 'DROP TABLE victim /* ren-after */', 'ren-after',
	'rename: after');
is($node->safe_psql('auditdb', 'SELECT writer_state FROM guard.status()'), 'ready',
	'rename: guard.status() says the writer is ready');
check_intact($node, 'rename');
$node->stop;

# 3. The audit table's files cannot be opened: guard.audit is moved to a
# tablespace, the server restarted so that no process has its files open,
# and the tablespace's directory made inaccessible (the test runs as its
# owner, not as root).  Every INSERT of the writer then fails, and every
# refusal is a fallback line with the writer's error.  Autovacuum is off so
# that nothing else touches the table meanwhile.
my $ts = Cwd::abs_path(PostgreSQL::Test::Utils::tempdir('audit_ts'));
END { chmod 0700, $ts if defined $ts && -d $ts; }
$node = setup_node('audit_unwritable', "autovacuum = off\n", 'postgres');
$node->safe_psql('postgres', "CREATE TABLESPACE audit_ts LOCATION '$ts'");
# Moving the table destroys nothing: guard asks for no override.
my ($ret, $out, $err) =
  $node->psql('postgres', 'ALTER TABLE guard.audit SET TABLESPACE audit_ts');
is($ret, 0, 'unwritable: guard.audit moves to another tablespace without an override')
  or diag($err);
check_committed($node, 'postgres', 'postgres', 'DROP TABLE victim /* wf-0 */', 'wf-0',
	'unwritable: in the new tablespace');
$node->restart;
wait_for_writer($node);

$offset = -s $node->logfile;
chmod 0000, $ts or die "could not chmod $ts: $!";
my $writer_error = qr/^the audit row could not be written: could not open file "pg_tblspc\//;
check_fallback($node, 'DROP TABLE victim /* wf-1 */', 'wf-1', $writer_error,
	'unwritable: DROP TABLE');
ok(scalar(log_lines($node,
			qr/LOG:  guard: could not write 1 audit rows: could not open file "pg_tblspc\/[^"]+": Permission denied/,
			$offset)),
	'unwritable: the writer logs its error');
check_fallback($node, 'TRUNCATE victim /* wf-2 */', 'wf-2', $writer_error,
	'unwritable: TRUNCATE');
$count = 30;
@clients = map {
	start_storm($node, 'postgres', "wf-c$_", table => "victim_$_", count => $count, pause => 0.01)
} 1, 2;
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '1',
	'unwritable: other sessions are served');
foreach my $c (1, 2)
{
	$node->wait_for_log(qr/guard audit fallback: [^\n]*wf-c$c-g/, $offset);
}
stop_storm(@clients);
@seen = ('wf-1', 'wf-2', storm_refusals('unwritable', $count, @clients));
my ($state, $failed, $logged) = split /\|/,
  $node->safe_psql('postgres', 'SELECT writer_state, rows_failed, rows_logged FROM guard.status()');
is("$failed|$logged", scalar(@seen) . '|' . scalar(@seen),
	'unwritable: guard.status() counts each refusal as failed by the writer and logged');
note("unwritable: guard.status() writer_state is '$state' while the table cannot be written");

chmod 0700, $ts or die "could not chmod $ts: $!";
$found = check_recorded($node, \@seen, qr/wf-(?:c\d+-g\d+-)?\d+/, $offset, 'unwritable');
is(scalar(grep { $found->{table}{$_} } @seen), 0, 'unwritable: none is in guard.audit');
is(scalar(grep { !(($found->{fallback}{$_}[0] // '') =~ $writer_error) } @seen), 0,
	"unwritable: each is a fallback line with the writer's error");
check_committed($node, 'postgres', 'postgres', 'DROP TABLE victim /* wf-after */', 'wf-after',
	'unwritable: once the directory is accessible again');
is($node->safe_psql('postgres', 'SELECT writer_state, rows_failed FROM guard.status()'),
	'ready|' . scalar(@seen), 'unwritable: the writer is ready and fails no more rows');
check_intact($node, 'unwritable');
$node->stop;

done_testing();
