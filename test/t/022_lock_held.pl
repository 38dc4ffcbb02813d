# A session holds a lock on guard.audit that blocks the writer's INSERT.
# Refusals from other sessions wait no longer than guard.audit_timeout and
# go to the log; a refusal from the lock holder itself does not wait at
# all; every refusal is in the table or in the log.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $timeout_ms = 500;
# A wait longer than this would not be "about guard.audit_timeout".
my $slack_s = 10 * $timeout_ms / 1000;
my $refused = qr/ERROR:  guard: [A-Z ]+ of "[^"]+" refused in production/;

my $node = guard_node('lock_held', conf => "guard.audit_timeout = ${timeout_ms}ms\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
foreach my $t ('victim', 'victim_1', 'victim_2')
{
	$node->safe_psql('postgres', "CREATE TABLE $t (id int); INSERT INTO $t VALUES (1)");
}
wait_for_writer($node);

# Run SQL in a background session: (seconds, stderr).
sub session_run
{
	my ($session, $sql) = @_;
	$session->{stderr} = '';
	my $t0 = time();
	$session->query($sql);
	return (time() - $t0, $session->{stderr});
}

# Run SQL that must succeed in a background session.
sub session_safe
{
	my ($session, $sql) = @_;
	$session->{stderr} = '';
	return $session->query_safe($sql);
}

# The fallback records of a marker since an offset.
sub fallbacks_for
{
	my ($offset, $marker) = @_;
	my ($committed, $fallback) = audit_log_records($node, $offset);
	return grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$fallback;
}

# 1. Another session holds the lock: refusals wait out guard.audit_timeout
# at most, alone and concurrently.
my $offset = -s $node->logfile;
my $holder = $node->background_psql('postgres', on_error_stop => 0);
session_safe($holder, 'BEGIN; LOCK TABLE guard.audit;');

my @clients;
foreach my $c (1, 2)
{
	my $script = $node->basedir . "/other-c$c.sql";
	my $by_line = refusal_script($script, "other-c$c", 6, table => "victim_$c");
	my $client = start_client($node, 'postgres', $script);
	$client->{by_line} = $by_line;
	push @clients, $client;
}

my @seen;
foreach my $i (1 .. 3)
{
	my ($elapsed, $err) =
	  refuse_timed($node, 'postgres', "DROP TABLE victim /* other-$i */");
	like($err, $refused, "other session: refusal $i");
	cmp_ok($elapsed, '<', $slack_s,
		"other session: refusal $i waited about guard.audit_timeout at most (${elapsed}s)");
	my @fb = fallbacks_for($offset, "other-$i");
	is(scalar(@fb), 1, "other session: refusal $i is a fallback line");
	like($fb[0]{fallback} // '',
		qr/^(the audit row was not committed within $timeout_ms ms|the audit row could not be written: canceling statement due to lock timeout)$/,
		"other session: refusal $i says why");
	push @seen, "other-$i";
}
foreach my $client (@clients)
{
	is(finish_client($client), 0, "other session: $client->{name} ran to the end");
	my ($r, $other) = refusals_seen($client, $client->{by_line});
	is(scalar(@$r), 6, "other session: every statement of $client->{name} was refused");
	is(scalar(@$other), 0, "other session: no other error in $client->{name}")
	  or diag(join("\n", @$other));
	push @seen, @$r;
}
ok(scalar(log_lines($node, qr/LOG:  guard: could not write \d+ audit rows: canceling statement due to lock timeout/, $offset)),
	'other session: the writer gave up on the lock');
session_safe($holder, 'ROLLBACK;');
check_recorded($node, \@seen, qr/other-(?:c\d+-)?\d+/, $offset, 'other session');

my ($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE victim /* other-after */');
like($err, $refused, 'lock released: refused');
is(audit_count($node, "statement = 'DROP TABLE victim /* other-after */'"), '1',
	'lock released: the row is in guard.audit when the client sees the ERROR');

# 2. The lock holder is refused itself: its row cannot be written before
# its transaction ends, so it does not wait at all.  A long timeout shows
# that.
$node->append_conf('postgresql.conf', "guard.audit_timeout = 20s\n");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('guard.audit_timeout') = '20s'")
  or die 'the new timeout was not loaded';
$slack_s = 10;

my $n = 0;
foreach my $mode ('SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE')
{
	my $marker = 'self-' . ++$n;
	$offset = -s $node->logfile;
	session_safe($holder, "BEGIN; LOCK guard.audit IN $mode MODE;");
	my ($elapsed, $err) = session_run($holder, "DROP TABLE victim /* $marker */;");
	like($err, $refused, "$mode lock held by the session: refused");
	cmp_ok($elapsed, '<', $slack_s,
		"$mode lock held by the session: without waiting for guard.audit_timeout (${elapsed}s)");
	my @fb = fallbacks_for($offset, $marker);
	is(scalar(@fb), 1, "$mode lock held by the session: a fallback line");
	like($fb[0]{fallback} // '', qr/^this session holds a lock on guard\.audit/,
		"$mode lock held by the session: the fallback line says why");
	session_safe($holder, 'ROLLBACK;');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM guard.audit WHERE statement = 'DROP TABLE victim /* $marker */'"),
		"$mode lock held by the session: the row is committed once its transaction ends");
}

# Locks that do not block the writer change nothing.
foreach my $mode ('ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE')
{
	my $marker = 'self-' . ++$n;
	$offset = -s $node->logfile;
	session_safe($holder, "BEGIN; LOCK guard.audit IN $mode MODE;");
	my ($elapsed, $err) = session_run($holder, "DROP TABLE victim /* $marker */;");
	like($err, $refused, "$mode lock held by the session: refused");
	is(audit_count($node, "statement = 'DROP TABLE victim /* $marker */'"), '1',
		"$mode lock held by the session: the row is in guard.audit when the client sees the ERROR");
	is(scalar(fallbacks_for($offset, $marker)), 0,
		"$mode lock held by the session: no fallback line");
	session_safe($holder, 'ROLLBACK;');
}

# Statements that would drop guard.audit itself are refused like any
# other.  Whether guard refuses them before PostgreSQL locks the table or
# after its dependency walk has locked it (the column a DROP DOMAIN ...
# CASCADE takes), the refusal does not wait for the writer, and the row is
# in guard.audit once the statement's transaction has ended.
$node->safe_psql('postgres',
	'CREATE DOMAIN regress_note AS text; ALTER TABLE guard.audit ADD COLUMN regress_note regress_note');
foreach my $case (
	[ 'DROP EXTENSION guard', qr/DROP EXTENSION of "guard\.audit"/ ],
	[ 'DROP SCHEMA guard CASCADE', qr/DROP SCHEMA of "guard\.audit"/ ],
	[ 'DROP DOMAIN regress_note CASCADE', qr/DROP DOMAIN of "guard\.audit\.regress_note"/ ])
{
	my ($sql, $message) = @$case;
	my $marker = 'self-' . ++$n;
	$offset = -s $node->logfile;
	my ($elapsed, $err) = refuse_timed($node, 'postgres', "$sql /* $marker */");
	like($err, qr/ERROR:  guard: $message refused in production/, "$sql: refused");
	cmp_ok($elapsed, '<', $slack_s,
		"$sql: without waiting for guard.audit_timeout (${elapsed}s)");
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM guard.audit WHERE statement = '$sql /* $marker */'"),
		"$sql: the row is in guard.audit once the transaction has ended");
	my @fb = fallbacks_for($offset, $marker);
	is(scalar(grep { ($_->{fallback} // '') !~ /^this session holds a lock on guard\.audit/ } @fb),
		0, "$sql: no fallback line but for the lock the statement itself held");
	note("$sql: " . (@fb ? "fallback line: $fb[0]{fallback}" : 'no fallback line'));
}
is($node->safe_psql('postgres', "SELECT writer_state FROM guard.status()"), 'ready',
	'the extension and its writer are still there');

# A lock the check cannot see (on the table's sequence) costs at most the
# timeout; back to a short one for that.
$node->append_conf('postgresql.conf', "guard.audit_timeout = ${timeout_ms}ms\n");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('guard.audit_timeout') = '${timeout_ms}ms'")
  or die 'the new timeout was not loaded';
$slack_s = 10 * $timeout_ms / 1000;
$offset = -s $node->logfile;
session_safe($holder, 'BEGIN; ALTER SEQUENCE guard.audit_id_seq CACHE 1;');
my $elapsed;
($elapsed, $err) = session_run($holder, 'DROP TABLE victim /* seq-1 */;');
like($err, $refused, 'sequence lock held by the session: refused');
cmp_ok($elapsed, '<', $slack_s,
	"sequence lock held by the session: waited about guard.audit_timeout at most (${elapsed}s)");
session_safe($holder, 'ROLLBACK;');
check_recorded($node, ['seq-1'], qr/seq-1/, $offset, 'sequence lock held by the session');

# The lock outlives the refusal and guard.audit_timeout (a savepoint kept
# it): the refusal still does not wait, and its record is in the log.
$offset = -s $node->logfile;
session_safe($holder, 'BEGIN; LOCK guard.audit; SAVEPOINT s;');
($elapsed, $err) = session_run($holder, 'DROP TABLE victim /* sp-1 */;');
like($err, $refused, 'lock kept past a refusal: refused');
cmp_ok($elapsed, '<', $slack_s,
	"lock kept past a refusal: waited about guard.audit_timeout at most (${elapsed}s)");
session_safe($holder, 'ROLLBACK TO s;');
$node->wait_for_log(
	qr/LOG:  guard: could not write \d+ audit rows: canceling statement due to lock timeout/,
	$offset);
session_safe($holder, 'COMMIT;');
check_recorded($node, ['sp-1'], qr/sp-1/, $offset, 'lock kept past a refusal');

$holder->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '1',
	'nothing was destroyed');
$node->stop;
done_testing();
