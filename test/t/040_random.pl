# Thousands of random statements, destructive and not, through every route,
# against a production server (the generator is test/random_statements.pl).
# Afterwards: every table's rows, columns and place are as they were, every
# refusal the client saw is recorded exactly once with the right command,
# objects and roles, every statement that must run ran, PostgreSQL's own
# errors came through unchanged, and the server never crashed.
#
# Seeded and reproducible.  The seed is printed; to replay a run, or to run
# the long version by hand (CI runs 5,000 statements, about 15 s; 50,000
# take about 2.5 minutes on two cores):
#
#   GUARD_RANDOM_SEED=1234 PROVE_TESTS=test/t/040_random.pl test/check
#   GUARD_RANDOM_STATEMENTS=50000 PROVE_TESTS=test/t/040_random.pl test/check
#
# The SQL of a run can also be written out without a server:
#   perl test/random_statements.pl --seed 1234 --statements 3000 --out /tmp/rnd
use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use IPC::Run;
use JSON::XS;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

require File::Spec->catfile(dirname(File::Spec->rel2abs(__FILE__)), '..', 'random_statements.pl');

my $seed = $ENV{GUARD_RANDOM_SEED} // int(time() * 1000 + $$) % 1_000_000_000;
my $count = $ENV{GUARD_RANDOM_STATEMENTS} // 5000;
die "GUARD_RANDOM_SEED must be a number\n" unless $seed =~ /^\d+$/;
die "GUARD_RANDOM_STATEMENTS must be a number\n" unless $count =~ /^\d+$/ && $count > 0;
my $replay = "GUARD_RANDOM_SEED=$seed GUARD_RANDOM_STATEMENTS=$count";
diag("random statements: seed $seed, $count statements (replay: $replay)");

# A long timeout: a record that went to the log here would mean a writer
# stalled for seconds, not a busy one.
# The recycle bin is off: the model expects one record per statement, and
# the bin has tests of its own (recyclebin.sql, 030).
my $node = guard_node('random', conf => "guard.audit_timeout = 10s\nguard.recycle_retention = 0\n");
$node->start;
my $sup = $node->safe_psql('postgres', 'SELECT current_user');
my $g = GuardRandom::generate(seed => $seed, statements => $count, superuser => $sup);

$node->safe_psql('postgres', 'CREATE EXTENSION guard');
$node->safe_psql('postgres', $g->{setup_audit_db});
$node->safe_psql('postgres',
	qq{CREATE DATABASE rnd;\nCREATE DATABASE rnd_spare;\nCREATE DATABASE "rnd Spare ""Q""";});
$node->safe_psql('rnd', $g->{setup});
wait_for_writer($node);

my $fingerprint_sql = 'SELECT * FROM rnd_check.fingerprint()';
my $victim_sql = q{SELECT count(*), md5(string_agg(t::text, ',' ORDER BY id)) FROM public.rnd_victim t};
my %before = (
	rnd => $node->safe_psql('rnd', $fingerprint_sql),
	victim => $node->safe_psql('postgres', $victim_sql),
	audit_rows => $node->safe_psql('postgres', 'SELECT count(*) FROM guard.audit'),
	postmaster => postmaster_pid(),
	writer => writer_pid($node),
	start_time => $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'));
is($before{audit_rows}, '0', 'the setup left no audit row');
my $offset = -s $node->logfile;

# The script, in one psql session, every statement tried.
my $script = $node->basedir . '/random.sql';
my $errfile = "$script.err";
open(my $fh, '>', $script) or die "$script: $!";
print $fh $g->{script};
close $fh;
my $stdout = '';
my $t0 = time();
{
	local %ENV = $node->_get_env();
	my $timeout = $PostgreSQL::Test::Utils::timeout_default + $count / 10;
	IPC::Run::run(
		[
			$node->installed_command('psql'), '-X', '-q', '-o', '/dev/null',
			'-d', $node->connstr('rnd'), '-f', $script
		],
		'<', \undef, '>', \$stdout, '2>', $errfile,
		IPC::Run::timeout($timeout));
}
my $elapsed = time() - $t0;
like($stdout, qr/^rnd-script-complete$/m, 'psql ran the script to its end');

# What the client saw, by script line: the ERRORs, and anything else psql
# said that is not a NOTICE.
my (%errors, @strange);
open($fh, '<', $errfile) or die "$errfile: $!";
while (my $l = <$fh>)
{
	chomp $l;
	if ($l =~ /^psql:\Q$script\E:(\d+): (ERROR|FATAL|PANIC|WARNING|NOTICE):  (?:([0-9A-Z]{5}): )?(.*)$/)
	{
		my ($line, $level, $code, $msg) = ($1, $2, $3 // '', $4);
		next if $level eq 'NOTICE';
		if ($level eq 'ERROR')
		{
			push @{ $errors{$line} }, [ $code, $msg ];
		}
		else
		{
			push @strange, $l;
		}
	}
	elsif ($l =~ /^psql:/ || $l =~ /server closed the connection|connection to server/)
	{
		push @strange, $l;
	}
}
close $fh;

my $lines = $g->{lines};
my %unit_of = map { $_->{id} => $_ } @{ $g->{units} };
my (@problems, %seen_message, %expected);
my %tally = (refused => 0, ran => 0, errors => 0, lines => scalar @$lines);

sub describe_line
{
	my ($n) = @_;
	my ($sql, $exp) = @{ $lines->[ $n - 1 ] };
	my $u = defined $exp->{unit} ? $unit_of{ $exp->{unit} } : undef;
	my $who = $u
	  ? "unit rnd-$u->{id} ($u->{template}, route $u->{route}, as $u->{effective}"
	  . ($u->{caller} ne $u->{effective} ? " called by $u->{caller}" : '') . ')'
	  : 'header';
	return "line $n, $who: $sql";
}

foreach my $n (1 .. @$lines)
{
	my $exp = $lines->[ $n - 1 ][1];
	my @got = @{ $errors{$n} // [] };
	my $said = join('; ', map { "$_->[0] $_->[1]" } @got) || 'no error';
	$expected{ $exp->{audit}{app} } = { %{ $exp->{audit} }, line => $n } if $exp->{audit};
	if ($exp->{type} eq 'ok')
	{
		push @problems, describe_line($n) . "\n    must run, got: $said" if @got;
		$tally{ran}++ if defined $exp->{unit};
	}
	elsif ($exp->{type} eq 'refuse')
	{
		if (@got == 1 && $got[0][0] eq '42501'
			&& $got[0][1] =~ /^guard: \Q$exp->{audit}{command}\E of .* refused in production$/)
		{
			$seen_message{ $exp->{audit}{app} } = $got[0][1];
			$tally{refused}++;
		}
		else
		{
			push @problems, describe_line($n)
			  . "\n    must be refused ($exp->{audit}{command} of "
			  . join(', ', @{ $exp->{audit}{objects} }) . "), got: $said";
		}
	}
	elsif ($exp->{type} eq 'error')
	{
		if (@got == 1 && $got[0][0] eq $exp->{state} && $got[0][1] !~ /^guard:/
			&& $got[0][1] =~ $exp->{re})
		{
			$tally{errors}++;
		}
		else
		{
			push @problems, describe_line($n)
			  . "\n    must fail with PostgreSQL's $exp->{state} ($exp->{re}), got: $said";
		}
	}
}
foreach my $n (sort { $a <=> $b } keys %errors)
{
	push @problems, "line $n is beyond the script: @{ $errors{$n}[0] }" if $n > @$lines;
}
report(\@problems, 'every line did what the model says (refused, ran, or failed as PostgreSQL fails)');
is(scalar(@strange), 0, 'psql reported no warning, FATAL or PANIC')
  or diag(join("\n", @strange[ 0 .. ($#strange < 19 ? $#strange : 19) ]));

# Every record, matched to its unit by the application name.
$node->poll_query_until('postgres', 'SELECT rows_pending = 0 FROM guard.status()')
  or die 'the audit queue never drained';
my $json = JSON::XS->new;
my (%rows, %fallbacks, %logged_ids, @stray);
foreach my $l (split /\n/, $node->safe_psql('postgres', 'SELECT row_to_json(a) FROM guard.audit a ORDER BY id'))
{
	my $r = $json->decode($l);
	push @{ $rows{ $r->{application_name} // '' } }, $r;
}
my ($committed, $fallback) = audit_log_records($node, $offset);
push @{ $fallbacks{ $_->{application_name} // '' } }, $_ foreach @$fallback;
$logged_ids{ $_->{id} }++ foreach @$committed;

my %found = (table => 0, fallback => 0, late => 0, lock_held => 0, overridden => 0);
@problems = ();
foreach my $app (sort keys %expected)
{
	my $e = $expected{$app};
	my @r = @{ $rows{$app} // [] };
	my @f = @{ $fallbacks{$app} // [] };
	my $where = describe_line($e->{line});
	my $fine;
	if ($e->{lock_held})
	{
		$fine = @f == 1 && @r == 1
		  && ($f[0]{fallback} // '') =~ /holds a lock on guard\.audit/;
		$found{lock_held}++ if $fine;
	}
	else
	{
		# A record is in the table or the log; in both only if its
		# backend stopped waiting before the writer committed it.
		$fine = (@r == 1 && @f == 0) || (@r == 0 && @f == 1)
		  || (@r == 1 && @f == 1 && ($f[0]{fallback} // '') =~ /not committed within/);
		$found{late}++ if $fine && @r && @f;
	}
	unless ($fine)
	{
		push @problems, "$where\n    $app: " . scalar(@r) . ' rows in guard.audit, '
		  . scalar(@f) . ' fallback lines: ' . join(', ', map { $_->{fallback} // '' } @f);
		next;
	}
	@r ? $found{table}++ : $found{fallback}++;
	$found{overridden}++ if $e->{verdict} eq 'overridden';
	my $rec = @r ? $r[0] : $f[0];
	my @want = sort @{ $e->{objects} };
	my @have = sort @{ $rec->{objects} // [] };
	my @wrong;
	push @wrong, "verdict $rec->{verdict}" unless $rec->{verdict} eq $e->{verdict};
	push @wrong, "command $rec->{command}" unless $rec->{command} eq $e->{command};
	push @wrong, 'objects ' . join(', ', @have) unless "@have" eq "@want";
	push @wrong, "object_count $rec->{object_count}" unless $rec->{object_count} == @want;
	push @wrong, "effective_role $rec->{effective_role}" unless ($rec->{effective_role} // '') eq $e->{effective};
	push @wrong, "login_role $rec->{login_role}" unless ($rec->{login_role} // '') eq $sup;
	push @wrong, "database $rec->{database}" unless $rec->{database} eq $e->{db};
	push @wrong, "environment $rec->{environment}" unless $rec->{environment} eq 'production';
	push @wrong, 'reason ' . ($rec->{reason} // 'null') unless ($rec->{reason} // '') eq ($e->{reason} // '');
	push @wrong, 'statement ' . ($rec->{statement} // 'null')
	  if defined $e->{stmt_marker} && ($rec->{statement} // '') !~ m{/\* \Q$e->{stmt_marker}\E \*/};
	push @wrong, 'clipped' if $rec->{clipped};
	push @wrong, "no \"guard audit:\" line for id $rec->{id}"
	  if @r && !@f && ($logged_ids{ $r[0]{id} } // 0) != 1;
	if ($e->{verdict} eq 'blocked')
	{
		my @names = @{ $rec->{objects} };
		my $list = join(', ', map { "\"$_\"" } @names[ 0 .. ($#names < 4 ? $#names : 4) ]);
		$list .= ' and ' . ($rec->{object_count} - 5) . ' more' if $rec->{object_count} > 5;
		my $message = "guard: $rec->{command} of $list refused in production";
		push @wrong, "the client saw \"$seen_message{$app}\", not \"$message\""
		  if defined $seen_message{$app} && $seen_message{$app} ne $message;
	}
	push @problems, "$where\n    $app: expected $e->{verdict} $e->{command} of "
	  . join(', ', @want) . " as $e->{effective}; the record has " . join('; ', @wrong)
	  if @wrong;
}
foreach my $app (sort(uniq_keys(\%rows, \%fallbacks)))
{
	next if $expected{$app};
	my @all = (@{ $rows{$app} // [] }, @{ $fallbacks{$app} // [] });
	push @stray, "$app: " . join(' | ', map { "$_->{verdict} $_->{command}: " . ($_->{statement} // '') } @all);
}
push @problems, map { "a record no statement should have left: $_" } @stray;
report(\@problems, 'every refusal and override is recorded once, with its command, objects, roles and statement');
cmp_ok($found{table} + $found{fallback}, '==', scalar(keys %expected),
	'records found: ' . scalar(keys %expected));

# Nothing was lost.
my $after = $node->safe_psql('rnd', $fingerprint_sql);
my %after_lines = map { $_ => 1 } split /\n/, $after;
my %before_lines = map { $_ => 1 } split /\n/, $before{rnd};
my @changed = grep { !$after_lines{$_} } split /\n/, $before{rnd};
is(scalar(@changed), 0, 'every table of the estate has its rows, columns, place and owner')
  or diag("before, not after:\n" . join("\n", @changed[ 0 .. ($#changed < 19 ? $#changed : 19) ]));
my %pools = %{ $g->{pools} };
my (@extra, %pool_seen);
foreach my $l (grep { !$before_lines{$_} } split /\n/, $after)
{
	if ($l =~ /^rel rnd_scratch\.(pool_\d+) kind=r persistence=p owner=\S+ rows=(\d+) md5=\w+ bound=$/
		&& defined $pools{"rnd_scratch.$1"} && $pools{"rnd_scratch.$1"} == $2)
	{
		$pool_seen{"rnd_scratch.$1"}++;
		next;
	}
	next if $l =~ /^cols rnd_scratch\.pool_\d+ id integer, v text$/;
	push @extra, $l;
}
is(scalar(@extra), 0, 'nothing else appeared in the estate')
  or diag(join("\n", @extra[ 0 .. ($#extra < 19 ? $#extra : 19) ]));
is(join(',', sort keys %pool_seen), join(',', sort keys %pools),
	'the tables the script created and committed are there, with their rows ('
	  . scalar(keys %pools) . ')');
foreach my $p (sort keys %pools)
{
	is($node->safe_psql('rnd',
			"SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'p' || id) FROM $p"),
		"$pools{$p}|" . ($pools{$p} * ($pools{$p} + 1) / 2) . "|$pools{$p}",
		"$p holds what it was given");
}
is($node->safe_psql('rnd', q{SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'rnd\_vs\_%'}),
	join(',', sort keys %{ $g->{view_schemas} }),
	'the schemas of views the script created are there, and those it dropped are gone');
is($node->safe_psql('rnd', q{
	SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname IN ('rnd_routes') OR (n.nspname = 'rnd_scratch' AND c.relkind NOT IN ('r', 'i')))
		 + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname IN ('rnd_routes', 'rnd_scratch'))
		 + (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rnd\_ns\_%')}),
	'0', 'the statements that ran left nothing behind');
is($node->safe_psql('postgres', $victim_sql), $before{victim},
	'the audit database\'s own table is intact');

# The server never crashed.
is(postmaster_pid(), $before{postmaster}, 'the postmaster is the one that started');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $before{start_time},
	'and it never reinitialized');
is(writer_pid($node), $before{writer}, 'the audit writer never restarted');
my @bad = log_lines($node,
	qr/terminated by signal|was terminated|PANIC|TRAP:|server processes terminated|exited with exit code|could not write (\d+ )?audit row/,
	$offset);
is(scalar(@bad), 0, 'the log has no crash and no failed audit write')
  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
is($node->safe_psql('postgres',
		'SELECT writer_state, rows_failed, rows_pending, rows_logged FROM guard.status()'),
	"ready|0|0|" . ($found{fallback} + $found{late} + $found{lock_held}),
	'guard.status(): the writer is ready, no row failed, every fallback is counted');

my %routes;
$routes{ $_->{route} }++ foreach @{ $g->{units} };
note(sprintf('seed %d: %d statements (%d script lines) in %.1f s (%.0f statements/s)',
		$seed, $count, $tally{lines}, $elapsed, $count / $elapsed));
note(sprintf('%d refused, %d overridden, %d of PostgreSQL\'s own errors, %d lines ran as they must',
		$tally{refused}, $found{overridden}, $tally{errors}, $tally{ran}));
note(sprintf('records: %d in guard.audit (%d of them also logged at once, their session holding a lock '
		  . 'on guard.audit; %d also logged after a wait that timed out), %d only in the log',
		$found{table}, $found{lock_held}, $found{late}, $found{fallback}));
note('routes: ' . join(', ', map { "$_ $routes{$_}" } sort keys %routes));

$node->stop;
done_testing();

sub postmaster_pid
{
	open(my $pf, '<', $node->data_dir . '/postmaster.pid') or return '';
	my $pid = <$pf>;
	close $pf;
	chomp $pid;
	return $pid;
}

sub uniq_keys
{
	my %k;
	$k{$_} = 1 foreach map { keys %$_ } @_;
	return keys %k;
}

sub report
{
	my ($problems, $name) = @_;
	is(scalar(@$problems), 0, $name)
	  or diag(scalar(@$problems) . " problems; the first:\n"
		  . join("\n", @$problems[ 0 .. ($#$problems < 14 ? $#$problems : 14) ])
		  . "\nreplay: $replay");
}
