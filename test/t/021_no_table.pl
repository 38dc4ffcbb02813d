# guard preloaded in production before CREATE EXTENSION guard (or before
# the audit database even exists): statements are refused all the same,
# each refusal goes to the server log at once, without waiting for
# guard.audit_timeout, and once the extension exists the writer finds the
# table and rows go there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

# Long enough that a refusal which waited for it would be noticed.
my $timeout_s = 20;
my $quick = $timeout_s / 2;

# A refusal that is one fallback line with the given reason, at once.
sub check_fallback
{
	my ($node, $db, $sql, $marker, $reason, $name) = @_;
	my $offset = -s $node->logfile;
	my ($elapsed, $err) = refuse_timed($node, $db, $sql);
	like($err, qr/ERROR:  guard: [A-Z ]+ of "public\.victim" refused in production/,
		"$name: refused");
	cmp_ok($elapsed, '<', $quick,
		"$name: without waiting for guard.audit_timeout (took ${elapsed}s)");
	my ($committed, $fallback) = audit_log_records($node, $offset);
	my @mine = grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$fallback;
	is(scalar(@mine), 1, "$name: one fallback line");
	is(scalar(grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$committed),
		0, "$name: no committed line");
	like($mine[0]{fallback} // '', $reason, "$name: the fallback line says why");
	ok(!defined $mine[0]{id} && ($mine[0]{verdict} // '') eq 'blocked'
		  && ($mine[0]{database} // '') eq $db
		  && join(',', @{ $mine[0]{objects} // [] }) eq 'public.victim',
		"$name: the fallback line is the whole record")
	  or diag(explain($mine[0]));
}

# The writer has published what it found: it waits on its latch.
sub wait_for_writer_idle
{
	my ($node, $db) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'guard writer' "
		  . "AND datname = '$db' AND wait_event IN ($GuardTest::writer_idle)")
	  or die "the writer never settled in database $db";
}

my $no_table = qr/^the audit table guard\.audit does not exist in database "postgres"$/;

# 1. No CREATE EXTENSION yet.
my $node = guard_node('no_table', conf => "guard.audit_timeout = ${timeout_s}s\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE app');
foreach my $db ('postgres', 'app')
{
	$node->safe_psql($db, 'CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)');
}
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'guard'"),
	'0', 'the extension is not created');
wait_for_writer_idle($node, 'postgres');
ok(scalar(log_lines($node, qr/LOG:  guard writer started in database "postgres"/)),
	'the writer runs without the extension');

check_fallback($node, 'postgres', 'DROP TABLE victim /* nt-1 */', 'nt-1', $no_table,
	'DROP TABLE without the table');
check_fallback($node, 'postgres', 'TRUNCATE victim /* nt-2 */', 'nt-2', $no_table,
	'TRUNCATE without the table');
check_fallback($node, 'postgres', 'DELETE FROM victim /* nt-3 */', 'nt-3', $no_table,
	'DELETE without the table');
check_fallback($node, 'app', 'DROP TABLE victim /* nt-4 */', 'nt-4', $no_table,
	'DROP TABLE in another database without the table');
foreach my $db ('postgres', 'app')
{
	is($node->safe_psql($db, 'SELECT count(*) FROM victim'), '1',
		"nothing was destroyed in $db");
}

$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
is($node->safe_psql('postgres',
		'SELECT rows_queued, rows_written, rows_logged FROM guard.status()'),
	'0|0|4', 'guard.status() counts the four records that went to the log');
is(audit_count($node, "statement LIKE '%/* nt-%'"), '0',
	'no record from before the table is in it');

check_committed($node, 'postgres', 'postgres', 'DROP TABLE victim /* nt-5 */', 'nt-5',
	'DROP TABLE once the table exists');
check_committed($node, 'app', 'postgres', 'TRUNCATE victim /* nt-6 */', 'nt-6',
	'TRUNCATE in another database once the table exists');
is($node->safe_psql('postgres',
		'SELECT rows_queued, rows_written, rows_logged, rows_failed FROM guard.status()'),
	'2|2|4|0', 'guard.status() counts the two rows written');

# The extension dropped with an override, then created again: the writer
# notices both.  The record of the DROP EXTENSION itself can only be in the
# log, since it drops the table.
my $offset = -s $node->logfile;
$node->safe_psql('postgres',
	"BEGIN; SET LOCAL guard.override = 'regress: recreate guard'; DROP EXTENSION guard /* nt-drop */; COMMIT;");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'guard'"),
	'0', 'the extension is dropped with an override');
my ($committed, $fallback) = audit_log_records($node, $offset);
my @drop = grep { ($_->{statement} // '') =~ /nt-drop/ } @$fallback;
is(scalar(@drop), 1, 'the DROP EXTENSION is a fallback line');
is(($drop[0]{verdict} // '') . '|' . ($drop[0]{reason} // ''),
	'overridden|regress: recreate guard', 'with its verdict and reason');
check_fallback($node, 'postgres', 'DROP TABLE victim /* nt-7 */', 'nt-7', $no_table,
	'DROP TABLE after the table was dropped');
check_fallback($node, 'postgres', 'DROP TABLE victim /* nt-8 */', 'nt-8', $no_table,
	'DROP TABLE again after the table was dropped');
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
check_committed($node, 'postgres', 'postgres', 'DROP TABLE victim /* nt-9 */', 'nt-9',
	'DROP TABLE once the table is created again');
$node->stop;

# 2. guard.database names a database that does not exist yet: the writer
# cannot even connect, and the postmaster retries every 5 s.
my $node2 = guard_node('no_database',
	conf => "guard.audit_timeout = ${timeout_s}s\nguard.database = 'audit'\n");
$node2->start;
$node2->safe_psql('postgres', 'CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)');
$node2->wait_for_log(qr/FATAL:  database "audit" does not exist/);
is($node2->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'guard writer'"),
	'0', 'the writer cannot connect to the missing audit database');
check_fallback($node2, 'postgres', 'DROP TABLE victim /* nd-1 */', 'nd-1',
	qr/^the audit writer is (stopped|starting)$/, 'DROP TABLE without the audit database');

$node2->safe_psql('postgres', 'CREATE DATABASE audit');
wait_for_writer_idle($node2, 'audit');
check_fallback($node2, 'postgres', 'DROP TABLE victim /* nd-2 */', 'nd-2',
	qr/^the audit table guard\.audit does not exist in database "audit"$/,
	'DROP TABLE with the audit database but not the table');

# At once after CREATE EXTENSION, before the writer has looked for the new
# table by itself: the refusal wakes it and waits for its look, so the row
# is committed, not logged.
$node2->safe_psql('audit', 'CREATE EXTENSION guard');
check_committed($node2, 'postgres', 'audit', 'DROP TABLE victim /* nd-3 */', 'nd-3',
	'DROP TABLE at once after CREATE EXTENSION');
is($node2->safe_psql('postgres', 'SELECT count(*) FROM victim'), '1',
	'nothing was destroyed');
$node2->stop;

done_testing();
