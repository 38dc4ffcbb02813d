# Client programs against a production server: pg_restore --clean, a plain
# dump with --clean replayed by psql, and dropdb are refused and lose
# nothing; and a dump of the audit database keeps its rows.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('prod');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE TABLE game (id int PRIMARY KEY, name text);
	CREATE TABLE player (id int PRIMARY KEY, name text);
	CREATE TABLE score (id int PRIMARY KEY, game_id int REFERENCES game,
						player_id int REFERENCES player, points int);
	INSERT INTO game SELECT g, 'game ' || g FROM generate_series(1, 50) g;
	INSERT INTO player SELECT g, 'player ' || g FROM generate_series(1, 200) g;
	INSERT INTO score SELECT g, 1 + g % 50, 1 + g % 200, g FROM generate_series(1, 5000) g;
});
# A copy of every row, to prove afterwards that none is missing.
$node->safe_psql('app', q{
	CREATE SCHEMA kept;
	CREATE TABLE kept.game AS SELECT * FROM game;
	CREATE TABLE kept.player AS SELECT * FROM player;
	CREATE TABLE kept.score AS SELECT * FROM score;
});
my $missing_sql = q{SELECT (SELECT count(*) FROM (TABLE kept.game EXCEPT TABLE game) g)
	+ (SELECT count(*) FROM (TABLE kept.player EXCEPT TABLE player) p)
	+ (SELECT count(*) FROM (TABLE kept.score EXCEPT TABLE score) s)};
my $counts_sql = q{SELECT (SELECT count(*) FROM game) || '/' || (SELECT count(*) FROM player)
	|| '/' || (SELECT count(*) FROM score)};
my $before = $node->safe_psql('app', $counts_sql);
is($before, '50/200/5000', 'the data is there');

# The client programs name themselves in application_name.
delete $ENV{PGAPPNAME};

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $dump = "$tmp/app.dump";
$node->command_ok([ 'pg_dump', '-Fc', '--exclude-schema=kept', '-f', $dump, '-d', $node->connstr('app') ],
	'pg_dump of a production database works');

# pg_restore --clean: every DROP is refused, nothing is replaced.
my ($stdout, $stderr);
my ($ret, $out, $err);
my $ok = IPC::Run::run([ 'pg_restore', '--clean', '-d', $node->connstr('app'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok(!$ok, 'pg_restore --clean reports errors');
like($stderr, qr/guard: DROP TABLE of "public\.score" refused in production/,
	'pg_restore shows the refusal');
is($node->safe_psql('app', $missing_sql), '0', 'after pg_restore --clean no row is missing');
# pg_restore goes on after errors: it drops the primary keys (no data) and
# copies its rows in again.  Nothing is lost, but the rows are doubled:
# against production, use --single-transaction (below) or --exit-on-error.
is($node->safe_psql('app', $counts_sql), '100/400/10000',
	'without --single-transaction pg_restore appends its rows again');
$node->safe_psql('app', q{
	BEGIN;
	SET LOCAL guard.override = 'test: remove the copies pg_restore appended';
	DELETE FROM score; DELETE FROM player; DELETE FROM game;
	INSERT INTO game TABLE kept.game; INSERT INTO player TABLE kept.player;
	INSERT INTO score TABLE kept.score;
	ALTER TABLE game ADD PRIMARY KEY (id); ALTER TABLE player ADD PRIMARY KEY (id);
	ALTER TABLE score ADD PRIMARY KEY (id);
	COMMIT;
});
is($node->safe_psql('app', $counts_sql), $before, 'the copies are removed by override');

# With --single-transaction it stops at the first refusal.
$ok = IPC::Run::run([ 'pg_restore', '--clean', '--if-exists', '--single-transaction',
		'-d', $node->connstr('app'), $dump ], '>', \$stdout, '2>', \$stderr);
ok(!$ok, 'pg_restore --clean --single-transaction fails');
like($stderr, qr/guard: DROP TABLE of "public\.\w+" refused in production/,
	'at a refused DROP TABLE');
is($node->safe_psql('app', $counts_sql), $before, 'nothing is lost, nothing is added');

# A plain dump made with --clean, replayed by psql.
my $plain = "$tmp/app.sql";
$node->command_ok([ 'pg_dump', '--clean', '--if-exists', '--exclude-schema=kept', '-f', $plain,
		'-d', $node->connstr('app') ],
	'pg_dump --clean to a plain script');
$ok = IPC::Run::run([ 'psql', '-X', '-q', '-d', $node->connstr('app'), '-f', $plain ],
	'>', \$stdout, '2>', \$stderr);
like($stderr, qr/guard: DROP TABLE of "public\.game" refused in production/,
	'psql replaying the script shows the refusals');
is($node->safe_psql('app', $missing_sql), '0', 'no row is missing');

# dropdb, with and without --force.
$ok = IPC::Run::run([ 'dropdb', '-h', $node->host, '-p', $node->port, 'app' ],
	'>', \$stdout, '2>', \$stderr);
ok(!$ok, 'dropdb is refused');
like($stderr, qr/guard: DROP DATABASE of "app" refused in production/, 'with guard\'s message');
$ok = IPC::Run::run([ 'dropdb', '--force', '-h', $node->host, '-p', $node->port, 'app' ],
	'>', \$stdout, '2>', \$stderr);
ok(!$ok, 'dropdb --force is refused');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'app'"),
	'1', 'the database is still there');
is($node->safe_psql('app', $missing_sql), '0', 'with all its rows');

# DROP DATABASE is decided once, before dropdb() acts, and the audit row
# says what was decided: a permit is used up by that decision, whatever
# dropdb() then meets (sessions to wait for or terminate, a checkpoint), so
# no later check can refuse a drop whose files are already gone.
$node->safe_psql('postgres', 'CREATE DATABASE busy');
my $busy = $node->background_psql('busy');
$busy->query_safe('SELECT 1');
($ret, $out, $err) = $node->psql('postgres', q{
	SELECT guard.permit_drop_database('busy', 'OPS-9: retire busy');
	DROP DATABASE busy;
	DROP DATABASE busy;}, on_error_stop => 0);
like($err, qr/database "busy" is being accessed by other users.*guard: DROP DATABASE of "busy" refused in production/s,
	'a permitted DROP DATABASE that dropdb() then fails uses the permit up');
($ret, $out, $err) = $node->psql('postgres', q{
	SELECT guard.permit_drop_database('busy', 'OPS-10: retire busy, ending its sessions');
	DROP DATABASE busy WITH (FORCE);});
is($ret, 0, 'a permitted DROP DATABASE WITH (FORCE) ends the sessions and drops it') or diag($err);
eval { $busy->quit };
is($node->safe_psql('postgres', q{
	SELECT string_agg(verdict || ' ' || coalesce(reason, '-'), ', ' ORDER BY id)
	FROM guard.audit WHERE command = 'DROP DATABASE' AND objects = '{busy}'}),
	'overridden OPS-9: retire busy, blocked -, overridden OPS-10: retire busy, ending its sessions',
	'one audit row per DROP DATABASE, with the decision made before it acted');

# Every attempt is in the audit table, with the client program's name.
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT application_name || ': ' || command, ', '
					  ORDER BY application_name || ': ' || command)
	FROM guard.audit
	WHERE verdict = 'blocked' AND (database = 'app' OR objects = '{app}')}),
	'dropdb: DROP DATABASE, pg_restore: DROP TABLE, psql: DROP TABLE',
	'each client program is recorded');

# An exemption, a security label, comes back with a restored dump.
$node->safe_psql('app', q{
	CREATE TABLE stage (id int);
	INSERT INTO stage VALUES (1), (2);
	BEGIN;
	SET LOCAL guard.override = 'ETL-1: stage is emptied nightly';
	SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
	COMMIT;
});
my $app_dump = "$tmp/app_labels.dump";
$node->command_ok([ 'pg_dump', '-Fc', '--exclude-schema=kept', '-f', $app_dump,
		'-d', $node->connstr('app') ], 'pg_dump of a database with an exemption');
# A restore statement by statement: each label would exempt an existing
# table, and widening an exemption in production needs the override.
$node->safe_psql('postgres', 'CREATE DATABASE app_plain');
$ok = IPC::Run::run([ 'pg_restore', '-d', $node->connstr('app_plain'), $app_dump ],
	'>', \$stdout, '2>', \$stderr);
like($stderr, qr/guard: SECURITY LABEL of "public\.stage" refused in production/,
	'a restore statement by statement cannot restore the exemption');
is($node->safe_psql('app_plain', 'SELECT count(*) FROM stage'), '2',
	'but restores the table');
# In one transaction, the label goes on a table created in it: restored.
$node->safe_psql('postgres', 'CREATE DATABASE app_copy');
$node->command_ok([ 'pg_restore', '--single-transaction', '-d', $node->connstr('app_copy'), $app_dump ],
	'a restore in one transaction restores everything');
is($node->safe_psql('app_copy',
		"SELECT label FROM pg_seclabels WHERE provider = 'guard' AND objname = 'stage'"),
	'truncate', 'the label is restored');
($ret, $out, $err) = $node->psql('app_copy', 'TRUNCATE stage');
is($ret, 0, 'and the restored table is exempt: TRUNCATE runs in production');
($ret, $out, $err) = $node->psql('app_copy', 'INSERT INTO stage VALUES (3); DROP TABLE stage');
like($err, qr/guard: DROP TABLE of "public\.stage" refused in production/,
	'for what the label says only');

# A dump of the audit database keeps the audit rows.
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM guard.audit');
cmp_ok($rows, '>', 0, 'there are audit rows to keep');
my $audit_dump = "$tmp/audit.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $audit_dump, '-d', $node->connstr('postgres') ],
	'pg_dump of the audit database');

my $other = guard_node('restore', environment => 'development',
	conf => "guard.database = 'restored'\n");
$other->start;
$other->safe_psql('postgres', 'CREATE DATABASE restored');
$other->command_ok([ 'pg_restore', '-d', $other->connstr('restored'), $audit_dump ],
	'the audit database restores elsewhere');
is($other->safe_psql('restored', 'SELECT count(*) FROM guard.audit'), $rows,
	'with every audit row');
is($other->safe_psql('restored', q{
	SELECT max(id) < nextval('guard.audit_id_seq') FROM guard.audit}),
	't', 'and the id sequence continues after them');

$other->stop;
$node->stop;
done_testing();
