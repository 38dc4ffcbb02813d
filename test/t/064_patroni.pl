# Patroni (Debian's package) with guard: etcd and three Patroni nodes on
# one machine, loopback only.  guard's settings live in Patroni's
# configuration (bootstrap.dcs.postgresql.parameters), which Patroni
# applies to every node; a change made with "patronictl edit-config"
# reaches every node.  A switchover and a failover (the leader killed)
# keep guard refusing on the new leader, and the audit trail continuing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $bindir = PostgreSQL::Test::Cluster->new('probe')->config_data('--bindir');
plan skip_all => 'Debian does not package Patroni and etcd here (patroni, etcd-server)'
  unless -x '/usr/bin/patroni' && -x '/usr/bin/patronictl' && -x '/usr/bin/etcd';

my $dir = PostgreSQL::Test::Utils::tempdir();
delete @ENV{qw(PGPORT PGDATABASE PGSERVICE PGHOST)};
my @names = qw(p1 p2 p3);
my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } (@names, 'etcd', 'peer');
my %rest = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } @names;
my (%proc, $etcd);

$etcd = IPC::Run::start([ '/usr/bin/etcd', '--name', 'e1', '--data-dir', "$dir/etcd",
	'--listen-client-urls', "http://127.0.0.1:$port{etcd}",
	'--advertise-client-urls', "http://127.0.0.1:$port{etcd}",
	'--listen-peer-urls', "http://127.0.0.1:$port{peer}",
	'--initial-advertise-peer-urls', "http://127.0.0.1:$port{peer}",
	'--initial-cluster', "e1=http://127.0.0.1:$port{peer}" ],
	'>', "$dir/etcd.log", '2>&1');

foreach my $name (@names)
{
	open my $fh, '>', "$dir/$name.yml" or die;
	print $fh <<"YML";
scope: guard
name: $name
restapi:
  listen: 127.0.0.1:$rest{$name}
  connect_address: 127.0.0.1:$rest{$name}
etcd3:
  hosts: 127.0.0.1:$port{etcd}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 5
    postgresql:
      parameters:
        shared_preload_libraries: guard
        guard.environment: production
        guard.on_refusal: error
  initdb:
    - encoding: UTF8
postgresql:
  listen: 127.0.0.1:$port{$name}
  connect_address: 127.0.0.1:$port{$name}
  data_dir: $dir/$name
  bin_dir: $bindir
  pgpass: $dir/$name.pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: '$dir'
YML
	close $fh;
}

sub start_node
{
	my ($name) = @_;
	$proc{$name} = IPC::Run::start([ '/usr/bin/patroni', "$dir/$name.yml" ],
		'>>', "$dir/$name.log", '2>&1');
}

sub sql
{
	my ($name, $query) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$bindir/psql", '-X', '-At', '-h', '127.0.0.1', '-p', $port{$name},
		'-U', 'postgres', '-d', 'postgres', '-c', $query ], '>', \$out, '2>', \$err);
	chomp $out;
	return wantarray ? ($out, $err) : $out;
}

sub poll
{
	my ($what, $check) = @_;
	foreach (1 .. 600)
	{
		return 1 if $check->();
		select undef, undef, undef, 0.2;
	}
	diag("never: $what");
	return 0;
}

# The leader as Patroni's REST API says it, and the cluster's members.
sub leader
{
	foreach my $name (@names)
	{
		next unless $proc{$name};
		return $name if sql($name, 'SELECT NOT pg_is_in_recovery()') eq 't';
	}
	return '';
}

sub patronictl
{
	my @args = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ '/usr/bin/patronictl', '-c', "$dir/p1.yml", @args ],
		'>', \$out, '2>', \$err);
	note("patronictl @args: $out$err");
	return $ok;
}

start_node('p1');
poll('p1 leads', sub { leader() eq 'p1' }) or die('p1 never became the leader: ' . slurp_file("$dir/p1.log"));
start_node($_) foreach qw(p2 p3);
poll('three members streaming', sub {
	sql('p1', q{SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'}) eq '2' })
  or die('the replicas never streamed');

ok(poll('every node answers', sub { join(',', map { scalar sql($_, 'SHOW guard.environment') } @names)
	eq 'production,production,production' }),
	'Patroni\'s configuration puts every node in production');
sql('p1', 'CREATE EXTENSION guard');
poll('the writer', sub { sql('p1', 'SELECT writer_state FROM guard.status()') eq 'ready' });
sql('p1', 'CREATE TABLE score AS SELECT g AS id FROM generate_series(1, 100) g');

# A change through patronictl reaches every node.
ok(patronictl('edit-config', '--force', '--set', 'postgresql.parameters.guard.max_rows=50'),
	'patronictl edit-config sets guard.max_rows');
# Each member applies it on its next loop; a reload through each member's
# REST API makes that now (a replica that was still starting may not have
# seen the change yet).
ok(patronictl('reload', 'guard', '--force'), 'patronictl reload');
ok(poll('guard.max_rows everywhere', sub { join(',', map { scalar sql($_, 'SHOW guard.max_rows') } @names) eq '50,50,50' }),
	'and it reaches every node')
  or diag('guard.max_rows: ' . join(',', map { scalar sql($_, 'SHOW guard.max_rows') } @names));

my @refused;
sub refuse
{
	my ($where, $marker) = @_;
	my (undef, $err) = sql($where, "DROP TABLE score /* $marker */");
	like($err, qr/guard: DROP TABLE of "public\.score" refused in production/, "$marker: $where refuses");
	push @refused, $marker;
	ok(poll("the audit rows on $where", sub {
		sql($where, q{SELECT string_agg(substring(statement from '/\* (.*) \*/'), ',' ORDER BY id)
			FROM guard.audit WHERE statement LIKE 'DROP TABLE score%'}) eq join(',', @refused) }),
		"$marker: the audit trail on $where has every refusal so far");
}

refuse('p1', 'before');

# A switchover to p2.
ok(patronictl('switchover', '--leader', 'p1', '--candidate', 'p2', '--force'), 'patronictl switchover');
ok(poll('p2 leads', sub { leader() eq 'p2' }), 'p2 is the leader');
refuse('p2', 'after-switchover');

# A failover: the leader's Patroni and PostgreSQL killed, once the audit
# rows have reached the replicas (replication is asynchronous: see the
# README on rows committed on a primary that dies before sending them).
ok(poll('the audit rows on the replicas', sub {
	join(',', map { scalar sql($_, q{SELECT count(*) FROM guard.audit WHERE statement LIKE 'DROP TABLE score%'}) } qw(p1 p3))
	  eq '2,2' }), 'the replicas have the audit rows');
my ($pid) = slurp_file("$dir/p2/postmaster.pid") =~ /^(\d+)/;
$proc{p2}->kill_kill;
kill 'KILL', $pid if $pid;
delete $proc{p2};
ok(poll('a new leader', sub { my $l = leader(); $l eq 'p1' || $l eq 'p3' }), 'after the leader died, another took over');
my $new = leader();
refuse($new, 'after-failover');
is(sql($new, 'SELECT count(*) FROM score'), '100', 'nothing was lost');

END
{
	# The children's exit status is not the test's.
	local $?;
	foreach my $name (keys %proc)
	{
		eval { $proc{$name}->signal('TERM'); $proc{$name}->finish; 1 } or eval { $proc{$name}->kill_kill };
	}
	eval { $etcd->kill_kill } if $etcd;
}
done_testing();
