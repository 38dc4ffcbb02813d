# The writer pins the settings it needs, whatever the audit database or
# the server says: a read-only default on the audit database, and a
# synchronous standby that is not there, do not stop audit rows being
# committed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('pinned', conf => "guard.audit_timeout = '10s'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)');

sub refused_and_committed
{
	my ($marker, $name) = @_;
	my ($ret, $out, $err) = $node->psql('app', "DROP TABLE victim /* $marker */");
	like($err, qr/guard: DROP TABLE of "public\.victim" refused in production/, "$name: refused");
	is($node->safe_psql('postgres', qq{
		SET default_transaction_read_only = off;
		SELECT count(*) FROM guard.audit WHERE statement LIKE '%$marker%'}),
		'1', "$name: the row is committed");
	is(scalar(log_lines($node, qr/guard audit fallback: .*$marker/)), 0,
		"$name: nothing fell back to the log");
}

# Every transaction of the audit database read-only by default.
$node->safe_psql('postgres', 'ALTER DATABASE postgres SET default_transaction_read_only = on');
$node->restart;
wait_for_writer($node);
refused_and_committed('read-only-default', 'a read-only default on the audit database');
$node->safe_psql('postgres', q{
	SET default_transaction_read_only = off;
	ALTER DATABASE postgres RESET default_transaction_read_only});

# A synchronous standby that is not there: the writer's commit does not
# wait for it.
$node->append_conf('postgresql.conf', "synchronous_standby_names = 'missing_standby'\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('synchronous_standby_names') = 'missing_standby'})
  or die 'the reload did not take';
my $start = time;
refused_and_committed('missing-standby', 'a missing synchronous standby');
cmp_ok(time - $start, '<', 10, 'and the refusal did not wait out guard.audit_timeout');

$node->stop;
done_testing();
