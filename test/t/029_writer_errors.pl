# The writer recovers from errors in its own loop instead of exiting: a
# query cancel (pg_cancel_backend) while it is idle or while it waits for a
# lock leaves the same process writing, and no record falls back to the
# log.  It honours what a DBA adds to guard.audit: an INSERT trigger, an
# expression index, a CHECK constraint.
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

# What a DBA adds to guard.audit is honoured.  The writer puts rows into
# the table's heap and indexes itself while the table is as the extension
# made it, and executes an INSERT once the table has an INSERT trigger.
$node->safe_psql('postgres', q{
	CREATE INDEX audit_lower_statement ON guard.audit (lower(statement));
	CREATE TABLE seen_by_trigger (audit_id bigint, statement text);
	CREATE FUNCTION audit_seen() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN
			INSERT INTO public.seen_by_trigger VALUES (NEW.id, NEW.statement);
			NEW.reason := 'seen by a trigger';
			RETURN NEW;
		END$$;
	CREATE TRIGGER audit_seen BEFORE INSERT ON guard.audit
		FOR EACH ROW EXECUTE FUNCTION audit_seen();
});
refuse('with-trigger');
is($node->safe_psql('postgres', q{
	SELECT a.reason || ' / ' || (s.audit_id = a.id)
	FROM guard.audit a JOIN seen_by_trigger s USING (statement)
	WHERE a.statement LIKE '%with-trigger%'}),
	'seen by a trigger / true',
	'an INSERT trigger on guard.audit fires for the writer\'s row, and its change is kept');

$node->safe_psql('postgres', 'DROP TRIGGER audit_seen ON guard.audit');
refuse('without-trigger');
is(audit_count($node, q{statement LIKE '%without-trigger%' AND reason IS NULL}), '1',
	'without the trigger: the row is written');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seen_by_trigger
	WHERE statement LIKE '%without-trigger%'}), '0',
	'without the trigger: no trigger ran');
is($node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SELECT count(*) FROM guard.audit
	WHERE lower(statement) = 'drop table victim /* without-trigger */'}),
	'1', 'the DBA\'s expression index finds the row');
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_index i,
		LATERAL bt_index_check(i.indexrelid, true)
	WHERE i.indrelid = 'guard.audit'::regclass}),
	'3', 'every index of guard.audit holds every row (amcheck, heapallindexed)');

# A row that breaks a constraint the DBA added: that row goes to the log,
# the next one to the table.
$node->safe_psql('postgres', q{ALTER TABLE guard.audit
	ADD CONSTRAINT no_forbidden CHECK (statement NOT LIKE '%forbidden%')});
$offset = -s $node->logfile;
refuse('forbidden');
ok(log_lines($node, qr/guard audit fallback:.*forbidden/, $offset),
	'a row that breaks the DBA\'s constraint falls back to the log');
like(join("\n", log_lines($node, qr/could not write an audit row/, $offset)),
	qr/violates check constraint "no_forbidden"/,
	'the log says which constraint');
refuse('allowed-again');
is(audit_count($node, q{statement LIKE '%allowed-again%'}), '1',
	'the next row is written');
is(audit_count($node, q{statement LIKE '%forbidden%'}), '0',
	'the row that broke the constraint is not in the table');

# The writer keeps the constraint's compiled state from batch to batch.  A
# SQL function that the constraint calls is compiled into it; replacing
# the function must change what the writer checks.
$node->safe_psql('postgres', q{
	ALTER TABLE guard.audit DROP CONSTRAINT no_forbidden;
	CREATE FUNCTION audit_statement_ok(text) RETURNS boolean
		LANGUAGE sql IMMUTABLE AS $$ SELECT $1 NOT LIKE '%forbidden%' $$;
	ALTER TABLE guard.audit
		ADD CONSTRAINT statement_ok CHECK (audit_statement_ok(statement))});
refuse('before-replace-banned');
refuse('before-replace-again');
is(audit_count($node, q{statement LIKE '%before-replace-%'}), '2',
	'rows the function accepts are written');
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION audit_statement_ok(text) RETURNS boolean
		LANGUAGE sql IMMUTABLE AS $$ SELECT $1 NOT LIKE '%banned%' $$});
$offset = -s $node->logfile;
refuse('after-replace-banned');
like(join("\n", log_lines($node, qr/could not write an audit row/, $offset)),
	qr/violates check constraint "statement_ok"/,
	'after the function is replaced, the writer checks with the new one');
is(audit_count($node, q{statement LIKE '%after-replace-banned%'}), '0',
	'the row the new function rejects is not in the table');
refuse('after-replace-fine');
is(audit_count($node, q{statement LIKE '%after-replace-fine%'}), '1',
	'a row it accepts is written');

$node->stop;
done_testing();
