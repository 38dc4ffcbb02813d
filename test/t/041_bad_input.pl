# Bad input: every guard setting given nonsense in the configuration file
# (at start and at reload), in postgresql.auto.conf, by ALTER SYSTEM, by
# ALTER DATABASE and ALTER ROLE, and planted in pg_db_role_setting; the
# audit database that does not exist; statements of megabytes; names of 63
# bytes, with quotes, newlines and non-ASCII characters; bytes that are not
# UTF-8 from a SQL_ASCII database, and LATIN1 text; thousands of objects in
# one statement.  Each gets a clear error or warning; the server never
# crashes; every refusal is in guard.audit or in the log; messages list the
# first five names and a count, and object_count is right.
use strict;
use warnings;

use IPC::Run;
use JSON::XS;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use GuardTest;

# Room for the locks of a statement that drops thousands of tables.
my $node = guard_node('bad_input',
	conf => "guard.audit_timeout = 10s\nmax_locks_per_transaction = 1024\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
$node->safe_psql('postgres',
	q{CREATE TABLE victim (id int, v text); INSERT INTO victim SELECT g, 'v' || g FROM generate_series(1, 10) g});
wait_for_writer($node);
my $conf_file = $node->data_dir . '/postgresql.conf';
my $conf_orig = slurp_file($conf_file);
my $pid = postmaster_pid();

# Every refusal made here, by application_name: checked at the end.
my (%refused, %log_offset);
my $serial = 0;

# Run SQL as application $app; it must be refused by guard.  Returns stderr.
sub refuse
{
	my ($db, $sql, $name, %opts) = @_;
	my $app = 'bad-' . ++$serial;
	$log_offset{$app} = -s $node->logfile;
	my ($ret, $out, $err) = $node->psql($db, $sql,
		connstr => $node->connstr($db) . " application_name=$app",
		timeout => $PostgreSQL::Test::Utils::timeout_default);
	$err = '' unless defined $err;
	my $re = $opts{message} // qr/ERROR:  guard: [A-Z ]+ of .* refused in production/s;
	like($err, $re, "$name: refused") or diag($err);
	$refused{$app} = $name;
	return ($app, $err);
}

# Run SQL that must fail with PostgreSQL's or guard's error (not a refusal).
sub fails
{
	my ($db, $sql, $re, $name) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "$name: fails");
	like($err, $re, "$name: with a clear error");
	unlike($err, qr/refused in production/, "$name: not taken for a destructive statement");
}

sub postmaster_pid
{
	open(my $pf, '<', $node->data_dir . '/postmaster.pid') or return '';
	my $p = <$pf>;
	close $pf;
	chomp $p;
	return $p;
}

sub restart_with
{
	my ($extra, $name) = @_;
	open(my $fh, '>', $conf_file) or die;
	print $fh $conf_orig . $extra;
	close $fh;
	my $offset = -s $node->logfile;
	$node->restart;
	$pid = postmaster_pid();
	return $offset;
}

# The audit records of an application in the log since an offset:
# (committed, fallback).  Only its own lines are decoded: some are large.
sub log_records_of
{
	my ($app, $offset) = @_;
	my (@committed, @fallback);
	foreach my $l (split /\n/, slurp_file($node->logfile, $offset // $log_offset{$app} // 0))
	{
		next if index($l, qq{"application_name":"$app"}) < 0;
		next unless $l =~ /LOG:  guard audit( fallback)?: (\{.*\})\s*$/;
		push @{ defined $1 ? \@fallback : \@committed }, JSON::XS->new->decode($2);
	}
	return (\@committed, \@fallback);
}

# The audit record of an application, from the table (JSON of the row) or
# the log: (table rows, fallback records, committed log records).
sub records_of
{
	my ($app, $offset) = @_;
	$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()');
	my $rows = $node->safe_psql('postgres',
		"SELECT row_to_json(a) FROM guard.audit a WHERE application_name = '$app'");
	my @rows = map { JSON::XS->new->decode($_) } grep { length } split /\n/, $rows;
	my ($committed, $fallback) = log_records_of($app, $offset);
	return (\@rows, $fallback, $committed);
}

# The one record of a refusal, from the table if it is there.
sub record_of
{
	my ($app) = @_;
	$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()');
	my $row = $node->safe_psql('postgres',
		"SELECT row_to_json(a) FROM guard.audit a WHERE application_name = '$app'");
	return JSON::XS->new->decode($row) if length $row;
	my (undef, $fallback) = log_records_of($app);
	return $fallback->[0];
}

sub message_names
{
	my ($objects, $count) = @_;
	my @n = @$objects[ 0 .. ($#$objects < 4 ? $#$objects : 4) ];
	my $list = join(', ', map { "\"$_\"" } @n);
	$list .= ' and ' . ($count - 5) . ' more' if $count > 5;
	return $list;
}

sub no_crash
{
	my ($name) = @_;
	is(postmaster_pid(), $pid, "$name: the postmaster is the same");
	my @bad = log_lines($node, qr/terminated by signal|PANIC|TRAP:|server processes terminated|could not write (\d+ )?audit row/);
	is(scalar(@bad), 0, "$name: no crash in the log") or diag(join("\n", @bad));
}

my $env_sql = 'SELECT name, setting FROM pg_settings WHERE name LIKE \'guard.%\' ORDER BY name';
# The settings when every guard.* line but the timeout's is invalid.
sub defaults
{
	my ($timeout) = @_;
	return join("\n",
		'guard.audit_development|off', 'guard.audit_queue_size|256', "guard.audit_timeout|$timeout",
		'guard.database|postgres', 'guard.environment|production', 'guard.max_rows|0',
		'guard.on_refusal|error', 'guard.recycle_max_size|0', 'guard.recycle_retention|10080');
}

# --- 1. The configuration file at start ---
my @start_cases = (
	[
		'typos everywhere',
		"guard.environment = 'prodution'\nguard.override = 'in the file'\nguard.audit_timeout = 'abc'\n"
		  . "guard.audit_queue_size = 100000\nguard.audit_development = 'maybe'\nguard.max_rows = -5\n"
		  . "guard.nonsense = 1\n",
		[
			qr/WARNING:  guard: invalid value "prodution" for "guard.environment", using "production"/,
			qr/WARNING:  parameter "guard.override" can only be set inside a transaction block/,
			qr/WARNING:  invalid value for parameter "guard.audit_timeout": "abc"/,
			qr/WARNING:  100000 is outside the valid range for parameter "guard.audit_queue_size"/,
			qr/WARNING:  parameter "guard.audit_development" requires a Boolean value/,
			qr/WARNING:  -5 is outside the valid range for parameter "guard.max_rows"/,
			qr/WARNING:  invalid configuration parameter name "guard.nonsense", removing it/
		]
	],
	[
		'empty and out of range',
		"guard.environment = ''\nguard.audit_timeout = 0\nguard.audit_queue_size = 'lots'\n"
		  . "guard.audit_development = ''\nguard.max_rows = '99999999999'\n",
		[
			qr/WARNING:  guard: invalid value "" for "guard.environment", using "production"/,
			qr/WARNING:  0 ms is outside the valid range for parameter "guard.audit_timeout"/,
			qr/WARNING:  invalid value for parameter "guard.audit_queue_size": "lots"/,
			qr/WARNING:  parameter "guard.audit_development" requires a Boolean value/,
			qr/WARNING:  invalid value for parameter "guard.max_rows": "99999999999"/
		]
	],
	[
		'a development server with a typo',
		"guard.environment = 'development'\nguard.environment = ' staging'\n",
		[qr/WARNING:  guard: invalid value " staging" for "guard.environment", using "production"/]
	]);
foreach my $case (@start_cases)
{
	my ($name, $conf, $warnings) = @$case;
	my $offset = restart_with($conf, $name);
	my $log = slurp_file($node->logfile, $offset);
	like($log, $_, "start, $name: the log says $_") foreach @$warnings;
	is($node->safe_psql('postgres', $env_sql), defaults($conf =~ /audit_timeout/ ? 2000 : 10000),
		"start, $name: every setting is production or its default");
	is($node->safe_psql('postgres', 'SHOW guard.override'), '', "start, $name: no override");
	wait_for_writer($node);
	refuse('postgres', 'DROP TABLE victim', "start, $name");
}

# postgresql.auto.conf edited by hand.
{
	my $auto = $node->data_dir . '/postgresql.auto.conf';
	my $auto_orig = slurp_file($auto);
	open(my $fh, '>>', $auto) or die;
	print $fh "guard.environment = 'nonsense'\nguard.override = 'auto'\n";
	close $fh;
	my $offset = restart_with('', 'auto.conf');
	my $log = slurp_file($node->logfile, $offset);
	like($log, qr/WARNING:  guard: invalid value "nonsense" for "guard.environment", using "production"/,
		'postgresql.auto.conf: the environment is production, with a warning');
	like($log, qr/WARNING:  parameter "guard.override" can only be set inside a transaction block/,
		'postgresql.auto.conf: the override is refused, with a warning');
	is($node->safe_psql('postgres', $env_sql), defaults(10000), 'postgresql.auto.conf: production');
	wait_for_writer($node);
	refuse('postgres', 'TRUNCATE victim', 'postgresql.auto.conf');
	open($fh, '>', $auto) or die;
	print $fh $auto_orig;
	close $fh;
}

# An audit database that does not exist, by a name needing quotes: the
# writer cannot start; refusals go on, recorded in the log.
{
	my $odd = q{no "such" database, it's } . ('x' x 200);
	(my $quoted = $odd) =~ s/'/''/g;
	my $offset = restart_with("guard.database = '$quoted'\n", 'missing audit database');
	$node->poll_query_until('postgres', "SELECT writer_state <> 'ready' FROM guard.status()");
	my ($app) = refuse('postgres', 'DELETE FROM victim', 'missing audit database');
	my ($rows, $fallback) = records_of($app, $offset);
	is(scalar(@$fallback), 1, 'missing audit database: the refusal is a fallback line');
	like($fallback->[0]{fallback} // '', qr/audit writer is (starting|stopped)|does not exist/,
		'missing audit database: which says why');
	ok(scalar(log_lines($node, qr/FATAL:  database "no "such" database, it's x+" does not exist/, $offset)),
		'missing audit database: the writer says which database is missing');
	no_crash('missing audit database');
	restart_with('', 'restored');
	wait_for_writer($node);
}

# The smallest queue and timeout there are, under twenty clients at once:
# the queue fills, backends stop waiting, and still no record is lost.
{
	restart_with("guard.audit_queue_size = 16\nguard.audit_timeout = 1\n", 'smallest queue');
	is($node->safe_psql('postgres', 'SELECT queue_size FROM guard.status()'), '16',
		'smallest queue: 16 slots');
	my $offset = -s $node->logfile;
	my $clients = 20;
	foreach my $c (1 .. $clients)
	{
		$node->safe_psql('postgres', "CREATE TABLE IF NOT EXISTS victim_$c (id int); INSERT INTO victim_$c VALUES ($c)");
	}
	wait_for_writer($node);
	my (@clients, @seen);
	foreach my $c (1 .. $clients)
	{
		my $script = $node->basedir . "/tiny-c$c.sql";
		my $by_line = refusal_script($script, "tiny-c$c", 25, table => "victim_$c");
		my $client = start_client($node, 'postgres', $script, application_name => "tiny-c$c");
		$client->{by_line} = $by_line;
		push @clients, $client;
	}
	foreach my $client (@clients)
	{
		is(finish_client($client), 0, "smallest queue: $client->{name} ran to the end");
		my ($r, $other) = refusals_seen($client, $client->{by_line});
		is(scalar(@$r), 25, "smallest queue: every statement of $client->{name} was refused");
		is(scalar(@$other), 0, "smallest queue: no other error in $client->{name}")
		  or diag(join("\n", @$other));
		push @seen, @$r;
	}
	$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()');
	my $found = check_recorded($node, \@seen, qr/tiny-c\d+-\d+/, $offset, 'smallest queue');
	my %why;
	$why{ $_ =~ s/\d+/N/gr }++ foreach map { @$_ } values %{ $found->{fallback} };
	note('smallest queue: ' . scalar(@seen) . ' refusals, '
		  . scalar(grep { $found->{table}{$_} } @seen) . ' in guard.audit; fallbacks: '
		  . join(', ', map { "$why{$_} \"$_\"" } sort keys %why));
	no_crash('smallest queue');
	restart_with('', 'restored');
	wait_for_writer($node);
}

# --- 2. The configuration file at reload ---
{
	my $offset = -s $node->logfile;
	$node->append_conf('postgresql.conf',
		"guard.environment = 'prodution'\nguard.audit_timeout = 'abc'\nguard.audit_development = 'maybe'\n"
		  . "guard.max_rows = -5\nguard.override = 'in the file'\nguard.database = 'elsewhere'\n"
		  . "guard.audit_queue_size = 17\nguard.nonsense = 1\n");
	$node->reload;
	wait_for_log(qr/contains errors; unaffected changes were applied/, $offset)
	  or die 'the reload was not logged';
	my $log = slurp_file($node->logfile, $offset);
	foreach my $re (
		qr/guard: invalid value "prodution" for "guard.environment", using "production"/,
		qr/invalid value for parameter "guard.audit_timeout": "abc"/,
		qr/parameter "guard.audit_development" requires a Boolean value/,
		qr/-5 is outside the valid range for parameter "guard.max_rows"/,
		qr/parameter "guard.override" can only be set inside a transaction block/,
		qr/parameter "guard.database" cannot be changed without restarting the server/,
		qr/parameter "guard.audit_queue_size" cannot be changed without restarting the server/,
		qr/invalid configuration parameter name "guard.nonsense"/)
	{
		like($log, $re, "reload: the log says $re");
	}
	is($node->safe_psql('postgres', $env_sql), defaults(10000), 'reload: every setting kept its value');
	refuse('postgres', 'UPDATE victim SET v = NULL', 'reload');
	no_crash('reload');

	# From staging or development too, a typo at a reload means production
	# (fail closed), as it does at the next start.
	foreach my $from ('staging', 'development')
	{
		restart_with("guard.environment = '$from'\n", "reload from $from");
		$offset = -s $node->logfile;
		$node->append_conf('postgresql.conf', "guard.environment = 'prodution'\n");
		$node->reload;
		wait_for_log(qr/guard: invalid value "prodution" for "guard.environment", using "production"/, $offset)
		  or die 'the reload was not logged';
		$node->poll_query_until('postgres', "SELECT current_setting('guard.environment') = 'production'");
		is($node->safe_psql('postgres', 'SHOW guard.environment'), 'production',
			"reload from $from: a typo means production");
		refuse('postgres', 'UPDATE victim SET v = NULL', "reload from $from");
		$node->restart;
		is($node->safe_psql('postgres', 'SHOW guard.environment'), 'production',
			"reload from $from: the same file at the next start means production");
		$pid = postmaster_pid();
	}
	restart_with('', 'restored');
	wait_for_writer($node);
}

# --- 3. ALTER SYSTEM ---
my $auto_before = slurp_file($node->data_dir . '/postgresql.auto.conf');
my $audit_before = $node->safe_psql('postgres', 'SELECT count(*) FROM guard.audit');
foreach my $case (
	[ q{guard.environment = 'nonsense'}, qr/22023: invalid value for parameter "guard.environment": "nonsense"/ ],
	[ q{guard.environment = ''}, qr/22023: invalid value for parameter "guard.environment": ""/ ],
	[ q{guard.environment = ' production'}, qr/22023: invalid value for parameter "guard.environment"/ ],
	[ q{guard.override = 'x'}, qr/55P02: parameter "guard.override" cannot be changed/ ],
	[ q{guard.database = E'audit\ndb'}, qr/22023: parameter value for ALTER SYSTEM must not contain a newline/ ],
	[ q{guard.audit_timeout = 0}, qr/22023: 0 ms is outside the valid range for parameter "guard.audit_timeout"/ ],
	[ q{guard.audit_timeout = 'soon'}, qr/22023: invalid value for parameter "guard.audit_timeout": "soon"/ ],
	[ q{guard.audit_timeout = '1 fortnight'}, qr/22023: invalid value for parameter "guard.audit_timeout": "1 fortnight"/ ],
	[ q{guard.audit_queue_size = 15}, qr/22023: 15 is outside the valid range for parameter "guard.audit_queue_size"/ ],
	[ q{guard.audit_queue_size = 1e9}, qr/22023: .*"guard.audit_queue_size"/ ],
	[ q{guard.audit_development = 'perhaps'}, qr/22023: parameter "guard.audit_development" requires a Boolean value/ ],
	[ q{guard.max_rows = -1}, qr/22023: -1 is outside the valid range for parameter "guard.max_rows"/ ],
	[ q{guard.max_rows = '1e99'}, qr/22023: invalid value for parameter "guard.max_rows": "1e99"/ ],
	# PostgreSQL's own words for a reserved prefix changed in 17.
	[ q{guard.nonsense = 1},
		qr/42704: unrecognized configuration parameter "guard.nonsense"|42602: invalid configuration parameter name "guard.nonsense"/ ])
{
	fails('postgres', "ALTER SYSTEM SET $case->[0]", $case->[1], "ALTER SYSTEM SET $case->[0]");
}
is(slurp_file($node->data_dir . '/postgresql.auto.conf'), $auto_before,
	'ALTER SYSTEM: postgresql.auto.conf is unchanged');

# --- 4. ALTER DATABASE and ALTER ROLE ---
$node->safe_psql('postgres', 'CREATE DATABASE bad_db; CREATE ROLE bad_role LOGIN');
foreach my $target ('DATABASE bad_db', 'ROLE bad_role', 'ROLE bad_role IN DATABASE bad_db')
{
	foreach my $case (
		[ q{guard.environment = 'nonsense'}, qr/22023: invalid value for parameter "guard.environment": "nonsense"/ ],
		[ q{guard.environment = 'prod'}, qr/22023: invalid value for parameter "guard.environment": "prod"/ ],
		[ q{guard.override = 'x'}, qr/55P02: parameter "guard.override" can only be set inside a transaction block/ ],
		[ q{guard.database = 'x'}, qr/55P02: parameter "guard.database" cannot be changed without restarting the server/ ],
		[ q{guard.audit_timeout = 5}, qr/55P02: parameter "guard.audit_timeout" cannot be changed now/ ],
		[ q{guard.audit_queue_size = 20}, qr/55P02: parameter "guard.audit_queue_size" cannot be changed without restarting the server/ ],
		[ q{guard.audit_development = on}, qr/55P02: parameter "guard.audit_development" cannot be changed now/ ],
		[ q{guard.max_rows = -3}, qr/22023: -3 is outside the valid range for parameter "guard.max_rows"/ ],
		[ q{guard.max_rows = 'many'}, qr/22023: invalid value for parameter "guard.max_rows": "many"/ ],
		[ q{guard.nonsense = 1}, qr/42602: invalid configuration parameter name "guard.nonsense"/ ])
	{
		fails('postgres', "ALTER $target SET $case->[0]", $case->[1], "ALTER $target SET $case->[0]");
	}
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_db_role_setting, unnest(setconfig) c WHERE c LIKE 'guard.%'}),
	'0', 'ALTER DATABASE/ROLE: no guard setting was stored');
is($node->safe_psql('postgres', 'SELECT count(*) FROM guard.audit') - $audit_before, 0,
	'no audit row claims a change that did not happen');

# Nonsense that got into pg_db_role_setting anyway (a superuser's UPDATE):
# warnings at connection, production, no override.
$node->safe_psql('postgres', q{
	INSERT INTO pg_db_role_setting VALUES ((SELECT oid FROM pg_database WHERE datname = 'bad_db'), 0,
		'{guard.environment=nonsense,guard.override=planted,guard.max_rows=abc,guard.audit_timeout=5,guard.database=x,guard.nonsense=1}');
	INSERT INTO pg_db_role_setting VALUES (0, (SELECT oid FROM pg_roles WHERE rolname = 'bad_role'),
		'{guard.environment=,guard.override=planted}')});
$node->safe_psql('bad_db', q{CREATE TABLE victim (id int); INSERT INTO victim VALUES (1); GRANT ALL ON victim TO bad_role});
{
	my ($ret, $out, $err) = $node->psql('bad_db',
		'SHOW guard.environment; SHOW guard.override; SHOW guard.max_rows', connstr => $node->connstr('bad_db') . ' user=bad_role');
	is($ret, 0, 'planted settings: the connection works');
	is($out, "production\n\n0", 'planted settings: production, no override, no limit');
	like($err, qr/WARNING:  guard: invalid value "nonsense" for "guard.environment", using "production"/,
		'planted settings: a warning for the environment');
	like($err, qr/WARNING:  parameter "guard.override" can only be set inside a transaction block/,
		'planted settings: a warning for the override');
	like($err, qr/WARNING:  guard: invalid value "" for "guard.environment", using "production"/,
		'planted settings: a warning for the role\'s empty environment');
	my ($app) = refuse('bad_db', 'DELETE FROM victim',
		'planted settings', message => qr/guard: DELETE of "public.victim" refused in production/);
}
$node->safe_psql('postgres', q{DELETE FROM pg_db_role_setting WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = 'bad_role') OR setdatabase = (SELECT oid FROM pg_database WHERE datname = 'bad_db')});

# --- 5. Statements of megabytes ---
{
	my $long = 'ü' x 1_000_000;    # 2 MB in UTF-8
	my ($app, $err) = refuse('postgres', "DROP TABLE victim /* $long */", 'a 2 MB statement');
	my $rec = record_of($app);
	ok($rec->{clipped}, 'a 2 MB statement: the row says it was clipped');
	my $stmt = $rec->{statement};
	cmp_ok(length($stmt), '<=', 8192, 'a 2 MB statement: the row holds at most 8 kB of it');
	cmp_ok(length($stmt), '>', 1000, 'a 2 MB statement: and not much less');
	is(substr("DROP TABLE victim /* $long */", 0, length($stmt)), $stmt,
		'a 2 MB statement: the row has its beginning, cut on a character boundary');
	my (undef, undef, $committed) = records_of($app);
	is(length($committed->[0]{statement} // ''), length("DROP TABLE victim /* $long */"),
		'a 2 MB statement: the log has it whole');

	my $value = 'v' x 1_500_000;
	($app) = refuse('postgres', "UPDATE victim SET v = '$value'", 'a 1.5 MB UPDATE without WHERE');
	ok(record_of($app)->{clipped}, 'a 1.5 MB UPDATE: clipped');

	# One query string (psql joins what \\; separates), of about 1 MB.
	my $many = ('DO $$BEGIN END$$ /* ' . ('p' x 30) . ' */ \\; ') x 20_000;
	($app) = refuse('postgres', "${many}TRUNCATE victim /* after many */;", 'a 1 MB multi-statement string');
	is(record_of($app)->{statement}, 'TRUNCATE victim /* after many */',
		'a 1 MB multi-statement string: the row has the one statement');

	my $reason = 'r' x 100_000;
	my $app2 = 'bad-' . ++$serial;
	my ($ret, $out, $e) = $node->psql('postgres',
		"BEGIN; SET LOCAL guard.override = '$reason'; DELETE FROM victim; ROLLBACK;",
		connstr => $node->connstr('postgres') . " application_name=$app2");
	is($ret, 0, 'a 100 kB override reason: the statement runs');
	$refused{$app2} = 'override';
	$rec = record_of($app2);
	is($rec->{verdict}, 'overridden', 'a 100 kB override reason: recorded as overridden');
	is(length($rec->{reason}), 1024, 'a 100 kB override reason: the row keeps 1 kB of it');
	ok($rec->{clipped}, 'a 100 kB override reason: and says so');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '10', 'the victim is whole');
}

# --- 6. Names ---
# (A database or role name holds a tab, not a newline: 19 refuses newlines
# in them.)
$node->safe_psql('postgres', <<'SQL');
CREATE SCHEMA "we""ird
schema ☃";
CREATE TABLE "we""ird
schema ☃"."ta""ble
with newline" (id int, "co""l
umn" text);
CREATE TABLE public."ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé" (id int);
CREATE TABLE public.a_name_of_far_more_than_sixty_three_bytes_which_postgresql_truncates_xxxxxxxxxx (id int);
CREATE TABLE public."With Spaces And ""Quotes""" (id int);
CREATE TABLE public."select" (id int);
CREATE DATABASE "da""ta	base ☃";
CREATE ROLE "ro""le	☃";
CREATE TABLE public.owned_by_odd (id int);
ALTER TABLE public.owned_by_odd OWNER TO "ro""le	☃";
-- Each holds a row: an empty table loses nothing.
INSERT INTO "we""ird
schema ☃"."ta""ble
with newline" VALUES (1, 'x');
INSERT INTO public."ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé" VALUES (1);
INSERT INTO public.a_name_of_far_more_than_sixty_three_bytes_which_postgresql_truncates_xxxxxxxxxx VALUES (1);
INSERT INTO public."With Spaces And ""Quotes""" VALUES (1);
INSERT INTO public."select" VALUES (1);
INSERT INTO public.owned_by_odd VALUES (1);
SQL
my $odd_table = qq{"we""ird\nschema ☃"."ta""ble\nwith newline"};
is($node->safe_psql('postgres', q{SELECT octet_length(relname) FROM pg_class WHERE relname LIKE 'éé%'}),
	'62', 'a name of 64 two-byte characters is cut to 31 of them, on a character boundary');
foreach my $case (
	[ "DROP TABLE $odd_table", 'DROP TABLE', [$odd_table] ],
	[ qq{ALTER TABLE $odd_table DROP COLUMN "co""l\numn"}, 'ALTER TABLE', [qq{$odd_table."co""l\numn"}] ],
	[ qq{DROP SCHEMA "we""ird\nschema ☃" CASCADE}, 'DROP SCHEMA', [$odd_table] ],
	[ 'DROP TABLE public."ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé", '
		  . 'public.a_name_of_far_more_than_sixty_three_bytes_which_postgresql_truncates_xxxxxxxxxx, '
		  . 'public."With Spaces And ""Quotes""", public."select"',
		'DROP TABLE',
		[ 'public."ééééééééééééééééééééééééééééééé"',
			'public.a_name_of_far_more_than_sixty_three_bytes_which_postgresql_trun',
			'public."With Spaces And ""Quotes"""', 'public."select"' ] ],
	[ qq{DROP DATABASE "da""ta\tbase ☃"}, 'DROP DATABASE', [qq{"da""ta\tbase ☃"}] ],
	[ qq{DROP OWNED BY "ro""le\t☃"}, 'DROP OWNED', ['public.owned_by_odd'] ])
{
	my ($sql, $command, $objects) = @$case;
	my $label = substr($sql, 0, 40) =~ s/\n/\\n/gr;
	my ($app, $err) = refuse('postgres', $sql, "odd names: $label");
	my $rec = record_of($app);
	is($rec->{command}, $command, "odd names: $label: command");
	is_deeply($rec->{objects}, $objects, "odd names: $label: objects, quoted as SQL quotes them");
	is($rec->{object_count}, scalar(@$objects), "odd names: $label: object_count");
	my $list = message_names($objects, scalar @$objects);
	like($err, qr/ERROR:  guard: \Q$command\E of \Q$list\E refused in production/,
		"odd names: $label: the message names them");
}

# --- 7. Encodings ---
$node->safe_psql('postgres',
	q{CREATE DATABASE sqlascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('postgres',
	q{CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});

# Run a file of raw bytes in a client encoding; returns stderr.
sub run_bytes
{
	my ($db, $encoding, $bytes, $name) = @_;
	my $file = $node->basedir . "/$name.sql";
	open(my $fh, '>:raw', $file) or die;
	print $fh $bytes;
	close $fh;
	local %ENV = $node->_get_env();
	$ENV{PGCLIENTENCODING} = $encoding;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $node->installed_command('psql'), '-X', '-q', '-d', $node->connstr($db), '-f', $file ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return $err;
}
{
	my $ascii = 'bad-' . ++$serial;
	my $ascii2 = 'bad-' . ++$serial;
	my $offset = -s $node->logfile;
	my $err = run_bytes('sqlascii', 'SQL_ASCII',
		qq{CREATE TABLE "bad\xff\xfename" (id int, "col\xc3" text);\n}
		  . qq{INSERT INTO "bad\xff\xfename" VALUES (1, 'x\xe9\xff');\n}
		  . qq{SET application_name = '$ascii';\n}
		  . qq{DROP TABLE "bad\xff\xfename" /* \xff\xfe\xc3\x28 not UTF-8 */;\n}
		  . qq{SET application_name = '$ascii2';\n}
		  . qq{ALTER TABLE "bad\xff\xfename" DROP COLUMN "col\xc3";\n},
		'sqlascii');
	is(scalar(() = $err =~ /ERROR:  guard: (DROP|ALTER) TABLE of .* refused in production/g), 2,
		'SQL_ASCII: both statements are refused');
	$refused{$ascii} = $refused{$ascii2} = 'SQL_ASCII';
	my $rec = record_of($ascii);
	is($rec->{database}, 'sqlascii', 'SQL_ASCII: the row is in the UTF8 audit table');
	is_deeply($rec->{objects}, ['public."bad\xFF\xFEname"'], 'SQL_ASCII: bytes that are not UTF-8 are escaped in objects');
	is($rec->{statement}, 'DROP TABLE "bad\xFF\xFEname" /* \xFF\xFE\xC3( not UTF-8 */',
		'SQL_ASCII: and in the statement');
	is_deeply(record_of($ascii2)->{objects}, ['public."bad\xFF\xFEname"."col\xC3"'], 'SQL_ASCII: a column too');
	is(scalar(log_lines($node, qr/could not write/, $offset)), 0, 'SQL_ASCII: no row was lost on the way');
	is($node->safe_psql('sqlascii', 'SELECT count(*) FROM pg_class WHERE relname LIKE \'bad%name\''), '1',
		'SQL_ASCII: the table is still there');

	my $latin = 'bad-' . ++$serial;
	$err = run_bytes('latin1', 'LATIN1',
		qq{CREATE TABLE "caf\xe9" (id int, "na\xefve" text);\n}
		  . qq{INSERT INTO "caf\xe9" VALUES (1, '\xe9t\xe9');\n}
		  . qq{SET application_name = '$latin';\n}
		  . qq{DELETE FROM "caf\xe9" /* d\xe9j\xe0 vu */;\n},
		'latin1');
	like($err, qr/ERROR:  guard: DELETE of .* refused in production/, 'LATIN1: refused');
	$refused{$latin} = 'LATIN1';
	$rec = record_of($latin);
	is_deeply($rec->{objects}, ['public."café"'], 'LATIN1: the name is converted to UTF-8');
	is($rec->{statement}, 'DELETE FROM "café" /* déjà vu */', 'LATIN1: and the statement');
	is($node->safe_psql('latin1', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'caf_'}), '1',
		'LATIN1: the table is still there');
}

# --- 8. Thousands of objects in one statement ---
{
	my $n = 2000;
	$node->safe_psql('postgres', qq{
		CREATE SCHEMA many;
		CREATE ROLE many_owner;
		CREATE TYPE many.mood AS ENUM ('ok');
		DO \$\$BEGIN
			FOR i IN 1..$n LOOP
				EXECUTE format('CREATE TABLE many.t%s (id int, m many.mood)', lpad(i::text, 4, '0'));
				EXECUTE format('INSERT INTO many.t%s VALUES (1, ''ok'')', lpad(i::text, 4, '0'));
				EXECUTE format('ALTER TABLE many.t%s OWNER TO many_owner', lpad(i::text, 4, '0'));
			END LOOP;
		END\$\$;
		CREATE TABLE parted (id int) PARTITION BY RANGE (id);
		DO \$\$BEGIN
			FOR i IN 1..$n LOOP
				EXECUTE format('CREATE TABLE parted_%s PARTITION OF parted FOR VALUES FROM (%s) TO (%s)', i, i, i + 1);
			END LOOP;
		END\$\$;
		INSERT INTO parted SELECT generate_series(1, $n);
		CREATE SCHEMA many_long;
		DO \$\$BEGIN
			FOR i IN 1..500 LOOP
				EXECUTE format('CREATE TABLE many_long.%1\$I (id int); INSERT INTO many_long.%1\$I VALUES (1)',
							   'n' || lpad(i::text, 4, '0') || '_a_very_long_table_name_of_exactly_sixty_three_bytes_xxxxx');
			END LOOP;
		END\$\$;});
	my @sorted = map { sprintf('many.t%04d', $_) } 1 .. $n;
	my @cases = (
		[ 'DROP SCHEMA many CASCADE', 'DROP SCHEMA', \@sorted, $n ],
		[ 'DROP TABLE ' . join(', ', reverse @sorted), 'DROP TABLE', [ reverse @sorted ], $n ],
		[ 'TRUNCATE ' . join(', ', @sorted), 'TRUNCATE TABLE', \@sorted, $n ],
		[ 'DROP OWNED BY many_owner', 'DROP OWNED', \@sorted, $n ],
		[ 'DROP TABLE parted', 'DROP TABLE', [ 'public.parted', map { "public.parted_$_" } 1 .. $n ], $n + 1 ],
		[ 'TRUNCATE parted', 'TRUNCATE TABLE', [ 'public.parted', map { "public.parted_$_" } 1 .. $n ], $n + 1 ],
		[ 'DROP SCHEMA many_long CASCADE', 'DROP SCHEMA',
			[ map { sprintf('many_long.n%04d_a_very_long_table_name_of_exactly_sixty_three_bytes_xxxxx', $_) } 1 .. 500 ], 500 ],
		[ 'DROP TYPE many.mood CASCADE', 'DROP TYPE', undef, $n ]);
	foreach my $case (@cases)
	{
		my ($sql, $command, $objects, $count) = @$case;
		my $label = substr($sql, 0, 30);
		my ($app, $err) = refuse('postgres', $sql, "$count objects: $label");
		my $rec = record_of($app);
		is($rec->{object_count}, $count, "$count objects: $label: object_count");
		ok($rec->{clipped}, "$count objects: $label: the row says its list was clipped");
		my @listed = @{ $rec->{objects} };
		cmp_ok(scalar(@listed), '<', $count, "$count objects: $label: the row lists " . scalar(@listed));
		my $want = $objects // [ map { sprintf('many.t%04d.m', $_) } 1 .. $n ];
		if ($objects)
		{
			is_deeply(\@listed, [ @$want[ 0 .. $#listed ] ], "$count objects: $label: the first ones, in order");
		}
		else
		{
			my %all = map { $_ => 1 } @$want;
			is(scalar(grep { !$all{$_} } @listed), 0, "$count objects: $label: columns of the type");
		}
		my $list = message_names(\@listed, $count);
		like($err, qr/ERROR:  guard: \Q$command\E of \Q$list\E refused in production/,
			"$count objects: $label: the message lists five and a count");
		my (undef, undef, $committed) = records_of($app);
		my @logged = @{ $committed->[0]{objects} // [] };
		if ($objects)
		{
			is_deeply(\@logged, $want, "$count objects: $label: the log lists them all");
		}
		else
		{
			is(scalar(@logged), $count, "$count objects: $label: the log lists them all");
		}
	}
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('many', 'many_long') AND relkind = 'r'}), $n + 500, 'every table is still there');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute WHERE atttypid = 'many.mood'::regtype}),
		$n, 'every column is still there');
}

# --- No record lost, no crash ---
$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()');
my (%in_table, %in_log);
$in_table{$_}++ foreach split /\n/,
  $node->safe_psql('postgres', q{SELECT application_name FROM guard.audit WHERE application_name LIKE 'bad-%'});
foreach my $l (log_lines($node, qr/LOG:  guard audit fallback: \{/))
{
	next unless $l =~ /LOG:  guard audit fallback: (\{.*\})\s*$/;
	$in_log{ JSON::XS->new->decode($1)->{application_name} // '' }++;
}
my @lost;
foreach my $app (sort keys %refused)
{
	my ($t, $l) = ($in_table{$app} // 0, $in_log{$app} // 0);
	push @lost, "$app ($refused{$app}): $t rows, $l fallback lines" unless $t <= 1 && $t + $l >= 1;
}
is(scalar(@lost), 0, 'every refusal (' . scalar(keys %refused) . ') is recorded once, in guard.audit or in the log')
  or diag(join("\n", @lost));
no_crash('at the end');
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '10', 'the victim lost nothing');

$node->stop;
done_testing();

# Wait until the log since an offset matches.
sub wait_for_log
{
	my ($re, $offset) = @_;
	foreach (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}
