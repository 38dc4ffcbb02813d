# Updating the extension from 1.0 to 1.1, 1.2 and 1.3 on a production server: the writer
# writes into a 1.0 table, ALTER EXTENSION guard UPDATE is not refused (it
# adds columns and destroys nothing), every old row survives unchanged, the
# id sequence continues, and rows written afterwards carry old_value and
# new_value.  A dump of the 1.0 audit database restores elsewhere at the
# default version (pg_dump records no extension version).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

delete $ENV{PGAPPNAME};

my $node = guard_node('prod');
$node->start;

# The 1.0 columns of guard.audit, and a checksum of the rows up to an id.
my $cols_1_0 = 'id, at, database, login_role, effective_role, client_addr, '
  . 'application_name, backend_pid, command, objects, object_count, statement, '
  . 'environment, verdict, reason, clipped';
sub checksum
{
	my ($n, $db, $max_id) = @_;
	return $n->safe_psql($db, qq{
		SET TimeZone = 'UTC';
		SELECT count(*) || ' ' || md5(string_agg(row($cols_1_0)::text, E'\\n' ORDER BY id))
		FROM guard.audit WHERE id <= $max_id});
}

# Refuse one statement in database app, marked in a comment; returns stderr.
sub refuse
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\n$sql");
	return $err;
}

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_available_extension_versions
	WHERE name = 'guard' AND version IN ('1.0', '1.1', '1.2', '1.3')}),
	'4', 'guard 1.0, 1.1, 1.2 and 1.3 are available');

$node->safe_psql('postgres', q{CREATE EXTENSION guard VERSION '1.0'});
wait_for_writer($node);
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'guard'}),
	'1.0', 'CREATE EXTENSION guard VERSION 1.0 installs 1.0');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_attribute
	WHERE attrelid = 'guard.audit'::regclass AND attname IN ('old_value', 'new_value')}),
	'0', 'the 1.0 table has no old_value/new_value');
is($node->safe_psql('postgres', q{
	SELECT to_regclass('guard.exemptions') IS NULL
	   AND to_regprocedure('guard.dry_run(text)') IS NULL}),
	't', 'nor guard.exemptions or guard.dry_run');

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE TABLE victim (id int PRIMARY KEY, v text);
	INSERT INTO victim SELECT g, 'v' || g FROM generate_series(1, 1000) g;
	CREATE ROLE migrator LOGIN;
});
my $writer = writer_pid($node);
my $log_offset = -s $node->logfile;

# Refusals against the 1.0 table: each is a committed row, none falls back.
my @forms = ('DROP TABLE victim /* %s */', 'TRUNCATE victim /* %s */',
	'DELETE FROM victim /* %s */');
foreach my $i (1 .. 6)
{
	my $marker = "v10-$i";
	my $err = refuse(sprintf($forms[ $i % 3 ], $marker));
	like($err, qr/ERROR:  42501: guard: (DROP TABLE|TRUNCATE TABLE|DELETE) of "public\.victim" refused in production/,
		"refusal $marker on 1.0");
	# The refusal is raised only once its row is committed: a new session
	# sees it at once.
	is(audit_count($node, "statement LIKE '%$marker%' AND verdict = 'blocked'"), '1',
		"refusal $marker is a committed row of the 1.0 table");
}
# A change of a guard setting on 1.0 is recorded too, without the values
# (the table has no column for them).
$node->safe_psql('app', q{ALTER ROLE migrator SET guard.environment = 'production'});
is(audit_count($node, q{command = 'ALTER ROLE' AND objects = '{guard.environment}'
	AND verdict = 'allowed' AND statement LIKE 'ALTER ROLE migrator%'}),
	'1', 'a setting change is a row of the 1.0 table');
my ($logged) = audit_log_records($node, $log_offset);
my @change = grep { $_->{command} eq 'ALTER ROLE' } @$logged;
is(scalar(@change) . ' ' . ($change[0]{new_value} // '<null>'), '1 production',
	'its values are in the "guard audit:" log line');
is($node->safe_psql('app', 'SELECT count(*) FROM victim'), '1000', 'nothing was lost');
is(scalar(log_lines($node, qr/guard audit fallback/, $log_offset)), 0,
	'no record fell back to the server log');
is($node->safe_psql('postgres',
		'SELECT rows_logged || \'/\' || rows_failed FROM guard.status()'),
	'0/0', 'guard.status: nothing logged instead, nothing failed');

my $max_id = $node->safe_psql('postgres', 'SELECT max(id) FROM guard.audit');
my $count_1_0 = $node->safe_psql('postgres', 'SELECT count(*) FROM guard.audit');
is($count_1_0, '7', 'seven rows in the 1.0 table');
my $sum_before = checksum($node, 'postgres', $max_id);
my $filenode = $node->safe_psql('postgres', q{SELECT pg_relation_filenode('guard.audit')});

# A dump of the 1.0 audit database, restored further down.
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $dump = "$tmp/audit_1_0.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump of the 1.0 audit database');

# The update, in production, without an override: it adds columns, a view
# and a function, and destroys nothing.
my ($ret, $out, $err) = $node->psql('postgres', q{ALTER EXTENSION guard UPDATE TO '1.1'});
is($ret, 0, 'ALTER EXTENSION guard UPDATE TO 1.1 is not refused in production')
  or diag($err);
is($err, '', 'without an error or a warning');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'guard'}),
	'1.1', 'extversion is 1.1');
is($node->safe_psql('postgres', 'SELECT count(*) FROM guard.audit'), $count_1_0,
	'the update itself leaves no audit row');
is($node->safe_psql('postgres', q{SELECT pg_relation_filenode('guard.audit')}), $filenode,
	'the audit table was not rewritten');
is(checksum($node, 'postgres', $max_id), $sum_before, 'every old row is unchanged');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE old_value IS NOT NULL OR new_value IS NOT NULL}),
	'0', 'old rows have old_value and new_value null');
is($node->safe_psql('postgres', q{
	SELECT to_regclass('guard.exemptions') IS NOT NULL
	   AND to_regprocedure('guard.dry_run(text)') IS NOT NULL}),
	't', 'guard.exemptions and guard.dry_run exist');
is($node->safe_psql('postgres', q{SELECT count(*) FROM guard.exemptions}), '0',
	'guard.exemptions can be read');
is($node->safe_psql('postgres', q{
	CREATE TABLE dry (id int);
	INSERT INTO dry VALUES (1);
	SELECT string_agg(command || ':' || verdict, ',' ORDER BY statement_no)
	FROM guard.dry_run('DELETE FROM dry; DELETE FROM dry WHERE id = 1')}),
	'DELETE:refused,DELETE:runs', 'guard.dry_run works');

# The writer switches to the 1.1 insert without a restart.
is(writer_pid($node), $writer, 'the same writer process');
$log_offset = -s $node->logfile;
# Restating the stored value: recorded as allowed, with both values.
$node->safe_psql('app', q{ALTER ROLE migrator SET guard.environment = 'production'});
is($node->safe_psql('postgres', qq{
	SELECT id || ' ' || command || ' ' || verdict || ' ' || coalesce(old_value, '<null>')
		   || ' ' || new_value
	FROM guard.audit WHERE id > $max_id AND new_value IS NOT NULL ORDER BY id DESC LIMIT 1}),
	($max_id + 1) . ' ALTER ROLE allowed production production',
	'a setting change after the update carries new_value, the id continuing the sequence');
$err = refuse('DROP TABLE victim /* v11-1 */');
like($err, qr/ERROR:  42501: guard: DROP TABLE of "public\.victim" refused in production/,
	'refusal after the update');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE statement LIKE '%v11-1%' AND verdict = 'blocked'}),
	'1', 'is a committed row');
is($node->safe_psql('postgres', qq{
	SELECT string_agg(id::text, ',' ORDER BY id) FROM guard.audit WHERE id > $max_id}),
	join(',', $max_id + 1 .. $max_id + 2), 'new ids follow the old ones without a gap');
is(checksum($node, 'postgres', $max_id), $sum_before, 'the old rows are still unchanged');
is(scalar(log_lines($node, qr/guard audit fallback/, $log_offset)), 0,
	'no record fell back to the server log after the update');
is($node->safe_psql('postgres',
		'SELECT rows_logged || \'/\' || rows_failed FROM guard.status()'),
	'0/0', 'guard.status: still nothing logged instead, nothing failed');
is($node->safe_psql('app', 'SELECT count(*) FROM victim'), '1000', 'nothing was lost');

# 1.1 to 1.2: a permit for ALTER SYSTEM, and a guard.prune that refuses a
# zero interval and records itself.  Nothing is rewritten.
($ret, $out, $err) = $node->psql('postgres', q{ALTER EXTENSION guard UPDATE TO '1.2'});
is($ret, 0, 'ALTER EXTENSION guard UPDATE TO 1.2 is not refused in production')
  or diag($err);
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'guard'}),
	'1.2', 'extversion is 1.2');
is($node->safe_psql('postgres', q{SELECT pg_relation_filenode('guard.audit')}), $filenode,
	'the audit table was not rewritten by 1.2 either');
is(checksum($node, 'postgres', $max_id), $sum_before, 'every old row is unchanged after 1.2');
($ret, $out, $err) = $node->psql('postgres', q{SELECT guard.prune('0 seconds')});
like($err, qr/guard\.prune needs a positive interval/, 'guard.prune refuses a zero interval');
is($node->safe_psql('postgres', q{SELECT guard.prune('100 years')}), '0',
	'guard.prune runs');
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM guard.audit WHERE command = 'guard.prune' AND verdict = 'allowed'})
  or die 'guard.prune left no record';
is($node->safe_psql('postgres', q{
	SELECT to_regprocedure('guard.permit_alter_system(text, text)') IS NOT NULL}),
	't', 'guard.permit_alter_system exists');

# 1.2 to 1.3: the recycle bin's view and functions.  Nothing is rewritten.
($ret, $out, $err) = $node->psql('postgres', q{ALTER EXTENSION guard UPDATE TO '1.3'});
is($ret, 0, 'ALTER EXTENSION guard UPDATE TO 1.3 is not refused in production')
  or diag($err);
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'guard'}),
	'1.3', 'extversion is 1.3');
is($node->safe_psql('postgres', q{SELECT pg_relation_filenode('guard.audit')}), $filenode,
	'the audit table was not rewritten by 1.3 either');
is(checksum($node, 'postgres', $max_id), $sum_before, 'every old row is unchanged after 1.3');
is($node->safe_psql('postgres', q{
	SELECT to_regprocedure('guard.undrop(text, name)') IS NOT NULL
	   AND to_regprocedure('guard.purge(text)') IS NOT NULL
	   AND to_regclass('guard.recyclebin') IS NOT NULL}),
	't', 'guard.undrop, guard.purge and guard.recyclebin exist');

# The 1.0 dump restored into another production server.  pg_dump writes
# "CREATE EXTENSION IF NOT EXISTS guard WITH SCHEMA guard" without a
# version, so the restored extension is the default version, 1.3, and the
# 1.0 rows are copied into it by name.
my ($toc) = run_command([ 'pg_restore', '-f', '-', $dump ]);
like($toc, qr/^CREATE EXTENSION IF NOT EXISTS guard WITH SCHEMA guard;$/m,
	'the dump creates the extension without a version');
like($toc, qr/^COPY guard\.audit \(id, at, database, [^)]*, clipped\) FROM stdin;$/m,
	'and copies the rows of the 1.0 columns by name');
my $other = guard_node('restore', conf => "guard.database = 'restored'\n");
$other->start;
$other->safe_psql('postgres', 'CREATE DATABASE restored');
$other->command_ok([ 'pg_restore', '--exit-on-error', '-d', $other->connstr('restored'), $dump ],
	'the 1.0 dump restores into a production server');
wait_for_writer($other, 'restored');
is($other->safe_psql('restored', q{SELECT extversion FROM pg_extension WHERE extname = 'guard'}),
	'1.3', 'the restored extension is at the default version, 1.3, not 1.0');
is(checksum($other, 'restored', $max_id), $sum_before, 'with every 1.0 row unchanged');
is($other->safe_psql('restored', q{
	SELECT count(*) FROM guard.audit WHERE old_value IS NOT NULL OR new_value IS NOT NULL}),
	'0', 'their old_value and new_value null');
$other->safe_psql('restored', q{
	CREATE ROLE migrator LOGIN;
	ALTER ROLE migrator SET guard.environment = 'production'});
is($other->safe_psql('restored', qq{
	SELECT id || ' ' || new_value FROM guard.audit WHERE id > $max_id}),
	($max_id + 1) . ' production',
	'the restored writer continues the sequence with the 1.1 columns');
$other->stop;

$node->stop;
done_testing();
