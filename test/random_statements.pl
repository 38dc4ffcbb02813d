# random_statements.pl: the generator behind test/t/040_random.pl.
#
# Builds a schema (partitions, inheritance, foreign keys, views,
# materialized views, types, domains, a collation, extensions, a foreign
# table, several roles) and a script of random statements, destructive and
# not, each sent through one of the routes a statement can take: typed, a
# multi-statement string, a prepared statement, DO, PL/pgSQL EXECUTE, a SQL
# function, a SECURITY DEFINER function, a procedure, a trigger, a rule, an
# extension's update script.  It keeps a model of the schema, so that it
# knows, for every line of the script, what must happen: guard's refusal
# (with the command and the exact set of objects), an ordinary run, or an
# error of PostgreSQL's own.
#
# Statements that run never change the checksummed tables: they work on
# temporary tables, on tables created in the same transaction, change
# nothing (UPDATE t SET c = c), or run inside a transaction that is rolled
# back.  Tables the script creates and commits ("pool" tables) become
# protected tables of the model: later statements that would destroy them
# must be refused, and their rows are checked at the end.
#
# Every unit of the script starts with SET application_name = 'rnd-N', and
# its destructive statement carries the comment /* rnd-N */: a refusal is
# matched to its audit record by the application name (an extension
# script's statement carries no comment) and the statement text is checked
# for the comment where the route keeps it.
#
# Reproducible: Perl's rand() is the same drand48 everywhere since 5.20,
# and nothing here iterates over a hash without sorting it.
#
# Used by test/t/040_random.pl (require, then GuardRandom::generate).  Run
# by hand, it writes the SQL and the expectations to a directory:
#
#   perl test/random_statements.pl --seed 42 --statements 500 --out /tmp/rnd
#
package GuardRandom;

use strict;
use warnings;

our $SUP = 'SUPERUSER';    # replaced by the name of the test's superuser

my @ALL_ROLES;
my @OWNERS;
my @DML_ROLES;
my %T;          # the tables of the model, by the name guard prints
my @T_ORDER;    # their names, in creation order
my @POOLS;      # pool tables, in creation order
my %VIEW_SCHEMAS;    # live view-only schemas => owner
my $pool_serial = 0;
my $vs_serial = 0;

# --- random helpers (all draws go through rand()) ---

sub pick
{
	my ($list) = @_;
	die 'pick from an empty list' unless @$list;
	return $list->[ int(rand(scalar @$list)) ];
}

sub chance { return rand() < $_[0]; }

# Up to $n distinct elements, in random order.
sub pick_n
{
	my ($list, $n) = @_;
	my @c = @$list;
	my @out;
	push @out, splice(@c, int(rand(scalar @c)), 1) while @out < $n && @c;
	return @out;
}

sub between { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }

sub uniq
{
	my %seen;
	return grep { !$seen{$_}++ } @_;
}

sub sql_literal
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# --- the model ---

sub add_table
{
	my (%t) = @_;
	$t{children} //= [];
	$t{cols} //= [];
	$t{fk_from} //= [];
	$t{owner} //= 'rnd_owner';
	$T{ $t{name} } = \%t;
	push @T_ORDER, $t{name};
	if (my $p = $t{parent})
	{
		push @{ $T{$p}{children} }, $t{name};
	}
	return \%t;
}

# The estate: what setup_sql creates, as the model sees it.  Names are as
# guard prints them (quote_identifier), which is also valid SQL.
sub build_model
{
	%T = ();
	@T_ORDER = ();
	@POOLS = ();
	%VIEW_SCHEMAS = ();
	$pool_serial = 0;
	$vs_serial = 0;

	add_table(
		name => 'shop.customers', kind => 'r', cols => [ 'name', 'attrs' ],
		upd => 'name', cond => 'id = %d', app => 1);
	add_table(
		name => 'shop.orders', kind => 'r', cols => [ 'total', 'status', 'customer_id' ],
		upd => 'total', cond => 'id = %d', app => 1, fk_to => 'shop.customers');
	add_table(
		name => 'shop.order_items', kind => 'r', cols => ['qty'],
		upd => 'qty', cond => 'order_id = %d', app => 1, fk_to => 'shop.orders');
	add_table(
		name => 'shop.addresses', kind => 'r', typed => 1,
		upd => 'city', cond => q{city = 'city %d'}, app => 1);
	add_table(
		name => 'shop."Order ""Archive"""', kind => 'r', cols => ['note'],
		upd => 'note', cond => 'id = %d', app => 1);
	add_table(
		name => 'shop.notes', kind => 'r', cols => ['body'], rls => 1,
		upd => 'body', cond => 'id = %d');
	add_table(
		name => 'shop.cache', kind => 'r', cols => ['v'],
		upd => 'v', cond => q{k = 'k%d'}, app => 1);
	add_table(name => 'shop.mv_totals', kind => 'm');
	add_table(name => 'shop.mv_on_view', kind => 'm');
	add_table(
		name => 'events.log', kind => 'p', cols => ['payload'],
		upd => 'payload', cond => 'id = %d', app => 1);
	foreach my $p ('events.log_1', 'events.log_2')
	{
		add_table(
			name => $p, kind => 'r', parent => 'events.log', partition => 1,
			upd => 'payload', cond => 'id = %d', app => 1);
	}
	add_table(
		name => 'events.log_3', kind => 'p', parent => 'events.log', partition => 1,
		upd => 'payload', cond => 'id = %d', app => 1);
	add_table(
		name => 'events.log_default', kind => 'r', parent => 'events.log',
		partition => 1, upd => 'payload', cond => 'id = %d', app => 1);
	foreach my $p ('events.log_3a', 'events.log_3b')
	{
		add_table(
			name => $p, kind => 'r', parent => 'events.log_3', partition => 1,
			upd => 'payload', cond => 'id = %d', app => 1);
	}
	add_table(
		name => 'legacy.animals', kind => 'r', cols => ['name'],
		upd => 'name', cond => 'id = %d', app => 1);
	add_table(
		name => 'legacy.dogs', kind => 'r', parent => 'legacy.animals', cols => ['breed'],
		upd => 'breed', cond => 'id = %d', app => 1);
	add_table(
		name => 'legacy.cats', kind => 'r', parent => 'legacy.animals', cols => ['indoor'],
		upd => 'indoor', cond => 'id = %d', app => 1);
	add_table(
		name => 'legacy.puppies', kind => 'r', parent => 'legacy.dogs', cols => ['age'],
		upd => 'age', cond => 'id = %d', app => 1);
	add_table(
		name => 'legacy."ünïcödé table"', kind => 'r', cols => ['"naïve column"'],
		upd => '"naïve column"', cond => 'id = %d', app => 1);
	add_table(
		name => 'legacy.leftovers', kind => 'r', cols => ['v'], owner => 'rnd_leaver',
		upd => 'v', cond => 'id = %d', app => 1);
	add_table(
		name => '"Mixed Case"."Table"', kind => 'r', cols => ['"Value"'],
		upd => '"Value"', cond => 'id = %d', app => 1);
	add_table(
		name => '"Mixed Case".a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk',
		kind => 'r', upd => 'id', cond => 'id = %d', app => 1);
	add_table(name => 'remote.things', kind => 'f', cols => ['v'], upd => 'v', foreign => 1);
	add_table(
		name => 'public.regress_ext_log', kind => 'r', cols => ['note'], owner => $SUP,
		upd => 'note', cond => 'id = %d', extension => 1);

	foreach my $n (@T_ORDER)
	{
		my $fk = $T{$n}{fk_to} or next;
		push @{ $T{$fk}{fk_from} }, $n;
	}
}

sub schema_of { my ($name) = @_; return ($name =~ /^((?:"(?:[^"]|"")*")|[^.]+)\./)[0]; }

sub tables { return grep { $T{$_} } @T_ORDER; }

sub tables_where
{
	my ($f) = @_;
	return grep { $f->($T{$_}) } tables();
}

# find_all_inheritors: the table, then its descendants breadth first.
sub inheritors
{
	my ($name) = @_;
	my @out = ($name);
	my @queue = ($name);
	while (defined(my $x = shift @queue))
	{
		foreach my $c (@{ $T{$x}{children} })
		{
			push @out, $c;
			push @queue, $c;
		}
	}
	return @out;
}

sub schemas_with_tables
{
	my @s = ('shop', 'events', 'legacy', 'remote', '"Mixed Case"', 'public');
	push @s, 'rnd_scratch' if @POOLS;
	return @s;
}

sub tables_in_schema
{
	my ($schema) = @_;
	return tables_where(sub { schema_of($_[0]{name}) eq $schema });
}

sub owners_of_tables
{
	return uniq(sort grep { $_ ne $SUP } map { $T{$_}{owner} } tables());
}

sub tables_owned_by
{
	my ($role) = @_;
	return tables_where(sub { $_[0]{owner} eq $role });
}

# Whether a role may run conditional DML on a table (the model's grants).
sub may_dml
{
	my ($t, $role) = @_;
	return 1 if $role eq $SUP || $role eq $t->{owner};
	return 1 if $role eq 'rnd_app' && $t->{app};
	return 0;
}

# --- templates ---
#
# A template is chosen by weight; then a route among those it allows, then
# the role the statement runs as.  build() returns a spec:
#   body      statements; the last one is the unit's statement
#   txn       none (each on its own), same (one transaction), rollback
#   outcome   refuse, run, error, or custom (lines built by the template)
#   command, objects    for refuse
#   state, re           for error
#   stmt_marker         0 if the audit record's statement cannot carry it
#   after     a sub run once the unit is in the script (model changes)

my @ROUTES = qw(typed multi prepared do execute sqlfunc definer procedure trigger rule);
my @PLAIN_ROUTES = qw(typed multi do execute sqlfunc definer procedure trigger);
my @BLOCK_ROUTES = qw(typed multi do execute definer procedure trigger);

sub refuse
{
	my ($command, $objects, @body) = @_;
	return {
		outcome => 'refuse',
		command => $command,
		objects => [ uniq(@$objects) ],
		body => \@body,
		txn => 'none'
	};
}

sub runs
{
	my ($txn, @body) = @_;
	return { outcome => 'run', body => \@body, txn => $txn };
}

sub fails
{
	my ($state, $re, @body) = @_;
	return { outcome => 'error', state => $state, re => $re, body => \@body, txn => 'none' };
}

# Destroyed by DROP TABLE of these names (with CASCADE or not).
sub drop_table_targets
{
	my ($cascade, @names) = @_;
	my @out;
	foreach my $n (@names)
	{
		push @out, ($cascade || $T{$n}{kind} eq 'p') ? inheritors($n) : ($n);
	}
	return uniq(@out);
}

sub truncate_targets
{
	my ($only, $cascade, @names) = @_;
	my @set = uniq(map { $only ? ($_) : inheritors($_) } @names);
	if ($cascade)
	{
		for (;;)
		{
			my %in = map { $_ => 1 } @set;
			my @more = grep { !$in{$_} } map { @{ $T{$_}{fk_from} } } @set;
			last unless @more;
			push @set, uniq(@more);
		}
	}
	return uniq(@set);
}

my $U;    # the unit being built: id, marker, route, caller, effective
my $AUDITED;    # whether an earlier unit leaves a row in guard.audit

sub nosuch { return 'rnd_nosuch_' . $U->{id}; }

my @TEMPLATES = (

	# --- destructive: refused ---
	{
		name => 'drop_table', weight => 10, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my @cand = tables_where(sub { $_[0]{kind} =~ /[rp]/ });
			my @names = pick_n(\@cand, chance(0.7) ? 1 : between(2, 3));
			my $cascade = chance(0.3);
			my @sqlnames = @names;
			my $ifexists = chance(0.2);
			splice(@sqlnames, int(rand(@sqlnames + 1)), 0, 'rnd_scratch.' . nosuch())
			  if $ifexists && chance(0.5);
			return refuse('DROP TABLE', [ drop_table_targets($cascade, @names) ],
				'DROP TABLE ' . ($ifexists ? 'IF EXISTS ' : '') . join(', ', @sqlnames)
				  . ($cascade ? ' CASCADE' : chance(0.2) ? ' RESTRICT' : ''));
		}
	},
	{
		name => 'drop_matview', weight => 2, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my $mv = pick([ 'shop.mv_totals', 'shop.mv_on_view' ]);
			return refuse('DROP MATERIALIZED VIEW', [$mv],
				"DROP MATERIALIZED VIEW $mv" . (chance(0.5) ? ' CASCADE' : ''));
		}
	},
	{
		name => 'drop_foreign_table', weight => 1, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			return refuse('DROP FOREIGN TABLE', ['remote.things'],
				'DROP FOREIGN TABLE ' . (chance(0.3) ? 'IF EXISTS ' : '') . 'remote.things');
		}
	},
	{
		name => 'truncate', weight => 8, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my @cand = tables_where(sub { $_[0]{kind} =~ /[rpf]/ });
			my @names = pick_n(\@cand, chance(0.75) ? 1 : between(2, 3));
			my $only = chance(0.2);
			my $cascade = chance(0.35);
			my $sql = 'TRUNCATE ' . (chance(0.3) ? 'TABLE ' : '')
			  . join(', ', map { ($only ? 'ONLY ' : '') . $_ } @names)
			  . (chance(0.2) ? ' RESTART IDENTITY' : '')
			  . ($cascade ? ' CASCADE' : '');
			return refuse('TRUNCATE TABLE', [ truncate_targets($only, $cascade, @names) ], $sql);
		}
	},
	{
		name => 'drop_column', weight => 6, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			# A foreign table's column holds no stored value: not refused,
			# and not dropped here, so that the model's columns stay true.
			my @cand = tables_where(sub { @{ $_[0]{cols} } && !$_[0]{partition} && $_[0]{kind} ne 'f' });
			my $t = $T{ pick(\@cand) };
			my @cols = pick_n($t->{cols}, chance(0.8) ? 1 : 2);
			my @cmds = map { 'DROP COLUMN ' . (chance(0.2) ? 'IF EXISTS ' : '') . $_
				  . (chance(0.2) ? ' CASCADE' : '') } @cols;
			unshift @cmds, 'ADD COLUMN rnd_added_' . $U->{id} . ' int' if chance(0.15);
			return refuse('ALTER TABLE', [ map { "$t->{name}.$_" } @cols ],
				"ALTER TABLE $t->{name} " . join(', ', @cmds));
		}
	},
	{
		name => 'dml_unconditional', weight => 12, routes => \@ROUTES, roles => 'all',
		build => sub {
			# A condition that cannot keep a row of the target out: a join to
			# the table's whole self, or a condition on another table only.
			if (chance(0.15) && $T{'shop.orders'} && $T{'shop.cache'} && $T{'shop.customers'})
			{
				my $f = pick([
					[ 'DELETE', 'shop.orders', 'DELETE FROM shop.orders WHERE id IN (SELECT id FROM shop.orders)' ],
					[ 'DELETE', 'shop.orders', 'DELETE FROM shop.orders USING shop.customers c WHERE c.id = 1' ],
					[ 'MERGE', 'shop.cache', 'MERGE INTO shop.cache c USING shop.cache s ON c.k = s.k WHEN MATCHED THEN DELETE' ],
					[ 'INSERT', 'shop.cache', 'INSERT INTO shop.cache SELECT * FROM shop.cache ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v' ] ]);
				return refuse($f->[0], [ $f->[1] ], $f->[2]);
			}
			my @cand = tables_where(sub { $_[0]{kind} =~ /[rpf]/ && !$_[0]{rls} });
			push @cand, 'shop.v_customers', 'shop.v_notes';
			my $name = pick(\@cand);
			my $target = $name eq 'shop.v_customers' ? 'shop.customers' : $name;
			my $delete = $name eq 'shop.v_notes' || chance(0.55);
			my $col = $delete ? undef : $name eq 'shop.v_customers' ? 'name' : $T{$name}{upd};
			my $where = pick([ '', '', '', ' WHERE true', ' WHERE 1 = 1', ' WHERE NULL IS NULL',
					' WHERE 2 > 1', ' WHERE true AND true', ' WHERE NOT false' ]);
			my $only = ($T{$name} && $T{$name}{kind} eq 'r' && chance(0.15)) ? 'ONLY ' : '';
			my $stmt = $delete ? "DELETE FROM $only$name$where" : "UPDATE $only$name SET $col = $col$where";
			if (chance(0.15))
			{
				$stmt = $delete
				  ? "WITH d AS (DELETE FROM $name$where RETURNING 1) SELECT count(*) FROM d"
				  : "WITH u AS (UPDATE $name SET $col = $col$where RETURNING 1) SELECT count(*) FROM u";
			}
			# PostgreSQL checks the privileges on a view while rewriting the
			# statement, before guard sees a plan.
			my $eff = $U->{effective};
			if ($name =~ /^shop\.(v_\w+)$/ && !grep { $eff eq $_ } @DML_ROLES)
			{
				return fails('42501', qr/^permission denied for view $1$/, $stmt);
			}
			return refuse($delete ? 'DELETE' : 'UPDATE', [$target], $stmt);
		}
	},
	{
		# Row-level security: a condition for the roles it applies to.
		name => 'rls_dml', weight => 3, routes => \@ROUTES, roles => 'all',
		build => sub {
			my $delete = chance(0.6);
			my $stmt = pick(
				$delete
				? [ 'DELETE FROM shop.notes', 'DELETE FROM shop.notes WHERE true',
					'WITH d AS (DELETE FROM shop.notes RETURNING 1) SELECT count(*) FROM d' ]
				: [ 'UPDATE shop.notes SET body = body', 'UPDATE shop.notes SET body = body WHERE 1 = 1' ]);
			my $eff = $U->{effective};
			my $spec;
			if ($eff eq $SUP || $eff eq 'rnd_owner')
			{
				$spec = refuse($delete ? 'DELETE' : 'UPDATE', ['shop.notes'], $stmt);
			}
			elsif ($eff eq 'rnd_app')
			{
				$spec = runs('rollback', $stmt);
			}
			else
			{
				$spec = fails('42501', qr/^permission denied for table notes$/, $stmt);
			}
			$spec->{txn} = 'rollback';
			return $spec;
		}
	},
	{
		name => 'drop_schema_cascade', weight => 4, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my @schemas = pick_n([ schemas_with_tables() ], chance(0.8) ? 1 : 2);
			my @sql = @schemas;
			push @sql, pick([ sort keys %VIEW_SCHEMAS ]) if %VIEW_SCHEMAS && chance(0.3);
			my $ifexists = chance(0.2);
			push @sql, nosuch() if $ifexists;
			return refuse('DROP SCHEMA', [ map { tables_in_schema($_) } @schemas ],
				'DROP SCHEMA ' . ($ifexists ? 'IF EXISTS ' : '') . join(', ', @sql) . ' CASCADE');
		}
	},
	{
		name => 'drop_owned', weight => 3, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my @owners = owners_of_tables();
			my @roles = pick_n(\@owners, chance(0.8) ? 1 : 2);
			my @sql = @roles;
			push @sql, 'rnd_nobody' if chance(0.3);
			return refuse('DROP OWNED', [ map { tables_owned_by($_) } @roles ],
				'DROP OWNED BY ' . join(', ', @sql) . (chance(0.3) ? ' CASCADE' : ''));
		}
	},
	{
		name => 'drop_extension_tables', weight => 2, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my @sql = ('guard_regress_ext');
			unshift @sql, nosuch() if chance(0.3);
			return refuse('DROP EXTENSION', ['public.regress_ext_log'],
				'DROP EXTENSION ' . (@sql > 1 ? 'IF EXISTS ' : '') . join(', ', @sql)
				  . (chance(0.4) ? ' CASCADE' : ''));
		}
	},
	{
		# Cascades that only PostgreSQL's dependency walk finds; their
		# statements need the owner, so guard judges them after the walk.
		name => 'late_cascade', weight => 6, routes => \@PLAIN_ROUTES, roles => 'owners',
		build => sub {
			my @forms = (
				[ 'DROP TYPE', 'DROP TYPE shop.status CASCADE', ['shop.orders.status'] ],
				[ 'DROP TYPE', 'DROP TYPE shop.addr CASCADE', ['shop.addresses'] ],
				[ 'DROP TYPE', 'DROP TYPE shop.status, shop.addr CASCADE', [ 'shop.orders.status', 'shop.addresses' ] ],
				[ 'DROP DOMAIN', 'DROP DOMAIN shop.qty CASCADE', ['shop.order_items.qty'] ],
				[ 'ALTER TYPE', 'ALTER TYPE shop.addr DROP ATTRIBUTE city CASCADE', ['shop.addresses.city'] ],
				[ 'DROP FUNCTION', 'DROP FUNCTION shop.net(numeric) CASCADE', ['shop.orders.net'] ],
				[ 'DROP COLLATION', 'DROP COLLATION shop.coll CASCADE', ['shop.customers.name'] ],
				[ 'DROP VIEW', 'DROP VIEW shop.v_base CASCADE', ['shop.mv_on_view'] ],
				[ 'DROP SERVER', 'DROP SERVER rnd_srv CASCADE', ['remote.things'] ]);
			if ($U->{effective} eq $SUP)
			{
				push @forms,
				  [ 'DROP EXTENSION', 'DROP EXTENSION hstore CASCADE', ['shop.customers.attrs'] ],
				  [ 'DROP EXTENSION', 'DROP EXTENSION postgres_fdw CASCADE', ['remote.things'] ];
			}
			my $f = pick(\@forms);
			return refuse($f->[0], $f->[2], $f->[1]);
		}
	},
	{
		name => 'drop_database', weight => 3, routes => \@PLAIN_ROUTES, roles => 'all',
		build => sub {
			my $db = pick([ 'rnd_spare', '"rnd Spare ""Q"""', 'postgres', 'rnd' ]);
			return refuse('DROP DATABASE', [$db],
				'DROP DATABASE ' . (chance(0.2) ? 'IF EXISTS ' : '') . $db
				  . (chance(0.3) ? ' WITH (FORCE)' : ''));
		}
	},
	{
		name => 'extension_script', weight => 2,
		routes => [qw(typed multi do execute sqlfunc procedure)], roles => 'superuser',
		build => sub {
			my $f = pick([
					[ '1.1', 'DROP TABLE', ['public.regress_ext_log'] ],
					[ '1.2', 'TRUNCATE TABLE', ['public.regress_ext_log'] ],
					[ '1.3', 'DELETE', ['public.regress_ext_log'] ],
					[ '1.4', 'ALTER TABLE', ['public.regress_ext_log.note'] ] ]);
			my $spec = refuse($f->[1], $f->[2],
				"ALTER EXTENSION guard_regress_ext UPDATE TO '$f->[0]'");
			$spec->{stmt_marker} = 0;    # the script's statement is recorded
			return $spec;
		}
	},
	{
		# A table created here is never refused; an old one next to it is.
		name => 'new_and_old', weight => 4, routes => \@BLOCK_ROUTES, roles => 'all',
		build => sub {
			my $new = 'rnd_scratch.rnd_new_' . $U->{id};
			if (chance(0.5))
			{
				my @old = pick_n([ tables_where(sub { $_[0]{kind} =~ /[rp]/ }) ], between(1, 2));
				my @names = ($new, @old);
				@names = reverse @names if chance(0.5);
				my $cascade = chance(0.3);
				my $spec = refuse('DROP TABLE', [ drop_table_targets($cascade, @old) ],
					"CREATE TABLE $new (id int, v text)",
					"INSERT INTO $new VALUES (1, 'new')",
					'DROP TABLE ' . join(', ', @names) . ($cascade ? ' CASCADE' : ''));
				$spec->{txn} = 'same';
				return $spec;
			}
			my $tmp = 'rnd_tmp_' . $U->{id};
			my @old = pick_n([ tables_where(sub { $_[0]{kind} =~ /[rpf]/ }) ], 1);
			my @names = ($tmp, $new, @old);
			@names = pick_n(\@names, 3);
			my $spec = refuse('TRUNCATE TABLE', [ truncate_targets(0, 0, @old) ],
				"CREATE TEMP TABLE $tmp (id int)",
				"CREATE TABLE $new (id int, v text)",
				'TRUNCATE ' . join(', ', @names));
			$spec->{txn} = 'same';
			return $spec;
		}
	},
	{
		# A detached partition is an old table like any other.
		name => 'detached_then_dropped', weight => 1,
		routes => [qw(typed multi do execute sqlfunc procedure trigger)], roles => 'owners',
		build => sub {
			my $p = pick([ 'events.log_1', 'events.log_2', 'events.log_3', 'events.log_default' ]);
			my $spec = refuse('DROP TABLE', [ drop_table_targets(0, $p) ],
				"ALTER TABLE events.log DETACH PARTITION $p", "DROP TABLE $p");
			$spec->{txn} = 'rollback';
			return $spec;
		}
	},
	{
		# An old table moved into a new schema, or attached to a new parent.
		name => 'old_in_new', weight => 2, routes => [qw(typed multi do execute procedure)],
		roles => 'superuser',
		build => sub {
			return undef unless @POOLS;
			my $pool = pick(\@POOLS);
			(my $rel = $pool) =~ s/^rnd_scratch\.//;
			if (chance(0.4))
			{
				my $ns = 'rnd_ns_' . $U->{id};
				my $spec = refuse('DROP SCHEMA', ["$ns.$rel"], "CREATE SCHEMA $ns",
					"ALTER TABLE $pool SET SCHEMA $ns", "DROP SCHEMA $ns CASCADE");
				$spec->{txn} = 'rollback';
				return $spec;
			}
			my $np = 'rnd_scratch.rnd_np_' . $U->{id};
			my @pre = ("CREATE TABLE $np (id int, v text) PARTITION BY RANGE (id)",
				"ALTER TABLE $np ATTACH PARTITION $pool FOR VALUES FROM (MINVALUE) TO (MAXVALUE)");
			my $f = pick([
					[ 'DROP TABLE', [$pool], "DROP TABLE $np" ],
					[ 'TRUNCATE TABLE', [$pool], "TRUNCATE $np" ],
					[ 'DELETE', [$np], "DELETE FROM $np" ],
					[ 'UPDATE', [$np], "UPDATE $np SET v = v" ] ]);
			my $spec = refuse($f->[0], $f->[1], @pre, $f->[2]);
			$spec->{txn} = 'rollback';
			return $spec;
		}
	},
	{
		name => 'audit_database', weight => 3, roles => 'superuser', custom => 1,
		build => sub {
			# Until a row is recorded, guard.audit holds none: a change to
			# it destroys nothing, and guard lets it run (decided on data).
			return undef unless $AUDITED;
			my @forms = (
				[ 'TRUNCATE TABLE', ['guard.audit'], 'TRUNCATE guard.audit' ],
				[ 'DELETE', ['guard.audit'], 'DELETE FROM guard.audit' ],
				[ 'DELETE', ['guard.audit'], 'DELETE FROM guard.audit WHERE true' ],
				[ 'UPDATE', ['guard.audit'], 'UPDATE guard.audit SET reason = reason' ],
				[ 'DROP TABLE', ['guard.audit'], 'DROP TABLE guard.audit' ],
				[ 'DROP SCHEMA', ['guard.audit'], 'DROP SCHEMA guard CASCADE' ],
				[ 'DROP EXTENSION', ['guard.audit'], 'DROP EXTENSION guard' ],
				[ 'DROP TABLE', ['public.rnd_victim'], 'DROP TABLE public.rnd_victim' ],
				[ 'TRUNCATE TABLE', ['public.rnd_victim'], 'TRUNCATE public.rnd_victim' ],
				[ 'DROP DATABASE', ['rnd'], 'DROP DATABASE rnd' ]);
			my $m = $U->{marker};
			my @lines = ([ '\\c postgres', { type => 'ok' } ], app_line());
			my $r = rand();
			if ($r < 0.25)
			{
				# The session holds a lock on guard.audit: the record goes to
				# the log at once, and to the table when the lock goes.
				my $mode = pick([ 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE' ]);
				my $victim = pick([ [ 'DROP TABLE', 'DROP TABLE public.rnd_victim' ],
						[ 'TRUNCATE TABLE', 'TRUNCATE public.rnd_victim' ],
						[ 'DELETE', 'DELETE FROM public.rnd_victim' ] ]);
				push @lines, [ 'BEGIN;', { type => 'ok' } ],
				  [ "LOCK TABLE guard.audit IN $mode MODE \\; $victim->[1] /* $m */;",
					refusal($victim->[0], ['public.rnd_victim'], lock_held => 1, db => 'postgres') ],
				  [ 'ROLLBACK;', { type => 'ok' } ];
			}
			elsif ($r < 0.35)
			{
				# Any change to guard.audit needs the override in
				# production, whatever its condition.
				push @lines, [ "DELETE FROM guard.audit WHERE id < 0 /* $m */;",
					refusal('DELETE', ['guard.audit'], db => 'postgres') ];
			}
			else
			{
				my $f = pick(\@forms);
				my $stmt = "$f->[2] /* $m */";
				$stmt = "SELECT 1 \\; $stmt" if chance(0.3);
				$stmt = "DO \$rnd\$BEGIN $f->[2] /* $m */; END\$rnd\$"
				  if chance(0.2) && $f->[2] !~ /DATABASE/;
				push @lines, [ "$stmt;", refusal($f->[0], $f->[1], db => 'postgres') ];
			}
			push @lines, [ '\\c rnd', { type => 'ok' } ];
			return { outcome => 'custom', lines => \@lines, route => 'audit db' };
		}
	},

	# --- overrides: run, recorded as overridden ---
	{
		name => 'override', weight => 4, roles => 'overriders', custom => 1,
		build => sub {
			my $eff = $U->{effective};
			my @forms = (
				[ 'DELETE', ['shop.order_items'], 'DELETE FROM shop.order_items' ],
				[ 'UPDATE', ['shop.customers'], 'UPDATE shop.customers SET name = name' ],
				[ 'DELETE', ['events.log'], 'DELETE FROM events.log' ],
				[ 'DELETE', ['legacy.animals'], 'WITH d AS (DELETE FROM legacy.animals RETURNING 1) SELECT count(*) FROM d' ]);
			if ($eff eq $SUP)
			{
				push @forms,
				  [ 'DROP TABLE', ['legacy.leftovers'], 'DROP TABLE legacy.leftovers' ],
				  [ 'DROP TABLE', ['shop.cache'], 'DROP TABLE shop.cache' ],
				  [ 'DROP TABLE', [ inheritors('events.log') ], 'DROP TABLE events.log' ],
				  [ 'DROP TABLE', [ inheritors('legacy.animals') ], 'DROP TABLE legacy.animals CASCADE' ],
				  [ 'TRUNCATE TABLE', [ truncate_targets(0, 1, 'shop.customers') ], 'TRUNCATE shop.customers CASCADE' ],
				  [ 'TRUNCATE TABLE', [ inheritors('events.log') ], 'TRUNCATE events.log' ],
				  [ 'ALTER TABLE', ['shop.cache.v'], 'ALTER TABLE shop.cache DROP COLUMN v' ],
				  [ 'DROP SCHEMA', [ tables_in_schema('legacy') ], 'DROP SCHEMA legacy CASCADE' ],
				  [ 'DROP TYPE', ['shop.orders.status'], 'DROP TYPE shop.status CASCADE' ],
				  [ 'DROP EXTENSION', ['shop.customers.attrs'], 'DROP EXTENSION hstore CASCADE' ];
				push @forms, map { [ 'DROP TABLE', [$_], "DROP TABLE $_" ] } @POOLS;
			}
			my $f = pick(\@forms);
			my $m = $U->{marker};
			my $reason = "$m: planned maintenance, naïve 'quotes'";
			my $set = chance(0.7)
			  ? 'SET LOCAL guard.override = ' . sql_literal($reason)
			  : 'SELECT set_config(' . sql_literal('guard.override') . ', ' . sql_literal($reason) . ', true)';
			my $stmt = "$f->[2] /* $m */";
			my $over = {
				type => 'ok',
				audit => overridden($f->[0], $f->[1], $reason)
			};
			my @lines = ([ "SET application_name = '$m'"
				  . ($eff eq $SUP ? '' : " \\; SET ROLE $eff") . ';', { type => 'ok' } ],
				[ 'BEGIN;', { type => 'ok' } ]);
			my $style = pick([qw(lines multi do)]);
			$style = 'lines' if $style eq 'do' && $f->[2] =~ /^WITH/;
			if ($style eq 'lines')
			{
				push @lines, [ "$set;", { type => 'ok' } ], [ "$stmt;", $over ];
			}
			elsif ($style eq 'multi')
			{
				push @lines, [ "$set \\; $stmt;", $over ];
			}
			else
			{
				push @lines, [ "$set;", { type => 'ok' } ],
				  [ "DO \$rnd\$BEGIN $stmt; END\$rnd\$;", $over ];
			}
			push @lines, [ 'ROLLBACK;', { type => 'ok' } ];
			push @lines, [ 'RESET ROLE;', { type => 'ok' } ] if $eff ne $SUP;
			return { outcome => 'custom', lines => \@lines, route => "override $style" };
		}
	},
	{
		# An override outlives nothing: not its transaction, not a savepoint
		# rolled back, not a prepared statement run under it.
		name => 'override_gone', weight => 2, roles => 'superuser', custom => 1,
		build => sub {
			my $m = $U->{marker};
			my $reason = sql_literal("$m: should not last");
			my $t = pick([ tables_where(sub { $_[0]{kind} =~ /[rp]/ && !$_[0]{rls} && !$_[0]{pool}
						  && !@{ $_[0]{fk_from} } }) ]);
			my @lines = (app_line());
			my $r = rand();
			if ($r < 0.35)
			{
				push @lines, [ 'BEGIN;', { type => 'ok' } ],
				  [ chance(0.5) ? "SET LOCAL guard.override = $reason;"
					: "SELECT set_config('guard.override', $reason, false);", { type => 'ok' } ],
				  [ 'COMMIT;', { type => 'ok' } ],
				  [ "TRUNCATE $t /* $m */;", refusal('TRUNCATE TABLE', [ truncate_targets(0, 0, $t) ]) ];
			}
			elsif ($r < 0.7)
			{
				push @lines, [ 'BEGIN;', { type => 'ok' } ],
				  [ 'SAVEPOINT rnd_sp;', { type => 'ok' } ],
				  [ "SET LOCAL guard.override = $reason;", { type => 'ok' } ],
				  [ 'ROLLBACK TO SAVEPOINT rnd_sp;', { type => 'ok' } ],
				  [ "DELETE FROM $t /* $m */;", refusal('DELETE', [$t]) ],
				  [ 'ROLLBACK;', { type => 'ok' } ];
			}
			else
			{
				my $p = "rnd_pg_$U->{id}";
				push @lines, [ "PREPARE $p AS DELETE FROM $t /* $m */;", { type => 'ok' } ],
				  [ 'BEGIN;', { type => 'ok' } ],
				  [ "SET LOCAL guard.override = $reason;", { type => 'ok' } ],
				  [ "EXECUTE $p;", { type => 'ok', audit => overridden('DELETE', [$t], "$m: should not last") } ],
				  [ 'ROLLBACK;', { type => 'ok' } ],
				  app_line("$m.2"),
				  [ "EXECUTE $p;", refusal('DELETE', [$t], app => "$m.2") ],
				  [ "DEALLOCATE $p;", { type => 'ok' } ];
			}
			return { outcome => 'custom', lines => \@lines, route => 'override gone' };
		}
	},

	# --- never refused: must run, and leave no audit record ---
	{
		name => 'temp_lifecycle', weight => 5, routes => [qw(typed multi do execute procedure trigger)],
		roles => 'all',
		build => sub {
			my $t = 'rnd_tmp_' . $U->{id};
			my @body;
			if (chance(0.2))
			{
				@body = ("CREATE TEMP TABLE $t (id int, v text) PARTITION BY RANGE (id)",
					"CREATE TEMP TABLE ${t}_1 PARTITION OF $t FOR VALUES FROM (0) TO (100)",
					"INSERT INTO $t SELECT g, 'x' FROM generate_series(1, 5) g");
			}
			else
			{
				@body = ("CREATE TEMP TABLE $t (id int, v text)"
					  . pick([ '', ' ON COMMIT PRESERVE ROWS', ' ON COMMIT DELETE ROWS' ]),
					"INSERT INTO $t SELECT g, 'x' FROM generate_series(1, 5) g");
			}
			foreach my $op ("DELETE FROM $t", "UPDATE $t SET v = 'y'", "DELETE FROM $t WHERE true",
				"TRUNCATE $t", "WITH d AS (DELETE FROM $t RETURNING 1) SELECT count(*) FROM d",
				"ALTER TABLE $t DROP COLUMN v")
			{
				push @body, $op if chance(0.4);
			}
			push @body, pick([ "DROP TABLE $t", "DROP TABLE pg_temp.$t", "DROP TABLE IF EXISTS $t CASCADE" ]);
			return runs('none', @body);
		}
	},
	{
		name => 'new_lifecycle', weight => 5, routes => [qw(typed multi do execute procedure trigger)],
		roles => 'all',
		build => sub {
			my $t = 'rnd_scratch.rnd_n_' . $U->{id};
			my @body;
			my $r = rand();
			my $drop = "DROP TABLE $t" . (chance(0.3) ? ' CASCADE' : '');
			if ($r < 0.2)
			{
				@body = ("CREATE TABLE $t (id int, v text) PARTITION BY RANGE (id)",
					"CREATE TABLE ${t}_1 PARTITION OF $t FOR VALUES FROM (0) TO (3)",
					"CREATE TABLE ${t}_2 PARTITION OF $t FOR VALUES FROM (3) TO (100)");
			}
			elsif ($r < 0.3)
			{
				@body = ("CREATE TABLE $t (id int, v text)",
					"CREATE TABLE ${t}_child (extra int) INHERITS ($t)");
				$drop = "DROP TABLE $t CASCADE";
			}
			elsif ($r < 0.4 && ($U->{effective} eq $SUP || $U->{effective} eq 'rnd_owner'))
			{
				@body = ("CREATE TABLE $t (id int, v text, cid int REFERENCES shop.customers)");
			}
			elsif ($r < 0.5 && ($U->{effective} eq $SUP || $U->{effective} eq 'rnd_owner'))
			{
				my $ns = 'rnd_ns_' . $U->{id};
				$t = "$ns.t";
				@body = ("CREATE SCHEMA $ns", "CREATE TABLE $t (id int, v text)");
				$drop = "DROP SCHEMA $ns CASCADE";
			}
			else
			{
				@body = ("CREATE TABLE $t (id int PRIMARY KEY, v text)");
			}
			push @body, "INSERT INTO $t (id, v) SELECT g, 'x' FROM generate_series(1, 5) g";
			foreach my $op ("DELETE FROM $t", "UPDATE $t SET v = 'y'", "TRUNCATE $t",
				"DELETE FROM $t WHERE 1 = 1", "ALTER TABLE $t DROP COLUMN v")
			{
				push @body, $op if chance(0.4);
			}
			push @body, $drop;
			return runs('same', @body);
		}
	},
	{
		name => 'if_exists_nothing', weight => 4,
		routes => [qw(typed multi do execute sqlfunc procedure trigger)], roles => 'all',
		build => sub {
			my $n = nosuch();
			my @forms = (
				"DROP TABLE IF EXISTS rnd_scratch.$n",
				"DROP TABLE IF EXISTS $n.t CASCADE",
				"DROP MATERIALIZED VIEW IF EXISTS rnd_scratch.$n",
				"DROP FOREIGN TABLE IF EXISTS rnd_scratch.$n",
				"DROP SCHEMA IF EXISTS $n CASCADE",
				"DROP VIEW IF EXISTS rnd_scratch.$n CASCADE",
				"DROP TYPE IF EXISTS rnd_scratch.$n CASCADE",
				"DROP EXTENSION IF EXISTS $n CASCADE",
				"ALTER TABLE IF EXISTS rnd_scratch.$n DROP COLUMN v");
			if ($U->{effective} eq $SUP || $U->{effective} eq 'rnd_owner')
			{
				push @forms, "ALTER TABLE shop.cache DROP COLUMN IF EXISTS $n",
				  "ALTER TABLE events.log DROP COLUMN IF EXISTS $n CASCADE";
			}
			if ($U->{effective} eq $SUP)
			{
				push @forms, 'DROP OWNED BY rnd_nobody', 'REASSIGN OWNED BY rnd_nobody TO rnd_owner';
			}
			return runs('none', pick_n(\@forms, between(1, 2)));
		}
	},
	{
		name => 'drop_database_if_exists', weight => 1, routes => ['typed'], roles => 'all',
		build => sub { return runs('none', 'DROP DATABASE IF EXISTS ' . nosuch()); }
	},
	{
		name => 'detach_attach', weight => 2,
		routes => [qw(typed multi do execute sqlfunc procedure trigger)], roles => 'owners',
		build => sub {
			my $p = pick([
					[ 'events.log_1', 'FOR VALUES FROM (1) TO (11)' ],
					[ 'events.log_2', 'FOR VALUES FROM (11) TO (21)' ],
					[ 'events.log_3', 'FOR VALUES FROM (21) TO (31)' ],
					[ 'events.log_default', 'DEFAULT' ] ]);
			if (chance(0.3))
			{
				return runs('rollback', "ALTER TABLE events.log DETACH PARTITION $p->[0]");
			}
			return runs('same', "ALTER TABLE events.log DETACH PARTITION $p->[0]",
				"ALTER TABLE events.log ATTACH PARTITION $p->[0] $p->[1]");
		}
	},
	{
		name => 'vacuum_full', weight => 1, routes => ['typed'], roles => 'owners',
		build => sub {
			my @t = pick_n([ tables_where(sub { $_[0]{kind} =~ /[rpm]/ && $_[0]{owner} eq 'rnd_owner' }) ],
				between(1, 2));
			return runs('none', pick([ 'VACUUM FULL ', 'VACUUM (FULL, ANALYZE) ' ]) . join(', ', @t));
		}
	},
	{
		name => 'internal_drops', weight => 3, routes => [qw(typed multi do execute procedure trigger)],
		roles => 'owners',
		build => sub {
			my $r = rand();
			if ($r < 0.25)
			{
				my $t = pick([ [ 'shop.customers', 'customers_pkey' ], [ 'shop.orders', 'orders_pkey' ],
						[ 'shop.cache', 'cache_pkey' ], [ 'shop.notes', 'notes_pkey' ] ]);
				return runs('none', "CLUSTER $t->[0] USING $t->[1]");
			}
			if ($r < 0.5)
			{
				return runs('none', pick([ 'REFRESH MATERIALIZED VIEW shop.mv_totals',
						'REFRESH MATERIALIZED VIEW CONCURRENTLY shop.mv_totals',
						'REFRESH MATERIALIZED VIEW shop.mv_on_view' ]));
			}
			if ($r < 0.75)
			{
				return runs('rollback', pick([
						'ALTER TABLE shop.cache ALTER COLUMN v TYPE varchar(100)',
						'ALTER TABLE shop."Order ""Archive""" SET UNLOGGED',
						'ALTER TABLE shop.cache SET LOGGED',
						'ALTER TABLE shop."Order ""Archive""" ADD COLUMN rnd_r float8 DEFAULT random()',
						'ALTER TABLE events.log ALTER COLUMN payload TYPE varchar(200)' ]));
			}
			my $t = 'rnd_ocd_' . $U->{id};
			return runs('same', "CREATE TEMP TABLE $t (id int) ON COMMIT DROP",
				"INSERT INTO $t VALUES (1)");
		}
	},
	{
		name => 'no_data_objects', weight => 4,
		routes => [qw(typed multi do execute sqlfunc procedure trigger)], roles => 'owners',
		build => sub {
			my $i = $U->{id};
			my $f = pick([
					[ "CREATE INDEX rnd_ix_$i ON shop.orders (total)", "DROP INDEX shop.rnd_ix_$i" ],
					[ "CREATE INDEX rnd_ix_$i ON events.log (day)", "DROP INDEX events.rnd_ix_$i" ],
					[ "CREATE VIEW rnd_scratch.rnd_v_$i AS SELECT * FROM shop.orders",
						"DROP VIEW rnd_scratch.rnd_v_$i" . (chance(0.5) ? ' CASCADE' : '') ],
					[ "CREATE SEQUENCE rnd_scratch.rnd_s_$i", "DROP SEQUENCE rnd_scratch.rnd_s_$i" ],
					[ "CREATE FUNCTION rnd_scratch.rnd_f_$i() RETURNS int LANGUAGE sql AS 'SELECT 1'",
						"DROP FUNCTION rnd_scratch.rnd_f_$i()" ],
					[ "CREATE TYPE rnd_scratch.rnd_t_$i AS (a int)", "DROP TYPE rnd_scratch.rnd_t_$i CASCADE" ],
					[ "ALTER TABLE shop.orders ADD CONSTRAINT rnd_ck_$i CHECK (total >= 0)",
						"ALTER TABLE shop.orders DROP CONSTRAINT rnd_ck_$i" ],
					[ "CREATE MATERIALIZED VIEW rnd_scratch.rnd_mv_$i AS SELECT 1 AS one",
						"DROP MATERIALIZED VIEW rnd_scratch.rnd_mv_$i", 'same' ] ]);
			return runs($f->[2] // (chance(0.5) ? 'none' : 'same'), $f->[0], $f->[1]);
		}
	},
	{
		name => 'dml_noop', weight => 6, routes => \@ROUTES, roles => 'dml',
		build => sub {
			my $eff = $U->{effective};
			my @cand = tables_where(sub { $_[0]{kind} =~ /[rp]/ && $_[0]{cond} && may_dml($_[0], $eff) });
			my $t = $T{ pick(\@cand) };
			my $cond = sprintf($t->{cond}, between(1, 30));
			my $col = $t->{upd};
			my @forms = (
				"UPDATE $t->{name} SET $col = $col WHERE $cond",
				"DELETE FROM $t->{name} WHERE false",
				"DELETE FROM $t->{name} WHERE $cond AND false",
				"UPDATE $t->{name} SET $col = $col WHERE $cond OR $cond",
				"SELECT count(*) FROM $t->{name}",
				"EXPLAIN DELETE FROM $t->{name}",
				"EXPLAIN UPDATE $t->{name} SET $col = $col");
			push @forms, "UPDATE $t->{name} SET $col = $col WHERE id > 0" if $t->{cond} =~ /^id /;
			if (may_dml($T{'shop.orders'}, $eff))
			{
				push @forms, 'UPDATE shop.v_big_orders SET total = total',
				  'DELETE FROM shop.order_items i USING shop.orders o WHERE i.order_id = o.id AND o.total < 0',
				  q{MERGE INTO shop.cache c USING (SELECT 'nosuch' AS k) s ON c.k = s.k WHEN MATCHED THEN DELETE},
				  q{INSERT INTO shop.cache VALUES ('k1', 'v1') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v},
				  'DELETE FROM ONLY events.log';
			}
			return runs('none', pick(\@forms));
		}
	},
	{
		name => 'dml_rolled_back', weight => 6, routes => \@ROUTES, roles => 'dml',
		build => sub {
			my $eff = $U->{effective};
			my @cand = tables_where(sub { $_[0]{kind} =~ /[rp]/ && $_[0]{cond} && may_dml($_[0], $eff)
					  && !@{ $_[0]{fk_from} } });
			my $t = $T{ pick(\@cand) };
			my $cond = sprintf($t->{cond}, between(1, 30));
			my $col = $t->{upd};
			my @forms = (
				"DELETE FROM $t->{name} WHERE $cond",
				"DELETE FROM $t->{name} WHERE random() >= 0",
				"WITH d AS (DELETE FROM $t->{name} WHERE $cond RETURNING 1) SELECT count(*) FROM d");
			if (may_dml($T{'shop.orders'}, $eff))
			{
				push @forms, 'DELETE FROM shop.order_items USING shop.orders WHERE order_items.order_id = orders.id',
				  'DELETE FROM shop.v_big_orders', 'DELETE FROM shop.v_paid',
				  q{UPDATE shop.cache SET v = 'changed' WHERE k = 'k2'},
				  'DELETE FROM events.log WHERE day BETWEEN 3 AND 14',
				  'DELETE FROM legacy.animals WHERE id % 2 = 0',
				  q{MERGE INTO shop.cache c USING (SELECT 'k2' AS k) s ON c.k = s.k WHEN MATCHED THEN DELETE},
				  q{INSERT INTO shop.cache VALUES ('rnd_new', 'x')};
			}
			my $stmt = pick(\@forms);
			my $spec = runs('rollback', $stmt);
			if (chance(0.1) && may_dml($T{'shop.cache'}, $eff) && $U->{route} =~ /^(typed|multi)$/)
			{
				my $c = "rnd_c_$U->{id}";
				$spec = runs('rollback', "DECLARE $c CURSOR FOR SELECT * FROM shop.cache FOR UPDATE",
					"FETCH 1 FROM $c", "DELETE FROM shop.cache WHERE CURRENT OF $c");
			}
			return $spec;
		}
	},
	{
		name => 'view_schema', weight => 2, routes => [qw(typed multi do execute procedure)],
		roles => 'owners',
		build => sub {
			my $eff = $U->{effective};
			my @mine = grep { $eff eq $SUP || $VIEW_SCHEMAS{$_} eq $eff } sort keys %VIEW_SCHEMAS;
			if (@mine && (chance(0.5) || scalar(keys %VIEW_SCHEMAS) >= 5))
			{
				my $s = pick(\@mine);
				my $spec = runs('none', "DROP SCHEMA $s CASCADE");
				$spec->{after} = sub { delete $VIEW_SCHEMAS{$s} };
				return $spec;
			}
			return undef if scalar(keys %VIEW_SCHEMAS) >= 8;
			my $s = 'rnd_vs_' . ++$vs_serial;
			my $spec = runs('same', "CREATE SCHEMA $s",
				"CREATE VIEW $s.v AS SELECT id, total FROM shop.orders",
				"CREATE SEQUENCE $s.s", "CREATE TYPE $s.t AS ENUM ('a')");
			$spec->{after} = sub { $VIEW_SCHEMAS{$s} = $eff };
			return $spec;
		}
	},
	{
		name => 'pool_table', weight => 2, routes => [qw(typed multi do execute procedure)],
		roles => 'creators',
		build => sub {
			return undef if @POOLS >= 12;
			my $name = 'rnd_scratch.pool_' . ++$pool_serial;
			my $rows = between(1, 60);
			my $owner = $U->{effective};
			my $spec = runs('same', "CREATE TABLE $name (id int PRIMARY KEY, v text)",
				"INSERT INTO $name SELECT g, 'p' || g FROM generate_series(1, $rows) g");
			$spec->{after} = sub {
				add_table(name => $name, kind => 'r', cols => ['v'], upd => 'v',
					cond => 'id = %d', owner => $owner, pool => 1, rows => $rows);
				push @POOLS, $name;
			};
			return $spec;
		}
	},

	# --- PostgreSQL's own errors, which guard must not mask ---
	{
		name => 'postgres_errors', weight => 4, routes => [qw(typed multi do execute)], roles => 'all',
		build => sub {
			my $eff = $U->{effective};
			my $owner = $eff eq $SUP || $eff eq 'rnd_owner';
			my @forms = ([ '42P01', qr/does not exist/, 'TRUNCATE rnd_scratch.' . nosuch() ]);
			push @forms,
			  [ '42809', qr/is not a table/, 'DROP TABLE shop.v_customers' ],
			  [ '42809', qr/is not a table/, 'DROP TABLE shop.mv_totals' ],
			  [ '2BP01', qr/other objects depend on it/, 'DROP SCHEMA shop' ],
			  [ '2BP01', qr/other objects depend on it/, 'DROP TYPE shop.status' ],
			  [ '2BP01', qr/other objects depend on it/, 'DROP SERVER rnd_srv' ],
			  [ '2BP01', qr/other objects depend on it/, 'DROP FUNCTION shop.net(numeric)' ]
			  if $owner;
			push @forms, [ '2BP01', qr/other objects depend on it/, 'DROP EXTENSION hstore' ],
			  [ '55P02', qr/cannot be set from a session/, q{SET guard.environment = 'development'} ],
			  [ '55P02', qr/can only be set with SET LOCAL/, q{SET guard.override = 'rnd'} ],
			  [ '55P02', qr/cannot be set from a session/, q{SELECT set_config('guard.environment', 'development', false)} ]
			  if $eff eq $SUP;
			push @forms, [ '23503', qr/violates foreign key constraint/,
				'DELETE FROM shop.customers WHERE id = ' . between(1, 40) ]
			  if may_dml($T{'shop.customers'}, $eff);
			push @forms, [ '42501', qr/^permission denied for table cache$/,
				q{DELETE FROM shop.cache WHERE k = 'k1'} ]
			  unless may_dml($T{'shop.cache'}, $eff);
			my $f = pick(\@forms);
			return fails($f->[0], $f->[1], $f->[2]);
		}
	},
	{
		name => 'postgres_errors_block', weight => 1, routes => ['typed'], roles => 'all', custom => 1,
		build => sub {
			my $m = $U->{marker};
			my @lines = (app_line());
			if ($U->{effective} eq $SUP || $U->{effective} eq 'rnd_app')
			{
				push @lines, [ 'DROP DATABASE IF EXISTS ' . nosuch() . " /* $m */ \\; SELECT 1;",
					{ type => 'error', state => '25001', re => qr/cannot run inside a transaction block/ } ];
			}
			else
			{
				push @lines, [ "SET ROLE $U->{effective};", { type => 'ok' } ],
				  [ 'BEGIN;', { type => 'ok' } ],
				  [ "SET LOCAL guard.override = 'rnd' /* $m */;",
					{ type => 'error', state => '42501', re => qr/^permission denied to set parameter "guard\.override"$/ } ],
				  [ 'ROLLBACK;', { type => 'ok' } ], [ 'RESET ROLE;', { type => 'ok' } ];
			}
			return { outcome => 'custom', lines => \@lines, route => 'typed' };
		}
	},
);

# --- lines and expectations ---

# The line that names the unit: SET application_name.
sub app_line
{
	my ($app) = @_;
	$app //= $U->{marker};
	return [ "SET application_name = '$app';", { type => 'ok' } ];
}

sub refusal
{
	my ($command, $objects, %opts) = @_;
	my $app = $opts{app} // $U->{marker};
	return {
		type => 'refuse',
		audit => {
			app => $app,
			verdict => 'blocked',
			command => $command,
			objects => [ uniq(@$objects) ],
			effective => $opts{effective} // $U->{effective},
			db => $opts{db} // 'rnd',
			stmt_marker => exists $opts{stmt_marker} ? $opts{stmt_marker} : $U->{marker},
			lock_held => $opts{lock_held} // 0,
		}
	};
}

sub overridden
{
	my ($command, $objects, $reason) = @_;
	return {
		app => $U->{marker},
		verdict => 'overridden',
		command => $command,
		objects => [ uniq(@$objects) ],
		effective => $U->{effective},
		db => 'rnd',
		stmt_marker => $U->{marker},
		reason => $reason,
		lock_held => 0,
	};
}

# Statements that return rows need EXECUTE in PL/pgSQL.
sub plpgsql_stmt
{
	my ($s) = @_;
	return $s =~ /^(SELECT|WITH|EXPLAIN|FETCH)\b/ ? 'EXECUTE ' . sql_literal($s) : $s;
}

sub route_ok
{
	my ($route, $spec) = @_;
	my @b = @{ $spec->{body} };
	my $dml = qr/^(DELETE|UPDATE|INSERT|WITH)\b/;
	return 0 if $route eq 'prepared' && (@b != 1 || $b[0] !~ /^(DELETE|UPDATE|INSERT|WITH|MERGE|SELECT)\b/);
	return 0 if $route eq 'rule' && grep { $_ !~ $dml || /\b(MERGE|ON CONFLICT)\b/ } @b;
	return 0 if $route =~ /^(sqlfunc|do|definer|procedure|trigger)$/ && grep { /^(EXPLAIN|DECLARE|FETCH)\b/ } @b;
	return 0 if $route =~ /^(prepared|rule|sqlfunc|do|execute|definer|procedure|trigger)$/
	  && grep { /\bCURRENT OF\b/ } @b;
	return 1;
}

# Wrap a spec's body in its route: the script lines, each with what it
# must produce.
sub route_lines
{
	my ($spec) = @_;
	my $id = $U->{id};
	my $m = $U->{marker};
	my @body = @{ $spec->{body} };
	$body[-1] .= " /* $m */";
	my $main;
	if ($spec->{outcome} eq 'refuse')
	{
		$main = refusal($spec->{command}, $spec->{objects},
			exists $spec->{stmt_marker} ? (stmt_marker => $spec->{stmt_marker} ? $m : undef) : ());
	}
	elsif ($spec->{outcome} eq 'error')
	{
		$main = { type => 'error', state => $spec->{state}, re => $spec->{re} };
	}
	else
	{
		$main = { type => 'ok' };
	}
	my $ok = { type => 'ok' };
	my $txn = $spec->{txn};
	my $route = $U->{route};
	my @lines;
	my $one = sub { push @lines, [ "$_[0];", $main ] };

	if ($route eq 'typed')
	{
		push @lines, [ 'BEGIN;', $ok ] if $txn ne 'none';
		foreach my $i (0 .. $#body)
		{
			push @lines, [ "$body[$i];", $i == $#body ? $main : $ok ];
		}
		push @lines, [ $txn eq 'rollback' ? 'ROLLBACK;' : 'COMMIT;', $ok ] if $txn ne 'none';
		return @lines;
	}

	push @lines, [ 'BEGIN;', $ok ] if $txn eq 'rollback';
	my $tag = '$rnd$';
	my $plbody = join(' ', map { plpgsql_stmt($_) . ';' } @body);
	if ($route eq 'multi')
	{
		my @parts = @body;
		unshift @parts, 'SELECT 1' if @parts == 1 || chance(0.3);
		push @parts, 'SELECT 2' if chance(0.3);
		$one->(join(' \\; ', @parts));
	}
	elsif ($route eq 'prepared')
	{
		my $p = "rnd_p_$id";
		push @lines, [ "PREPARE $p AS $body[0];", $ok ];
		push @lines, [ "EXECUTE $p;", $main ];
		if ($main->{type} eq 'refuse' && $txn ne 'rollback' && chance(0.3))
		{
			# Refused again on the next execution: its own record.
			push @lines, app_line("$m.2");
			my $again = refusal($main->{audit}{command}, $main->{audit}{objects}, app => "$m.2");
			push @lines, [ "EXECUTE $p;", $again ];
		}
		push @lines, [ 'ROLLBACK;', $ok ] if $txn eq 'rollback';
		push @lines, [ "DEALLOCATE $p;", $ok ];
		return @lines;
	}
	elsif ($route eq 'do')
	{
		$one->("DO ${tag}BEGIN $plbody END$tag");
	}
	elsif ($route eq 'execute')
	{
		$one->("DO ${tag}BEGIN " . join(' ', map { 'EXECUTE ' . sql_literal($_) . ';' } @body) . " END$tag");
	}
	elsif ($route eq 'sqlfunc')
	{
		my $f = "rnd_routes.rnd_f_$id";
		$one->("CREATE FUNCTION $f() RETURNS void LANGUAGE sql AS $tag " . join('; ', @body)
			  . " $tag \\; SELECT $f() \\; DROP FUNCTION $f()");
	}
	elsif ($route eq 'definer')
	{
		my $f = "rnd_routes.rnd_d_$id";
		my @parts = ("CREATE FUNCTION $f() RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS ${tag}BEGIN $plbody END$tag");
		push @parts, "ALTER FUNCTION $f() OWNER TO $U->{effective}" if $U->{effective} ne $SUP;
		push @parts, "SET LOCAL ROLE $U->{caller}" if $U->{caller} ne $SUP;
		push @parts, "SELECT $f()", 'RESET ROLE', "DROP FUNCTION $f()";
		$one->(join(' \\; ', @parts));
	}
	elsif ($route eq 'procedure')
	{
		my $p = "rnd_routes.rnd_p_$id";
		$one->("CREATE PROCEDURE $p() LANGUAGE plpgsql AS ${tag}BEGIN $plbody END$tag \\; CALL $p() \\; DROP PROCEDURE $p()");
	}
	elsif ($route eq 'trigger')
	{
		my $t = "rnd_routes.rnd_tt_$id";
		my $f = "rnd_routes.rnd_tf_$id";
		my $each = chance(0.5) ? 'ROW' : 'STATEMENT';
		$one->("CREATE TABLE $t (id int) \\; CREATE FUNCTION $f() RETURNS trigger LANGUAGE plpgsql AS ${tag}BEGIN $plbody RETURN NULL; END$tag"
			  . " \\; CREATE TRIGGER rnd_trg AFTER INSERT ON $t FOR EACH $each EXECUTE FUNCTION $f()"
			  . " \\; INSERT INTO $t VALUES (1) \\; DROP TABLE $t \\; DROP FUNCTION $f()");
	}
	elsif ($route eq 'rule')
	{
		my $t = "rnd_routes.rnd_rt_$id";
		my $kind = chance(0.5) ? 'ALSO' : 'INSTEAD';
		$one->("CREATE TABLE $t (id int) \\; CREATE RULE rnd_rule AS ON INSERT TO $t DO $kind ("
			  . join('; ', @body) . ") \\; INSERT INTO $t VALUES (1) \\; DROP TABLE $t");
	}
	else
	{
		die "unknown route $route";
	}
	push @lines, [ 'ROLLBACK;', $ok ] if $txn eq 'rollback';
	return @lines;
}

sub roles_for
{
	my ($what) = @_;
	return @ALL_ROLES if $what eq 'all';
	return @OWNERS if $what eq 'owners';
	return @DML_ROLES if $what eq 'dml';
	return ($SUP, 'rnd_owner', 'rnd_leaver', 'rnd_app') if $what eq 'creators';
	return ($SUP) if $what eq 'superuser';
	return ($SUP, 'rnd_app') if $what eq 'overriders';
	die "unknown roles $what";
}

# One unit: SET application_name (and SET ROLE), the route's lines, RESET
# ROLE.  Returns the unit, or undef if the template has nothing to work on.
sub make_unit
{
	my ($id, $tpl) = @_;
	$U = { id => $id, marker => "rnd-$id", template => $tpl->{name} };
	my @roles = roles_for($tpl->{roles});

	if ($tpl->{custom})
	{
		$U->{route} = 'custom';
		$U->{effective} = $U->{caller} = pick(\@roles);
		my $spec = $tpl->{build}->() or return undef;
		$U->{route} = $spec->{route};
		my @lines = @{ $spec->{lines} };
		@lines = (app_line(), @lines) unless grep { $_->[0] =~ /^SET application_name/ } @lines;
		$U->{lines} = \@lines;
		return $U;
	}

	my $route = pick($tpl->{routes});
	if ($route eq 'definer')
	{
		my %ok = map { $_ => 1 } @roles;
		my @definers = grep { $ok{$_} } ('rnd_definer', 'rnd_owner', $SUP);
		$U->{effective} = pick(\@definers);
		$U->{caller} = pick(\@ALL_ROLES);
	}
	else
	{
		$U->{effective} = $U->{caller} = pick(\@roles);
	}
	$U->{route} = $route;
	my $spec = $tpl->{build}->() or return undef;
	unless (route_ok($route, $spec))
	{
		my @alt = grep { $_ ne 'definer' && route_ok($_, $spec) } @{ $tpl->{routes} };
		return undef unless @alt;
		$U->{route} = pick(\@alt);
		$U->{caller} = $U->{effective};
	}

	my @lines;
	my $role_set = $U->{route} ne 'definer' && $U->{caller} ne $SUP;
	push @lines, [ "SET application_name = '$U->{marker}'"
		  . ($role_set ? " \\; SET ROLE $U->{caller}" : '') . ';', { type => 'ok' } ];
	push @lines, route_lines($spec);
	push @lines, [ 'RESET ROLE;', { type => 'ok' } ] if $role_set;
	$U->{lines} = \@lines;
	$U->{outcome} = $spec->{outcome};
	$spec->{after}->() if $spec->{after};
	return $U;
}

# --- the setup ---

sub setup_sql
{
	my $sql = <<'SQL';
CREATE ROLE rnd_owner;
CREATE ROLE rnd_app;
CREATE ROLE rnd_reader;
CREATE ROLE rnd_leaver;
CREATE ROLE rnd_nobody;
CREATE ROLE rnd_definer;
GRANT SET ON PARAMETER guard.override TO rnd_app;
GRANT CREATE ON DATABASE rnd TO rnd_owner;
CREATE EXTENSION hstore;
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION guard_regress_ext;
INSERT INTO public.regress_ext_log VALUES (4, 'fourth');
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO rnd_owner;
CREATE SCHEMA shop AUTHORIZATION rnd_owner;
CREATE SCHEMA events AUTHORIZATION rnd_owner;
CREATE SCHEMA legacy AUTHORIZATION rnd_owner;
CREATE SCHEMA remote AUTHORIZATION rnd_owner;
CREATE SCHEMA "Mixed Case" AUTHORIZATION rnd_owner;
CREATE SCHEMA rnd_scratch;
CREATE SCHEMA rnd_routes;
CREATE SCHEMA rnd_check;
GRANT USAGE, CREATE ON SCHEMA rnd_scratch, rnd_routes TO PUBLIC;
SET ROLE rnd_owner;
CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN shop.qty AS int CHECK (VALUE > 0);
CREATE TYPE shop.addr AS (street text, city text);
CREATE COLLATION shop.coll (provider = libc, locale = 'C');
CREATE FUNCTION shop.net(numeric) RETURNS numeric IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 0.8';
CREATE TABLE shop.customers (id int PRIMARY KEY, name text COLLATE shop.coll, attrs hstore);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES shop.customers,
	status shop.status, total numeric, net numeric GENERATED ALWAYS AS (shop.net(total)) STORED);
CREATE TABLE shop.order_items (order_id int REFERENCES shop.orders ON DELETE CASCADE, line int,
	qty shop.qty, PRIMARY KEY (order_id, line));
CREATE TABLE shop.addresses OF shop.addr;
CREATE TABLE shop."Order ""Archive""" (id int, note text);
CREATE TABLE shop.notes (id int PRIMARY KEY, author name, body text);
ALTER TABLE shop.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON shop.notes USING (author = current_user);
CREATE UNLOGGED TABLE shop.cache (k text PRIMARY KEY, v text);
CREATE VIEW shop.v_customers AS SELECT * FROM shop.customers;
CREATE VIEW shop.v_big_orders AS SELECT * FROM shop.orders WHERE total > 50;
CREATE VIEW shop.v_paid AS SELECT id, total FROM shop.orders WHERE status = 'paid';
CREATE MATERIALIZED VIEW shop.mv_totals AS
	SELECT customer_id, sum(total) AS total FROM shop.orders GROUP BY customer_id;
CREATE UNIQUE INDEX ON shop.mv_totals (customer_id);
CREATE VIEW shop.v_base AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW shop.mv_on_view AS SELECT * FROM shop.v_base;
CREATE VIEW shop.v_notes AS SELECT * FROM shop.notes;
CREATE FUNCTION shop.v_notes_del() RETURNS trigger LANGUAGE plpgsql
	AS $$BEGIN DELETE FROM shop.notes WHERE id = OLD.id; RETURN OLD; END$$;
CREATE TRIGGER v_notes_del INSTEAD OF DELETE ON shop.v_notes
	FOR EACH ROW EXECUTE FUNCTION shop.v_notes_del();
INSERT INTO shop.customers SELECT g, 'customer ' || g, ('k=>' || g)::hstore FROM generate_series(1, 40) g;
INSERT INTO shop.orders (id, customer_id, status, total)
	SELECT g, 1 + g % 40, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3]::shop.status, g * 1.5
	FROM generate_series(1, 120) g;
INSERT INTO shop.order_items SELECT o, l, l FROM generate_series(1, 120) o, generate_series(1, 3) l;
INSERT INTO shop.addresses SELECT 'street ' || g, 'city ' || g FROM generate_series(1, 30) g;
INSERT INTO shop."Order ""Archive""" SELECT g, 'archived ' || g FROM generate_series(1, 25) g;
INSERT INTO shop.notes SELECT g, (ARRAY['rnd_app', 'rnd_reader', 'rnd_owner'])[1 + g % 3], 'note ' || g
	FROM generate_series(1, 30) g;
INSERT INTO shop.cache SELECT 'k' || g, 'v' || g FROM generate_series(1, 30) g;
REFRESH MATERIALIZED VIEW shop.mv_totals;
CREATE TABLE events.log (id int, day int, payload text) PARTITION BY RANGE (day);
CREATE TABLE events.log_1 PARTITION OF events.log FOR VALUES FROM (1) TO (11);
CREATE TABLE events.log_2 PARTITION OF events.log FOR VALUES FROM (11) TO (21);
CREATE TABLE events.log_3 PARTITION OF events.log FOR VALUES FROM (21) TO (31) PARTITION BY RANGE (id);
CREATE TABLE events.log_default PARTITION OF events.log DEFAULT;
CREATE TABLE events.log_3a PARTITION OF events.log_3 FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE events.log_3b PARTITION OF events.log_3 FOR VALUES FROM (1000) TO (MAXVALUE);
INSERT INTO events.log SELECT g, 1 + g % 40, 'event ' || g FROM generate_series(1, 2000) g;
CREATE TABLE legacy.animals (id int, name text);
CREATE TABLE legacy.dogs (breed text) INHERITS (legacy.animals);
CREATE TABLE legacy.cats (indoor boolean) INHERITS (legacy.animals);
CREATE TABLE legacy.puppies (age int) INHERITS (legacy.dogs);
INSERT INTO legacy.animals SELECT g, 'animal ' || g FROM generate_series(1, 5) g;
INSERT INTO legacy.dogs SELECT g, 'dog ' || g, 'breed ' || g FROM generate_series(6, 10) g;
INSERT INTO legacy.cats SELECT g, 'cat ' || g, g % 2 = 0 FROM generate_series(11, 15) g;
INSERT INTO legacy.puppies SELECT g, 'puppy ' || g, 'breed ' || g, g FROM generate_series(16, 20) g;
CREATE TABLE legacy."ünïcödé table" (id int, "naïve column" text);
INSERT INTO legacy."ünïcödé table" SELECT g, 'ü' || g FROM generate_series(1, 7) g;
CREATE TABLE "Mixed Case"."Table" (id int, "Value" text);
INSERT INTO "Mixed Case"."Table" SELECT g, 'V' || g FROM generate_series(1, 9) g;
CREATE TABLE "Mixed Case".a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk (id int);
INSERT INTO "Mixed Case".a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk
	SELECT generate_series(1, 3);
CREATE SERVER rnd_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'rnd_nowhere');
CREATE FOREIGN TABLE remote.things (id int, v text) SERVER rnd_srv;
RESET ROLE;
CREATE TABLE legacy.leftovers (id int, v text);
INSERT INTO legacy.leftovers SELECT g, 'left ' || g FROM generate_series(1, 4) g;
ALTER TABLE legacy.leftovers OWNER TO rnd_leaver;
GRANT USAGE ON SCHEMA shop, events, legacy, remote, "Mixed Case" TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA shop, events, legacy, remote, "Mixed Case" TO rnd_app;
GRANT SELECT ON ALL TABLES IN SCHEMA shop, events, legacy, remote, "Mixed Case" TO rnd_reader;

-- What must not change: every relation of the estate, its rows (count
-- and md5 of the rows in order), its columns, its partition bounds and
-- parents; the extensions, the databases, the roles.
CREATE FUNCTION rnd_check.fingerprint() RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
	r record;
	n bigint;
	h text;
BEGIN
	FOR r IN
		SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence,
			   pg_get_userbyid(c.relowner) AS owner, c.relispartition,
			   pg_get_expr(c.relpartbound, c.oid) AS bound
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v', 'c')
		  AND n.nspname IN ('shop', 'events', 'legacy', 'remote', 'Mixed Case', 'public', 'rnd_scratch')
		ORDER BY n.nspname, c.relname
	LOOP
		n := NULL;
		h := NULL;
		IF r.relkind IN ('r', 'm') THEN
			EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), %L)) FROM ONLY %I.%I t',
						   '', r.nspname, r.relname) INTO n, h;
		END IF;
		RETURN NEXT format('rel %s kind=%s persistence=%s owner=%s rows=%s md5=%s bound=%s',
						   quote_ident(r.nspname) || '.' || quote_ident(r.relname), r.relkind,
						   r.relpersistence, r.owner, n, h, r.bound);
		RETURN NEXT format('cols %s %s', quote_ident(r.nspname) || '.' || quote_ident(r.relname),
						   (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
							FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped));
	END LOOP;
	RETURN QUERY SELECT format('inherits %s %s', i.inhrelid::regclass, i.inhparent::regclass)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('shop', 'events', 'legacy', 'remote', 'Mixed Case', 'public', 'rnd_scratch')
		  AND c.relkind IN ('r', 'p', 'm', 'f')
		ORDER BY 1;
	RETURN QUERY SELECT format('extension %s %s', extname, extversion) FROM pg_extension ORDER BY 1;
	RETURN QUERY SELECT format('database %s', datname) FROM pg_database ORDER BY 1;
	RETURN QUERY SELECT format('role %s', rolname) FROM pg_roles WHERE rolname LIKE 'rnd%' ORDER BY 1;
	RETURN QUERY SELECT format('type %s %s', t.oid::regtype, t.typtype)
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		LEFT JOIN pg_class c ON c.oid = t.typrelid
		WHERE n.nspname = 'shop' AND (t.typtype IN ('e', 'd') OR c.relkind = 'c')
		ORDER BY 1;
	RETURN QUERY SELECT format('server %s', srvname) FROM pg_foreign_server ORDER BY 1;
END
$f$;
SQL
	return $sql;
}

# What the audit database holds besides guard: a table of its own.
sub setup_audit_db_sql
{
	return "CREATE TABLE public.rnd_victim (id int, v text);\n"
	  . "INSERT INTO public.rnd_victim SELECT g, 'victim ' || g FROM generate_series(1, 5) g;\n";
}

# --- the whole script ---

sub generate
{
	my (%opts) = @_;
	my $seed = $opts{seed} // die 'seed';
	my $count = $opts{statements} // 1000;
	local $SUP = $opts{superuser} // 'postgres';
	@ALL_ROLES = ($SUP, 'rnd_owner', 'rnd_app', 'rnd_reader', 'rnd_leaver', 'rnd_definer');
	@OWNERS = ($SUP, 'rnd_owner');
	@DML_ROLES = ($SUP, 'rnd_owner', 'rnd_app');
	srand($seed);
	build_model();
	$AUDITED = 0;

	my $total = 0;
	$total += $_->{weight} foreach @TEMPLATES;
	my @header = ('\\set VERBOSITY verbose', '\\set SHOW_CONTEXT never');
	my @lines = map { [ $_, { type => 'ok' } ] } @header;
	my @units;
	my $id = 0;
	my $attempts = 0;
	while (@units < $count)
	{
		die 'the generator is stuck' if ++$attempts > 50 * $count + 1000;
		my $r = rand($total);
		my $tpl;
		foreach my $t (@TEMPLATES)
		{
			$tpl = $t;
			last if ($r -= $t->{weight}) < 0;
		}
		my $unit = make_unit($id + 1, $tpl) or next;
		$id++;
		$unit->{first_line} = @lines + 1;
		foreach my $l (@{ $unit->{lines} })
		{
			$l->[1]{unit} = $unit->{id};
			push @lines, $l;
		}
		$unit->{last_line} = scalar @lines;
		$AUDITED ||= grep { $_->[1]{audit} } @{ $unit->{lines} };
		push @units, $unit;
	}
	push @lines, [ '\\echo rnd-script-complete', { type => 'ok' } ];

	my %pools = map { $_ => $T{$_}{rows} } @POOLS;
	return {
		seed => $seed,
		units => \@units,
		lines => \@lines,
		script => join('', map { "$_->[0]\n" } @lines),
		setup => setup_sql(),
		setup_audit_db => setup_audit_db_sql(),
		pools => \%pools,
		view_schemas => { %VIEW_SCHEMAS },
	};
}

# Run by hand: write the SQL and a summary of what each line must do.
unless (caller)
{
	require Getopt::Long;
	my ($seed, $n, $out, $sup) = (time() % 1000000, 500, '.', 'postgres');
	Getopt::Long::GetOptions(
		'seed=i' => \$seed,
		'statements=i' => \$n,
		'out=s' => \$out,
		'superuser=s' => \$sup) or die "usage: $0 [--seed N] [--statements N] [--out DIR] [--superuser NAME]\n";
	my $g = generate(seed => $seed, statements => $n, superuser => $sup);
	mkdir $out;
	foreach my $f ([ 'setup.sql', $g->{setup} ], [ 'setup_audit_db.sql', $g->{setup_audit_db} ],
		[ 'run.sql', $g->{script} ])
	{
		open(my $fh, '>', "$out/$f->[0]") or die "$out/$f->[0]: $!";
		print $fh $f->[1];
		close $fh;
	}
	open(my $fh, '>', "$out/expected.txt") or die;
	my $ln = 0;
	foreach my $l (@{ $g->{lines} })
	{
		$ln++;
		my $e = $l->[1];
		my $what = $e->{type};
		if ($e->{type} eq 'refuse')
		{
			$what .= " $e->{audit}{command} of " . join(', ', @{ $e->{audit}{objects} })
			  . " as $e->{audit}{effective}";
		}
		$what .= " $e->{state}" if $e->{type} eq 'error';
		$what .= " (overridden)" if $e->{audit} && $e->{audit}{verdict} eq 'overridden';
		print $fh "$ln\t$what\n";
	}
	close $fh;
	printf "seed %d: %d statements, %d lines, written to %s\n", $seed, $n,
	  scalar @{ $g->{lines} }, $out;
}

1;
