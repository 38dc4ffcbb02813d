# GuardTest: helpers shared by guard's TAP tests (test/t/*.pl).
package GuardTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(guard_node wait_for_writer audit_count log_lines);

# A node that preloads guard, in the given environment (production by
# default), with extra postgresql.conf lines.
sub guard_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	my $env = $opts{environment} // 'production';
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'guard'\n"
		  . "guard.environment = '$env'\n"
		  . ($opts{conf} // ''));
	return $node;
}

# Wait until the audit writer has found guard.audit.
sub wait_for_writer
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	$node->poll_query_until($db,
		"SELECT writer_state = 'ready' FROM guard.status()")
	  or die "guard's writer never became ready";
}

# Rows of guard.audit matching a WHERE clause.
sub audit_count
{
	my ($node, $where, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) FROM guard.audit WHERE $where");
}

# Lines of the server log from a byte offset on that match a pattern.
sub log_lines
{
	my ($node, $pattern, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset // 0);
	return grep { /$pattern/ } split /\n/, $log;
}

1;
