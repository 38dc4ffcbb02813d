# guard on a primary and a streaming standby built by pg_basebackup: the
# audit rows replicate, guard stays out of recovery and read-only queries,
# and a promoted standby refuses the same statements, goes on writing the
# audit trail it inherited, and undrops what the primary's recycle bin kept.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $primary = guard_node('primary', init => { allows_streaming => 1 });
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($primary);
$primary->safe_psql('postgres', q{
	CREATE TABLE score (id int PRIMARY KEY, points int);
	INSERT INTO score SELECT g, g FROM generate_series(1, 1000) g;
});

my ($ret, $out, $err) = $primary->psql('postgres', 'DROP TABLE score /* on the primary */');
like($err, qr/guard: DROP TABLE of "public\.score" refused in production/,
	'the primary refuses');

# The standby: postgresql.conf, in the data directory here, comes with the
# base backup, so it is in production from its first second.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SHOW guard.environment'), 'production',
	'the standby has the primary\'s configuration');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM guard.audit WHERE statement LIKE '%on the primary%'"),
	'1', 'the audit row replicated');
is($standby->safe_psql('postgres', 'SELECT writer_state FROM guard.status()'),
	'stopped', 'no writer runs during recovery');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'guard writer'"),
	'0', 'and none is in pg_stat_activity');

# Read-only queries run; writes are refused by PostgreSQL itself.
is($standby->safe_psql('postgres', 'SELECT count(*), sum(points) FROM score'),
	'1000|500500', 'read-only queries run on the standby');
($ret, $out, $err) = $standby->psql('postgres', 'DROP TABLE score');
like($err, qr/cannot execute DROP TABLE in a read-only transaction/,
	'a write on the standby gets PostgreSQL\'s own error');
($ret, $out, $err) = $standby->psql('postgres', 'DELETE FROM score');
like($err, qr/cannot execute DELETE in a read-only transaction/,
	'a DELETE too');

# An exemption labelled on the primary replicates with the catalog.
$primary->safe_psql('postgres', q{
	CREATE TABLE stage (id int);
	INSERT INTO stage VALUES (1), (2);
	BEGIN;
	SET LOCAL guard.override = 'REP-2: stage is emptied nightly';
	SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
	COMMIT;
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT label FROM pg_seclabels WHERE provider = 'guard' AND objname = 'stage'"),
	'truncate', 'the exemption label replicated');

# Recovery replays whatever the primary did, overrides included.
$primary->safe_psql('postgres', q{
	CREATE TABLE legacy (id int);
	INSERT INTO legacy VALUES (1);
	BEGIN;
	SET LOCAL guard.override = 'REP-1: retire legacy';
	DROP TABLE legacy;
	DELETE FROM score WHERE id > 900;
	COMMIT;
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT to_regclass('legacy') IS NULL AND (SELECT count(*) FROM score) = 900"),
	't', 'the standby replays the overridden drop');
is($standby->safe_psql('postgres',
		"SELECT string_agg(command || ' ' || verdict, ', ' ORDER BY id) FROM guard.audit WHERE objects = '{public.legacy}'"),
	'DROP TABLE overridden, guard.keep allowed', 'and its audit rows: the drop, and the keep of the recycle bin');

# The recycle bin: a table that an overridden DROP TABLE let through is
# kept through a restart, and replicates with the catalog.
$primary->safe_psql('postgres', q{
	CREATE TABLE ledger (id int PRIMARY KEY, amount int);
	INSERT INTO ledger SELECT g, g * 10 FROM generate_series(1, 300) g;
	BEGIN;
	SET LOCAL guard.override = 'OPS-20: the wrong table';
	DROP TABLE ledger;
	COMMIT;
});
$primary->restart;
is($primary->safe_psql('postgres', q{SELECT "table" || ' ' || reason FROM guard.recyclebin ORDER BY 1}),
	"public.ledger OPS-20: the wrong table\npublic.legacy REP-1: retire legacy",
	'kept tables are still kept after a restart');

# A truncation hands the table's old storage to the bin: a crash right
# after its commit replays that, and the standby replays it too.
$primary->safe_psql('postgres', q{
	CREATE TABLE journal (id int PRIMARY KEY, body text);
	INSERT INTO journal SELECT g, repeat(md5(g::text), 300) FROM generate_series(1, 400) g;
	CHECKPOINT;
	BEGIN;
	SET LOCAL guard.override = 'OPS-21: emptied the wrong journal';
	TRUNCATE journal;
	COMMIT;
});
# And an entry that has expired meanwhile: guard's purger purges it when it
# starts (then once a minute), and records that.
$primary->safe_psql('postgres', q{
	DO $$
	DECLARE
		bin text := (SELECT bin FROM guard.recyclebin WHERE "table" = 'public.legacy');
	BEGIN
		EXECUTE format('COMMENT ON SCHEMA %I IS %L', bin,
					   jsonb_set(obj_description(bin::regnamespace, 'pg_namespace')::jsonb,
								 '{expires}', to_jsonb('2000-01-01 00:00:00+00'::text)));
	END
	$$;
});
$primary->stop('immediate');
$primary->start;
$primary->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM guard.audit
	WHERE command = 'guard.purge' AND objects = '{public.legacy}'
	  AND statement = '-- expired, purged by the guard purger'})
  or die 'the purger did not purge the expired entry';
is($primary->safe_psql('postgres', q{SELECT count(*) FROM guard.recyclebin WHERE "table" = 'public.legacy'}),
	'0', 'the purger purges an expired entry, and records it');
my $journal_bin = $primary->safe_psql('postgres',
	q{SELECT bin FROM guard.recyclebin WHERE "table" = 'public.journal'});
like($journal_bin, qr/^guard_bin_\d+$/, 'the truncation is kept through a crash');
is($primary->safe_psql('postgres',
		"SELECT count(*), sum(length(body)), count(*) FILTER (WHERE body = repeat(md5(id::text), 300)) FROM $journal_bin.journal"),
	'400|3840000|400', 'with every row and TOAST value');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT "table" FROM guard.recyclebin ORDER BY 1}),
	"public.journal\npublic.ledger", 'and the standby has them');
is($standby->safe_psql('postgres', "SELECT count(*), sum(length(body)) FROM $journal_bin.journal"),
	'400|3840000', 'the standby reads the kept rows');

# Failover: the primary goes away, the standby is promoted.
my $inherited = $standby->safe_psql('postgres', 'SELECT count(*) FROM guard.audit');
$primary->stop('immediate');
$standby->promote;
wait_for_writer($standby);
ok(1, 'the promoted standby starts its writer');

($ret, $out, $err) = $standby->psql('postgres', 'DROP TABLE score /* after failover */');
like($err, qr/guard: DROP TABLE of "public\.score" refused in production/,
	'the promoted standby refuses');
($ret, $out, $err) = $standby->psql('postgres', 'TRUNCATE score');
like($err, qr/guard: TRUNCATE TABLE of "public\.score" refused in production/,
	'TRUNCATE too');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM guard.audit WHERE statement LIKE '%after failover%'"),
	'1', 'the refusal is in the audit table it inherited');
is($standby->safe_psql('postgres', "SELECT count(*) - $inherited FROM guard.audit"),
	'2', 'after the inherited rows');
($ret, $out, $err) = $standby->psql('postgres', 'TRUNCATE stage');
is($ret, 0, 'the promoted standby applies the replicated exemption');
is($standby->safe_psql('postgres',
		"SELECT verdict FROM guard.audit WHERE command = 'TRUNCATE TABLE' AND objects = '{public.stage}'"),
	'allowed', 'and records it as allowed');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM score'), '900',
	'nothing was lost in the failover');

# The promoted standby puts the kept table back, with every row, and
# records it.
is($standby->safe_psql('postgres', q{SELECT guard.undrop('public.ledger')}), 'ledger',
	'the promoted standby undrops the kept table');
is($standby->safe_psql('postgres', 'SELECT count(*), sum(amount) FROM ledger'), '300|451500',
	'with every row');
$standby->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM guard.audit WHERE command = 'guard.undrop' AND objects = '{public.ledger}'})
  or die 'the undrop left no audit row';
ok(1, 'the undrop is recorded');

is($standby->safe_psql('postgres', q{SELECT guard.undrop('public.journal')}), 'journal',
	'and puts back the truncated rows');
is($standby->safe_psql('postgres',
		'SELECT count(*), count(*) FILTER (WHERE body = repeat(md5(id::text), 300)) FROM journal'),
	'400|400', 'every one of them, as it was');

# Ids go on increasing after the rows the primary wrote.
is($standby->safe_psql('postgres', q{
	SELECT bool_and(id > prev) FROM (SELECT id, lag(id) OVER (ORDER BY id) AS prev
									  FROM guard.audit) s WHERE prev IS NOT NULL}),
	't', 'ids keep increasing');

$standby->stop;
done_testing();
