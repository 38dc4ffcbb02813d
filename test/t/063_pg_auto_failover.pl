# pg_auto_failover (Debian's pg_autoctl) with guard: a monitor and two
# nodes on one machine, loopback only.  pg_autoctl writes its own
# shared_preload_libraries = pg_stat_statements into
# postgresql-auto-failover.conf, which postgresql.conf includes on its
# first line, so a later line of postgresql.conf names guard too (and the
# secondary's copy of the primary's data directory carries it).  The
# primary refuses and records; after "pg_autoctl perform failover" the new
# primary refuses and goes on writing the audit trail it inherited.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $bindir = PostgreSQL::Test::Cluster->new('probe')->config_data('--bindir');
my ($autoctl) = grep { -x $_ } ('/usr/bin/pg_autoctl', "$bindir/pg_autoctl");
plan skip_all => 'Debian does not package pg_auto_failover for this major (postgresql-NN-auto-failover)'
  unless $autoctl && extension_available(PostgreSQL::Test::Cluster->new('probe2'), 'pgautofailover');

my $dir = PostgreSQL::Test::Utils::tempdir();
$ENV{HOME} = $dir;
$ENV{XDG_CONFIG_HOME} = "$dir/config";
$ENV{XDG_DATA_HOME} = "$dir/data";
$ENV{PATH} = "$bindir:$ENV{PATH}";
# pg_autoctl talks to its servers over loopback TCP, not the test's socket.
delete @ENV{qw(PGPORT PGDATABASE PGSERVICE)};
$ENV{PGHOST} = 'localhost';
my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } qw(monitor n1 n2);
my $monitor_uri = "postgres://autoctl_node\@localhost:$port{monitor}/pg_auto_failover?sslmode=disable";
my @running;

sub autoctl_run
{
	my ($name) = @_;
	push @running, [ $name, IPC::Run::start([ $autoctl, 'run', '--pgdata', "$dir/$name" ],
		'>', "$dir/$name.log", '2>&1') ];
}

sub sql
{
	my ($name, $query, $db) = @_;
	my ($out, $err);
	IPC::Run::run([ 'psql', '-X', '-At', '-h', 'localhost', '-p', $port{$name}, '-d', $db // 'postgres',
		'-c', $query ], '>', \$out, '2>', \$err);
	chomp $out;
	return wantarray ? ($out, $err) : $out;
}

sub poll
{
	my ($name, $query, $want, $db) = @_;
	foreach (1 .. 600)
	{
		return 1 if (sql($name, $query, $db) // '') eq $want;
		select undef, undef, undef, 0.2;
	}
	diag("$name: '$query' never returned '$want'");
	return 0;
}

my $states = q{SELECT string_agg(nodename || ':' || reportedstate, ',' ORDER BY nodeid) FROM pgautofailover.node};
my @common = ('--hostname', 'localhost', '--auth', 'trust', '--no-ssl', '--pgctl', "$bindir/pg_ctl");

command_ok([ $autoctl, 'create', 'monitor', '--pgdata', "$dir/monitor", '--pgport', $port{monitor}, @common ],
	'the monitor is created');
autoctl_run('monitor');
poll('monitor', 'SELECT 1', '1', 'pg_auto_failover') or die('the monitor did not start');

command_ok([ $autoctl, 'create', 'postgres', '--pgdata', "$dir/n1", '--pgport', $port{n1},
	'--name', 'n1', '--monitor', $monitor_uri, @common ], 'the first node is created');
like(slurp_file("$dir/n1/postgresql-auto-failover.conf"), qr/^shared_preload_libraries = pg_stat_statements$/m,
	'pg_auto_failover preloads pg_stat_statements in its own file');
append_to_file("$dir/n1/postgresql.conf",
	"shared_preload_libraries = 'pg_stat_statements,guard'\n"
	  . "guard.environment = 'production'\nguard.on_refusal = 'error'\n");
autoctl_run('n1');
poll('monitor', $states, 'n1:single', 'pg_auto_failover') or die('n1 never became single');
ok(poll('n1', 'SHOW shared_preload_libraries', 'pg_stat_statements,guard'), 'n1 preloads guard too');

command_ok([ $autoctl, 'create', 'postgres', '--pgdata', "$dir/n2", '--pgport', $port{n2},
	'--name', 'n2', '--monitor', $monitor_uri, @common ], 'the second node is created');
autoctl_run('n2');
poll('monitor', $states, 'n1:primary,n2:secondary', 'pg_auto_failover')
  or die('the pair never formed');

sql('n1', 'CREATE EXTENSION guard');
poll('n1', q{SELECT writer_state FROM guard.status()}, 'ready');
sql('n1', 'CREATE TABLE score AS SELECT g AS id FROM generate_series(1, 100) g');
my (undef, $err) = sql('n1', 'DROP TABLE score /* on n1 */');
like($err, qr/guard: DROP TABLE of "public\.score" refused in production/, 'the primary refuses');
is(sql('n2', 'SHOW guard.environment'), 'production', 'the secondary is in production too');

command_ok([ $autoctl, 'perform', 'failover', '--pgdata', "$dir/monitor" ], 'pg_autoctl perform failover');
poll('monitor', $states, 'n1:secondary,n2:primary', 'pg_auto_failover')
  or die('the failover never completed');
(undef, $err) = sql('n2', 'DROP TABLE score /* on n2 */');
like($err, qr/guard: DROP TABLE of "public\.score" refused in production/, 'the new primary refuses');
ok(poll('n2', q{SELECT string_agg(statement || ' ' || verdict, ', ' ORDER BY id) FROM guard.audit
	WHERE statement LIKE 'DROP TABLE score%'},
	'DROP TABLE score /* on n1 */ blocked, DROP TABLE score /* on n2 */ blocked'),
	'the new primary goes on with the audit trail it inherited');
is(sql('n2', 'SELECT count(*) FROM score'), '100', 'nothing was lost');

# Stop the nodes, then the monitor, however the test ends.
END
{
	# The children's exit status is not the test's.
	local $?;
	foreach my $node (reverse @running)
	{
		system($autoctl, 'stop', '--pgdata', "$dir/$node->[0]");
		eval { $node->[1]->finish; 1 } or $node->[1]->kill_kill;
	}
}
done_testing();
