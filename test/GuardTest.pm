# GuardTest: helpers shared by guard's TAP tests (test/t/*.pl).
package GuardTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(guard_node wait_for_writer audit_count log_lines);

# The wait event of a writer waiting for work, as pg_stat_activity shows
# it: "Extension" until 16, guard's own name since 17.
our $writer_idle = q{'Extension', 'GuardWriterIdle'};

# A node that preloads guard, in the given environment (production by
# default), with extra postgresql.conf lines; install_path for a server
# of another installation (an older major).
sub guard_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		install_path => $opts{install_path});
	$node->init(%{ $opts{init} // {} });
	my $env = $opts{environment} // 'production';
	# Most tests run several refused statements in one session; those of
	# guard.on_refusal = 'disconnect' say so.
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'guard'\n"
		  . "guard.environment = '$env'\n"
		  . "guard.on_refusal = '" . ($opts{on_refusal} // 'error') . "'\n"
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

# --- Helpers for the audit fault tests (t/020-024) ---
#
# A refusal is matched across the client, guard.audit and the server log by
# a unique marker the test puts in a comment of the refused statement
# ("DROP TABLE victim_1 /* k-c1-17 */"): the audit record keeps the text of
# the statement.

use IPC::Run ();
use JSON::XS ();
use Time::HiRes ();

push @EXPORT, qw(writer_pid refusal_script start_client finish_client
  refusals_seen audit_markers audit_log_records check_recorded
  refuse_timed check_committed);

# The pid of the audit writer as pg_stat_activity shows it, '' if none.
sub writer_pid
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'guard writer'");
}

# Write a psql script of $count refused statements on $table, one a line,
# marked "$prefix-1" to "$prefix-$count"; DROP TABLE, TRUNCATE and DELETE
# in turn, optionally each followed by pg_sleep($pause).  Returns the
# markers by script line number, as psql reports errors.
sub refusal_script
{
	my ($path, $prefix, $count, %opts) = @_;
	my $table = $opts{table} // 'victim';
	my @forms = ('DROP TABLE %s /* %s */;', 'TRUNCATE %s /* %s */;',
		'DELETE FROM %s /* %s */;');
	my %by_line;
	my $line = 1;

	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh "\\set VERBOSITY verbose\n";
	foreach my $i (1 .. $count)
	{
		my $marker = "$prefix-$i";
		printf $fh $forms[ $i % 3 ] . "\n", $table, $marker;
		$by_line{ ++$line } = $marker;
		if ($opts{pause})
		{
			print $fh "SELECT pg_sleep($opts{pause});\n";
			$line++;
		}
	}
	close($fh);
	return \%by_line;
}

# Start psql on a script in the background, without ON_ERROR_STOP (every
# statement is tried), its stderr in "$script.err".  Returns a handle for
# finish_client and refusals_seen.
sub start_client
{
	my ($node, $db, $script, %opts) = @_;
	local %ENV = $node->_get_env();
	my $connstr = $node->connstr($db)
	  . " application_name=" . ($opts{application_name} // 'guard_client');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-q', '-d', $connstr,
			'-f', $script
		],
		'<', \undef, '>', '/dev/null', '2>', "$script.err",
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return {
		harness => $h,
		script => $script,
		name => ($script =~ s{.*/}{}r),
		err => "$script.err"
	};
}

# Wait for a client started by start_client; returns psql's exit code.
sub finish_client
{
	my ($client) = @_;
	$client->{harness}->finish;
	return $client->{harness}->result(0);
}

# What a client's psql reported: (\@refused, \@other), the markers of the
# statements refused with guard's ERROR (SQLSTATE 42501 and guard's
# message), and every other ERROR or FATAL line.
sub refusals_seen
{
	my ($client, $by_line) = @_;
	my (@refused, @other);

	foreach my $l (split /\n/, slurp_file($client->{err}))
	{
		next unless $l =~ /^psql:.*?:(\d+): (ERROR|FATAL|PANIC):  (.*)$/;
		my ($line, $level, $msg) = ($1, $2, $3);
		if ($level eq 'ERROR'
			&& $msg =~
			/^42501: guard: (DROP TABLE|TRUNCATE TABLE|DELETE) of "[^"]+" refused in production$/
			&& defined $by_line->{$line})
		{
			push @refused, $by_line->{$line};
		}
		else
		{
			push @other, $l;
		}
	}
	return (\@refused, \@other);
}

# How often each marker matching $re occurs in guard.audit.statement.
sub audit_markers
{
	my ($node, $re, $db) = @_;
	my %count;
	my $rows = $node->safe_psql($db // 'postgres',
		"SELECT replace(statement, E'\\n', ' ') FROM guard.audit");
	foreach my $stmt (split /\n/, $rows)
	{
		$count{$1}++ while $stmt =~ /($re)/g;
	}
	return \%count;
}

# The audit records in the server log from a byte offset on, decoded:
# (\@committed, \@fallback), from the "guard audit:" and "guard audit
# fallback:" lines.
sub audit_log_records
{
	my ($node, $offset) = @_;
	my (@committed, @fallback);
	foreach my $l (log_lines($node, qr/LOG:  guard audit( fallback)?: \{/,
			$offset))
	{
		next unless $l =~ /LOG:  guard audit( fallback)?: (\{.*\})\s*$/;
		my $fallback = defined $1;
		my $rec = JSON::XS->new->decode($2);
		push @{ $fallback ? \@fallback : \@committed }, $rec;
	}
	return (\@committed, \@fallback);
}

# Check that every refusal a client saw (@$seen, markers matching $re) is a
# row of guard.audit or a "guard audit fallback:" line in the log since
# $offset, never in neither, and never twice in the table.  Returns what
# was found, by marker: { table => {marker => rows}, fallback =>
# {marker => [reasons]}, logged => {marker => [ids]} }.
sub check_recorded
{
	my ($node, $seen, $re, $offset, $name, $auditdb) = @_;
	my $table = audit_markers($node, $re, $auditdb);
	my ($committed, $fallback) = audit_log_records($node, $offset);
	my (%fallback, %logged);

	foreach my $rec (@$fallback)
	{
		next unless ($rec->{statement} // '') =~ /($re)/;
		push @{ $fallback{$1} }, $rec->{fallback};
	}
	foreach my $rec (@$committed)
	{
		next unless ($rec->{statement} // '') =~ /($re)/;
		push @{ $logged{$1} }, $rec->{id};
	}

	my @neither = grep { !$table->{$_} && !$fallback{$_} } @$seen;
	is(scalar(@neither), 0,
		"$name: every refusal (" . scalar(@$seen)
		  . ") is in guard.audit or a fallback line")
	  or diag("in neither: @neither");
	my @twice = grep { $table->{$_} > 1 } sort keys %$table;
	is(scalar(@twice), 0, "$name: no refusal is twice in guard.audit")
	  or diag("twice: @twice");
	return { table => $table, fallback => \%fallback, logged => \%logged };
}

# Run one statement in its own session and time it: (seconds, stderr).
sub refuse_timed
{
	my ($node, $db, $sql) = @_;
	my $t0 = Time::HiRes::time();
	my ($ret, $out, $err) = $node->psql($db, $sql,
		timeout => $PostgreSQL::Test::Utils::timeout_default);
	return (Time::HiRes::time() - $t0, $err);
}

# --- Helpers for clients that outlive their connection (t/025, t/026) ---
#
# A storm client is a shell loop that runs psql on one refusal script after
# another: "generations" g1, g2, ... of refusal_script, marked
# "$prefix-g<n>-<i>".  When its connection is lost (a crash-restart, an
# immediate shutdown) psql exits, and the loop waits with pg_isready until
# the server accepts connections again and goes on with the next
# generation.  stop_storm lets each client finish the generation it is in.

push @EXPORT, qw(start_storm stop_storm storm_seen);

my $storm_loop = <<'EOS';
psql=$1 isready=$2 connstr=$3 base=$4 generations=$5 stop=$6
g=1
while [ "$g" -le "$generations" ] && [ ! -e "$stop" ]; do
	until [ -e "$stop" ] || "$isready" -q -d "$connstr"; do sleep 0.1; done
	[ -e "$stop" ] && break
	"$psql" -X -q -d "$connstr" -f "$base-g$g.sql" </dev/null >/dev/null 2>"$base-g$g.sql.err"
	g=$((g + 1))
done
EOS

# Start a storm client on $db, refused on $opts{table} (victim), $opts{count}
# (100) statements a generation, pausing $opts{pause} (0.01) s after each,
# for at most $opts{generations} (100) generations.  Its application_name
# is $prefix.
sub start_storm
{
	my ($node, $db, $prefix, %opts) = @_;
	my $base = $node->basedir . "/$prefix";
	my $generations = $opts{generations} // 100;
	my @by_line;

	foreach my $g (1 .. $generations)
	{
		$by_line[$g] = refusal_script("$base-g$g.sql", "$prefix-g$g",
			$opts{count} // 100,
			table => $opts{table} // 'victim',
			pause => $opts{pause} // 0.01);
	}
	unlink("$base.stop");

	local %ENV = $node->_get_env();
	my $connstr = $node->connstr($db) . " application_name=$prefix";
	my $h = IPC::Run::start(
		[
			'sh', '-c', $storm_loop, 'storm',
			$node->installed_command('psql'),
			$node->installed_command('pg_isready'),
			$connstr, $base, $generations, "$base.stop"
		],
		'<', \undef, '>', '/dev/null', '2>', "$base.loop.err",
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return {
		harness => $h,
		name => $prefix,
		base => $base,
		generations => $generations,
		by_line => \@by_line
	};
}

# Tell storm clients to stop after their current generation, and wait for
# them.
sub stop_storm
{
	my @clients = @_;
	foreach my $client (@clients)
	{
		open(my $fh, '>', "$client->{base}.stop")
		  or die "could not create $client->{base}.stop: $!";
		close($fh);
	}
	$_->{harness}->finish foreach @clients;
	return;
}

# What a storm client saw, over all its generations: a hash of refused
# (markers, as refusals_seen), unexpected (ERROR or FATAL lines other than
# a lost connection), generations (how many saw refusals) and cut (how
# many ended with the connection lost).
sub storm_seen
{
	my ($client) = @_;
	my %seen = (refused => [], unexpected => [], generations => 0, cut => 0);
	my $lost =
	  qr/terminating connection|server closed the connection|connection to server was lost/;

	foreach my $g (1 .. $client->{generations})
	{
		my $err = "$client->{base}-g$g.sql.err";
		last unless -e $err;
		my ($refused, $other) =
		  refusals_seen({ err => $err }, $client->{by_line}[$g]);
		push @{ $seen{refused} }, @$refused;
		push @{ $seen{unexpected} }, grep { !/$lost/ } @$other;
		$seen{generations}++ if @$refused;
		$seen{cut}++ if slurp_file($err) =~ $lost;
	}
	return \%seen;
}


# A refusal of $sql in database $db that is a row of guard.audit (in
# $auditdb) by the time the client sees it, with a "guard audit:" line
# carrying the row's id and no fallback line.  The statement carries
# "/* $marker */".
sub check_committed
{
	my ($node, $db, $auditdb, $sql, $marker, $name) = @_;
	my $offset = -s $node->logfile;
	my ($ret, $out, $err) = $node->psql($db, $sql);
	like($err, qr/ERROR:  guard: [A-Z ]+ of "public\.victim(_\d)?" refused in production/,
		"$name: refused");
	my $id = $node->safe_psql($auditdb,
		"SELECT string_agg(id::text, ',') FROM guard.audit"
		  . " WHERE statement LIKE '%/* $marker */%' AND database = '$db'");
	like($id, qr/^\d+$/, "$name: one row in guard.audit");
	my ($committed, $fallback) = audit_log_records($node, $offset);
	my @ids = map { $_->{id} }
	  grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$committed;
	is("@ids", $id, "$name: the log line has the row's id");
	is(scalar(grep { ($_->{statement} // '') =~ /\Q$marker\E(?!\d)/ } @$fallback),
		0, "$name: no fallback line");
}

# Whether an extension that Debian packages separately (pgaudit, set_user,
# pg_cron, pg_partman, pg_repack) is installed for the node's major: its
# control file is there.  Tests skip what is not packaged for a major, and
# say so; test/lib.sh installs what is.
sub extension_available
{
	my ($node, $name) = @_;
	my $sharedir = $node->config_data('--sharedir');
	return -f "$sharedir/extension/$name.control";
}
push @EXPORT, qw(extension_available);

1;
