# guard works only from shared_preload_libraries; every other way of
# loading it is refused with an error that says so.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

# A server without guard preloaded.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;

my ($ret, $out, $err) = $plain->psql('postgres', "LOAD 'guard'");
isnt($ret, 0, 'LOAD is refused');
like($err, qr/guard must be loaded via shared_preload_libraries/,
	'LOAD names shared_preload_libraries');

($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION guard');
isnt($ret, 0, 'CREATE EXTENSION without the preload is refused');
like($err, qr/guard must be loaded via shared_preload_libraries/,
	'CREATE EXTENSION names shared_preload_libraries');
is($plain->safe_psql('postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'guard'"),
	'0', 'no extension was created');

# session_preload_libraries would load it into each session: refused too,
# at connection time.
$plain->append_conf('postgresql.conf', "session_preload_libraries = 'guard'");
$plain->reload;
($ret, $out, $err) = $plain->psql('postgres', 'SELECT 1');
isnt($ret, 0, 'a session that would load guard is refused');
like($err, qr/guard must be loaded via shared_preload_libraries/,
	'the refusal names shared_preload_libraries');
$plain->adjust_conf('postgresql.conf', 'session_preload_libraries', "''");
$plain->reload;
is($plain->safe_psql('postgres', 'SELECT 1'), '1',
	'sessions work again once the setting is gone');
$plain->stop;

# With the preload: a startup line names the environment.
my $node = guard_node('preloaded');
$node->start;
ok(scalar(log_lines($node, qr/LOG:  guard \d+\.\d+: environment is "production"/)),
	'the startup log line names the environment');
is($node->safe_psql('postgres', 'SHOW guard.environment'), 'production',
	'SHOW guard.environment');

# LOAD of an already preloaded library changes nothing.
($ret, $out, $err) = $node->psql('postgres', "LOAD 'guard'");
is($ret, 0, 'LOAD of the preloaded library is harmless');

# A typo in the configuration does not switch protection off.
$node->adjust_conf('postgresql.conf', 'guard.environment', "'prodution'");
$node->restart;
is($node->safe_psql('postgres', 'SHOW guard.environment'), 'production',
	'an invalid environment in the configuration means production');
ok(scalar(log_lines($node, qr/invalid value "prodution" for "guard.environment", using "production"/)),
	'and the log says so');

$node->stop;
done_testing();
