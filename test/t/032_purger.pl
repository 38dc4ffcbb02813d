# The purger purges expired recycle bin entries in every database that has
# a bin, not only in the audit database: through a short-lived worker
# connected to each.  After a start it visits every database once; then
# those where a table was kept, or where entries are left.  Extension
# guard_bin gives another database guard.undrop, guard.purge and
# guard.recyclebin.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('purger');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('postgres', 'CREATE DATABASE depot');

# Keep a table of 10 rows in a database, by an overridden DROP TABLE.
sub keep
{
	my ($db, $table) = @_;
	$node->safe_psql($db, qq{
		CREATE TABLE $table AS SELECT g AS id FROM generate_series(1, 10) g;
		BEGIN;
		SET LOCAL guard.override = 'test: keep $table';
		DROP TABLE $table;
		COMMIT;
	});
}

# The bin schema that keeps a table, '' when there is none.
sub bin_of
{
	my ($db, $table) = @_;
	return $node->safe_psql($db, qq{
		SELECT nspname FROM pg_namespace
		WHERE nspname LIKE 'guard\\_bin\\_%'
		  AND obj_description(oid, 'pg_namespace')::jsonb->>'table' = 'public.$table'});
}

# Make an entry expired, as if its retention had passed.
sub expire
{
	my ($db, $table) = @_;
	my $bin = bin_of($db, $table);
	die "$table is not kept in $db" if $bin eq '';
	$node->safe_psql($db, qq{
		DO \$\$
		BEGIN
			EXECUTE format('COMMENT ON SCHEMA %I IS %L', '$bin',
				jsonb_set(obj_description('$bin'::regnamespace, 'pg_namespace')::jsonb,
						  '{expires}', to_jsonb('2000-01-01 00:00:00+00'::text)));
		END
		\$\$});
}

# Whether the purger recorded the purge of a table of a database.
sub purged
{
	my ($db, $table) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM guard.audit
		WHERE command = 'guard.purge' AND database = '$db'
		  AND objects = '{public.$table}'
		  AND statement = '-- expired, purged by the guard purger'});
}

keep('shop', 'first');
keep('shop', 'second');
expire('shop', 'first');

# After a start, the purger visits every database.
$node->stop('immediate');
$node->start;
ok(purged('shop', 'first'), 'after a start: an expired entry of another database is purged');
is(bin_of('shop', 'first'), '', 'its bin schema is gone');
isnt(bin_of('shop', 'second'), '', 'an entry that has not expired stays');

# The database with an entry left is visited again: a reload wakes the
# purger at once instead of a minute later.
expire('shop', 'second');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(purged('shop', 'second'), 'the database where an entry was left is visited again');
is(bin_of('shop', 'second'), '', 'and its expired entry purged');

# A database where a table is kept since is visited too.
keep('depot', 'third');
expire('depot', 'third');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(purged('depot', 'third'), 'a database where a table was kept since is visited');
is($node->safe_psql('depot', q{SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'guard\_bin\_%'}),
	'0', 'its bin is empty');

# A database that is dropped is forgotten: the purger goes on.
keep('depot', 'fourth');
$node->safe_psql('postgres', q{
	SELECT guard.permit_drop_database('depot', 'test: the depot closes');
	DROP DATABASE depot;
});
keep('shop', 'fifth');
expire('shop', 'fifth');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(purged('shop', 'fifth'), 'a dropped database does not stop the purger');

# guard.undrop, guard.purge and guard.recyclebin in another database:
# extension guard_bin, which the audit database does not take.
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION guard_bin');
like($err, qr/extension "guard_bin" is not for database "postgres"/,
	'guard_bin is refused in the audit database');
$node->safe_psql('shop', 'CREATE EXTENSION guard_bin');
keep('shop', 'sixth');
is($node->safe_psql('shop', q{SELECT "table", command, reason FROM guard.recyclebin}),
	'public.sixth|DROP TABLE|test: keep sixth', 'guard.recyclebin lists what the database keeps');
$node->safe_psql('shop', q{SELECT guard.undrop('public.sixth')});
is($node->safe_psql('shop', 'SELECT count(*) FROM sixth'), '10', 'guard.undrop puts it back');
is(audit_count($node, q{command = 'guard.undrop' AND database = 'shop' AND objects = '{public.sixth}'}),
	'1', 'the undo is an audit row');
keep('shop', 'seventh');
($ret, $out, $err) = $node->psql('shop', q{SELECT guard.purge('public.seventh')});
like($err, qr/guard\.purge of "public\.seventh" refused in production/,
	'guard.purge needs the override');
$node->safe_psql('shop', q{
	BEGIN;
	SET LOCAL guard.override = 'test: purge seventh';
	SELECT guard.purge('public.seventh');
	COMMIT;
});
is($node->safe_psql('shop', 'SELECT count(*) FROM guard.recyclebin'), '0', 'and purges with it');

$node->stop;
done_testing();
