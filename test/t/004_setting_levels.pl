# A change to guard.environment is judged at the level it changes (the
# server, a database, a role, a role in a database), never against the
# session's own value.  On a shared server, a production database cannot
# be unmarked from a session in a development database; on a production
# server, a session in a development database cannot lower the server by
# ALTER SYSTEM.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('levels', environment => 'development');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', q{
	CREATE DATABASE proddb;
	CREATE DATABASE devdb;
	CREATE ROLE app LOGIN;
	ALTER DATABASE proddb SET guard.environment = 'production';
});
$node->safe_psql('proddb', 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');

is($node->safe_psql('proddb', 'SHOW guard.environment'), 'production', 'proddb is production');
is($node->safe_psql('devdb', 'SHOW guard.environment'), 'development', 'devdb is development');

# From devdb, every way of lowering proddb is refused and recorded.
foreach my $case (
	[ 'ALTER DATABASE proddb RESET ALL', 'database "proddb"' ],
	[ 'ALTER DATABASE proddb RESET guard.environment', 'database "proddb"' ],
	[ q{ALTER DATABASE proddb SET guard.environment = 'staging'}, 'database "proddb"' ],
	[ q{ALTER ROLE ALL IN DATABASE proddb SET guard.environment = 'development'}, 'database "proddb"' ],
	[ q{ALTER ROLE app IN DATABASE proddb SET guard.environment = 'development'},
		'role "app" in database "proddb"' ],
	[ q{ALTER ROLE app SET guard.environment = 'development'}, 'role "app" in database "proddb"' ])
{
	my ($sql, $scope) = @$case;
	my ($ret, $out, $err) = $node->psql('devdb', $sql);
	isnt($ret, 0, "from devdb, refused: $sql");
	like($err, qr/ERROR:  guard: ALTER (DATABASE|ROLE) of "guard\.environment" refused in production/,
		"$sql: guard's refusal");
	like($err, qr/would weaken it from "production" to "(development|staging)" for \Q$scope\E\./,
		"$sql: the detail names $scope");
}
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit
	WHERE verdict = 'blocked' AND environment = 'production' AND database = 'devdb'}),
	'6', 'each refusal is recorded, in the environment it would have lowered');
is($node->safe_psql('proddb', 'SHOW guard.environment'), 'production', 'proddb is still production');
my ($ret, $out, $err) = $node->psql('proddb', 'DROP TABLE t');
like($err, qr/guard: DROP TABLE of "public\.t" refused in production/, 'and still refuses DROP TABLE');
is($node->safe_psql('proddb', 'SHOW guard.environment',
		connstr => $node->connstr('proddb') . ' user=app'),
	'production', 'for role app too');

# ALTER ROLE ALL sets the level below every database's own: it leaves
# proddb as it is, and lowers nothing.
$node->safe_psql('devdb', q{ALTER ROLE ALL SET guard.environment = 'development'});
is($node->safe_psql('proddb', 'SHOW guard.environment'), 'production',
	'ALTER ROLE ALL SET leaves proddb production');
$node->safe_psql('devdb', 'ALTER ROLE ALL RESET ALL');

# Raising is recorded as allowed; lowering a level that is staging is
# warned, in staging's way.
$node->safe_psql('devdb', q{ALTER DATABASE devdb SET guard.environment = 'staging'});
$node->safe_psql('devdb', q{ALTER ROLE app IN DATABASE devdb SET guard.environment = 'development'});
is($node->safe_psql('postgres', q{
	SELECT string_agg(verdict || ' ' || environment, ',' ORDER BY id) FROM guard.audit
	WHERE statement LIKE '%devdb SET guard.environment%'}),
	'allowed development,warned staging', 'raising devdb is allowed; lowering its role setting is warned');

# The override, set in devdb, lets it through and is recorded.
$node->safe_psql('devdb', q{
	BEGIN;
	SET LOCAL guard.override = 'OPS-9: proddb is retired';
	ALTER DATABASE proddb SET guard.environment = 'staging';
	COMMIT;
});
is($node->safe_psql('postgres', q{
	SELECT verdict || ' ' || reason || ' ' || old_value || ' ' || new_value FROM guard.audit
	WHERE statement LIKE 'ALTER DATABASE proddb SET%' ORDER BY id DESC LIMIT 1}),
	'overridden OPS-9: proddb is retired production staging', 'the override is recorded');
$node->safe_psql('devdb', q{
	ALTER DATABASE proddb SET guard.environment = 'production';
	ALTER ROLE app IN DATABASE devdb RESET ALL;
	ALTER DATABASE devdb SET guard.environment = 'development'});

# The server itself becomes production by ALTER SYSTEM (postgresql.conf
# says development); devdb stays development by its own setting.
$node->safe_psql('postgres', q{ALTER SYSTEM SET guard.environment = 'production'});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('guard.environment') = 'production'})
  or die 'the reload did not take';
is($node->safe_psql('devdb', 'SHOW guard.environment'), 'development', 'devdb is development');

# From devdb, ALTER SYSTEM is judged against the server's configuration.
foreach my $sql (q{ALTER SYSTEM SET guard.environment = 'development'},
	'ALTER SYSTEM RESET guard.environment', 'ALTER SYSTEM RESET ALL')
{
	($ret, $out, $err) = $node->psql('devdb', $sql);
	isnt($ret, 0, "from devdb, refused: $sql");
	like($err, qr/guard: ALTER SYSTEM of "guard\.environment" refused in production/,
		"$sql: guard's refusal");
	like($err, qr/for the whole server\..*guard\.permit_alter_system\('guard\.environment'/s,
		"$sql: the hint names the permit for that setting");
}
like(slurp_file($node->data_dir . '/postgresql.auto.conf'), qr/guard\.environment = 'production'/,
	'postgresql.auto.conf is unchanged');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit
	WHERE command = 'ALTER SYSTEM' AND verdict = 'blocked' AND database = 'devdb'}),
	'3', 'the three are recorded as blocked');

# Restating the server's own value lowers nothing.
$node->safe_psql('devdb', q{ALTER SYSTEM SET guard.environment = 'production'});
is($node->safe_psql('postgres', q{
	SELECT verdict FROM guard.audit WHERE command = 'ALTER SYSTEM' ORDER BY id DESC LIMIT 1}),
	'allowed', 'restating production is allowed');

$node->stop;
done_testing();
