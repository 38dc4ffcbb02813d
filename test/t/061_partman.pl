# pg_partman's retention on a production server.  run_maintenance() drops
# the partitions older than the retention, with their rows: guard refuses
# that until the DBA says, once, that this table's partitions may be
# dropped, with a "drop" label on the parent (set with the override).
# Then retention runs, and each drop is recorded as allowed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('partman');
plan skip_all => 'Debian does not package pg_partman for this major (postgresql-NN-partman)'
  unless extension_available($node, 'pg_partman');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', q{
	CREATE SCHEMA partman;
	CREATE EXTENSION pg_partman SCHEMA partman;
	CREATE TABLE events (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
});
# pg_partman 4 wants the partitioning type, "native"; 5 only knows one.
my $version = $node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'});
my $type = $version =~ /^4\./ ? q{, p_type := 'native'} : '';
$node->safe_psql('postgres', qq{
	SELECT partman.create_parent(p_parent_table := 'public.events', p_control := 'at',
		p_interval := '1 day'$type,
		p_start_partition := (now() - interval '10 days')::date::text);
	INSERT INTO events SELECT now() - g * interval '1 day', g FROM generate_series(0, 9) g;
	UPDATE partman.part_config SET retention = '3 days', retention_keep_table = false
	WHERE parent_table = 'public.events';
});
my $count_sql = 'SELECT count(*) FROM events';
my $partitions_sql = q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass};
my $partitions = $node->safe_psql('postgres', $partitions_sql);
is($node->safe_psql('postgres', $count_sql), '10', "pg_partman $version: ten days of rows");

# Retention without the label: refused, nothing dropped.
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT partman.run_maintenance('public.events')});
# pg_partman 4 fails; 5 skips the set with a WARNING and goes on.
ok($ret != 0 || $err =~ /WARNING:  pg_partman maintenance skipped partition set for parent table public\.events/,
	"pg_partman $version: retention without a label fails, or skips the set");
like($err, qr/guard: DROP TABLE of "public\.events_p\w+" refused in production/,
	'with guard\'s refusal, as pg_partman passes it on');
is($node->safe_psql('postgres', $count_sql), '10', 'no row was dropped');
is($node->safe_psql('postgres', $partitions_sql), $partitions, 'no partition was dropped');
ok(audit_count($node, q{command = 'DROP TABLE' AND verdict = 'blocked' AND objects[1] LIKE 'public.events_p%'}) >= 1,
	'the refusal is recorded');

# The DBA's decision: this table's old partitions may go.
$node->safe_psql('postgres', q{
	BEGIN;
	SET LOCAL guard.override = 'RET-1: events keep 3 days, by pg_partman';
	SECURITY LABEL FOR guard ON TABLE events IS 'drop';
	COMMIT;
});
($ret, $out, $err) = $node->psql('postgres', q{SELECT partman.run_maintenance('public.events')});
is($ret, 0, 'retention with the label runs') or diag($err);
cmp_ok($node->safe_psql('postgres', $count_sql), '<', 10, 'the old partitions\' rows are gone');
cmp_ok($node->safe_psql('postgres', $partitions_sql), '<', $partitions, 'and the old partitions');
ok(audit_count($node, q{command = 'DROP TABLE' AND verdict = 'allowed' AND objects[1] LIKE 'public.events_p%'}) >= 1,
	'each drop is recorded as allowed');

# The label exempts drops only: emptying the table is still refused.
($ret, $out, $err) = $node->psql('postgres', 'DELETE FROM events');
like($err, qr/guard: DELETE of "public\.events" refused in production/, 'DELETE is still refused');

$node->stop;
done_testing();
