# guard preloaded with what production servers run beside it, in both
# orders: pg_stat_statements, auto_explain, pgaudit, set_user and pg_cron
# (Debian's packages).  The server starts, every hook chains, each tool
# does its job, and guard refuses and records as alone:
# - pg_stat_statements counts statements, auto_explain logs plans;
# - pgaudit logs what ran, and nothing for a statement guard refused (it
#   logs after success): guard's own log line is the record;
# - set_user's escalation to a superuser does not get past guard, and the
#   audit row has the real login;
# - pg_cron jobs (in background workers) are refused and recorded like
#   sessions, and a job on an exempted table runs.
# Tools not packaged for the major are left out of the list, and their
# checks are skipped with the reason.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $probe = PostgreSQL::Test::Cluster->new('probe');
my %has = map { $_ => extension_available($probe, $_) } qw(pgaudit set_user pg_cron);
my @libs = ('pg_stat_statements', 'auto_explain', grep({ $has{$_} } qw(pgaudit set_user pg_cron)));

foreach my $order ('guard last', 'guard first')
{
	my @preload = $order eq 'guard last' ? (@libs, 'guard') : ('guard', reverse @libs);
	my $name = $order =~ s/ /_/r;
	my $node = guard_node($name, conf => "shared_preload_libraries = '" . join(',', @preload) . "'\n"
		  . "auto_explain.log_min_duration = 0\n"
		  . "pgaudit.log = 'ddl, write'\n"
		  . "cron.database_name = 'postgres'\n"
		  . "cron.use_background_workers = on\n"
		  . "max_worker_processes = 16\n");
	$node->start;
	is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), join(',', @preload),
		"$order: the server starts with " . join(',', @preload));
	$node->safe_psql('postgres', 'CREATE EXTENSION guard; CREATE EXTENSION pg_stat_statements');
	wait_for_writer($node);
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', q{
		CREATE TABLE score (id int PRIMARY KEY, points int);
		INSERT INTO score SELECT g, g FROM generate_series(1, 100) g;
		SELECT count(*) FROM score WHERE points > 50;
	});

	my ($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE score /* neighbours */');
	like($err, qr/guard: DROP TABLE of "public\.score" refused in production/, "$order: guard refuses");
	is(audit_count($node, q{statement LIKE '%neighbours%' AND verdict = 'blocked'}), '1',
		"$order: and records it");
	ok($node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'SELECT count(*) FROM score%'}) >= 1,
		"$order: pg_stat_statements counts statements");
	ok(scalar(log_lines($node, qr/Query Text: SELECT count\(\*\) FROM score/, $offset)) >= 1,
		"$order: auto_explain logs plans");

  SKIP:
	{
		skip 'Debian does not package pgaudit for this major', 3 unless $has{pgaudit};
		ok(scalar(log_lines($node, qr/AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE,.*score/, $offset)) >= 1,
			"$order: pgaudit logs the CREATE TABLE");
		is(scalar(log_lines($node, qr/AUDIT: SESSION.*DROP TABLE score/, $offset)), 0,
			"$order: pgaudit logs nothing for the refused DROP TABLE");
		ok(scalar(log_lines($node, qr/LOG:  guard audit: \{.*"command":"DROP TABLE".*neighbours/, $offset)) >= 1,
			"$order: guard's log line is the record of it");
	}

	# set_user and pg_cron: once, with guard last.
	if ($order eq 'guard last')
	{
	  SKIP:
		{
			skip 'Debian does not package set_user for this major', 3 unless $has{set_user};
			$node->safe_psql('postgres', q{
				CREATE EXTENSION set_user;
				CREATE ROLE app LOGIN;
				GRANT EXECUTE ON FUNCTION set_user_u(text) TO app;
			});
			($ret, $out, $err) = $node->psql('postgres', q{
				SELECT set_user_u('postgres');
				SELECT current_user;
				DROP TABLE score /* escalated */;}, extra_params => [ '-U', 'app' ], on_error_stop => 0);
			like($out, qr/^postgres$/m, 'set_user: app became postgres');
			like($err, qr/guard: DROP TABLE of "public\.score" refused in production/,
				'set_user: the escalated DROP TABLE is refused');
			is($node->safe_psql('postgres', q{
				SELECT login_role || ' as ' || effective_role FROM guard.audit WHERE statement LIKE '%escalated%'}),
				'app as postgres', 'set_user: the audit row has the real login');
		}

	  SKIP:
		{
			skip 'Debian does not package pg_cron for this major', 4 unless $has{pg_cron};
			$node->safe_psql('postgres', q{
				CREATE EXTENSION pg_cron;
				CREATE TABLE stage (id int);
				INSERT INTO stage VALUES (1), (2);
				BEGIN;
				SET LOCAL guard.override = 'ETL-2: stage is emptied by a job';
				SECURITY LABEL FOR guard ON TABLE stage IS 'truncate';
				COMMIT;
				SELECT cron.schedule('drop-score', '* * * * *', 'DROP TABLE score /* from cron */');
				SELECT cron.schedule('empty-stage', '* * * * *', 'TRUNCATE stage /* from cron */');
			});
			# pg_cron runs jobs at the start of each minute.
			$node->poll_query_until('postgres', q{
				SELECT count(DISTINCT jobid) = 2 FROM cron.job_run_details
				WHERE status IN ('succeeded', 'failed')}, 't')
			  or die 'pg_cron never ran the jobs';
			like($node->safe_psql('postgres', q{
				SELECT status || ': ' || return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
				WHERE j.jobname = 'drop-score' ORDER BY runid LIMIT 1}),
				qr/^failed: .*guard: DROP TABLE of "public\.score" refused in production/,
				'pg_cron: the job that drops a table fails with guard\'s refusal');
			is($node->safe_psql('postgres', q{
				SELECT status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
				WHERE j.jobname = 'empty-stage' ORDER BY runid LIMIT 1}),
				'succeeded', 'pg_cron: the job on an exempted table runs');
			ok(audit_count($node, q{statement LIKE '%from cron%' AND command = 'DROP TABLE' AND verdict = 'blocked'}) >= 1,
				'pg_cron: the refusal is recorded');
			ok(audit_count($node, q{statement LIKE '%from cron%' AND command = 'TRUNCATE TABLE' AND verdict = 'allowed'}) >= 1,
				'pg_cron: the exempt TRUNCATE is recorded as allowed');
			$node->safe_psql('postgres', q{SELECT cron.unschedule(jobname) FROM cron.job});
		}
	}
	is($node->safe_psql('postgres', 'SELECT count(*) FROM score'), '100', "$order: nothing was lost");
	$node->stop;
}

done_testing();
