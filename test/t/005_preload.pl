# Taking guard out of shared_preload_libraries by ALTER SYSTEM weakens
# protection like lowering guard.environment: after the next restart
# nothing would be refused or recorded.  In production it is refused, with
# guard loaded from postgresql.conf or, as in many containers, from
# postgresql.auto.conf alone.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

sub refused
{
	my ($node, $sql, $name) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	isnt($ret, 0, "$name: refused");
	like($err, qr/ERROR:  guard: ALTER SYSTEM of (".*", )?"shared_preload_libraries" refused in production/,
		"$name: guard's refusal");
	like($err, qr/would take guard out of "shared_preload_libraries"/, "$name: says why");
}

# guard in postgresql.conf.
my $node = guard_node('conf');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);

refused($node, q{ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'},
	'SET to a list without guard');
refused($node, q{ALTER SYSTEM SET shared_preload_libraries = ''}, 'SET to nothing');
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'guard'});
$node->safe_psql('postgres', 'ALTER SYSTEM RESET shared_preload_libraries');
is($node->safe_psql('postgres', q{
	SELECT string_agg(verdict, ',' ORDER BY id) FROM guard.audit
	WHERE objects = '{shared_preload_libraries}'}),
	'blocked,blocked,allowed,allowed',
	'every change is recorded; keeping guard, or falling back to postgresql.conf that names it, is allowed');
$node->stop;

# guard in postgresql.auto.conf alone.
my $auto = PostgreSQL::Test::Cluster->new('auto');
$auto->init;
$auto->append_conf('postgresql.auto.conf',
	"shared_preload_libraries = 'guard'\nguard.environment = 'production'\n");
$auto->start;
$auto->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($auto);
$auto->safe_psql('postgres', 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');

refused($auto, 'ALTER SYSTEM RESET shared_preload_libraries', 'RESET');
refused($auto, 'ALTER SYSTEM RESET ALL', 'RESET ALL');
like(slurp_file($auto->data_dir . '/postgresql.auto.conf'), qr/shared_preload_libraries = 'guard'/,
	'postgresql.auto.conf still loads guard');

# With the override nothing reaches ALTER SYSTEM (it cannot run in a
# transaction block): the file is the deliberate way.  After a restart,
# guard is there and refuses.
$auto->restart;
my ($ret, $out, $err) = $auto->psql('postgres', 'DROP TABLE t');
like($err, qr/guard: DROP TABLE of "public\.t" refused in production/,
	'after a restart, guard still refuses');
is($auto->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE command = 'ALTER SYSTEM' AND verdict = 'blocked'}),
	'2', 'both refusals are recorded');
$auto->stop;

done_testing();
