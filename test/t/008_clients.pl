# Real clients pointed at production, with guard.on_refusal = 'disconnect'
# (the default): peewee, Django, SQLAlchemy (on psycopg2) and ActiveRecord
# (on ruby-pg) each raise their usual error for the refusal, with SQLSTATE
# 42501 and guard's message, and find the session gone afterwards; and a
# new Django project's first migrate runs on an empty production database.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = guard_node('clients', on_refusal => 'disconnect');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION guard');
wait_for_writer($node);
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE TABLE score (id int PRIMARY KEY, points int);
	INSERT INTO score SELECT g, g FROM generate_series(1, 10) g;
});

my $host = $node->host;
my $port = $node->port;
my $python = '/usr/bin/python3';

# Each client prints "first: <error class> <sqlstate> <message>" for the
# refused DROP TABLE and "second: <error class>" for the next statement.
my %clients = (
	peewee => [ $python, '-c', <<'PY', $host, $port ],
import sys, peewee
db = peewee.PostgresqlDatabase('app', host=sys.argv[1], port=int(sys.argv[2]), user='postgres')
db.connect()
try:
    db.execute_sql('DROP TABLE score')
except peewee.DatabaseError as e:
    print('first:', type(e).__module__ + '.' + type(e).__name__, e.orig.pgcode, e.orig.pgerror.splitlines()[0])
try:
    db.execute_sql('SELECT 1')
    print('second: ran')
except Exception as e:
    print('second:', type(e).__module__ + '.' + type(e).__name__)
# peewee leaves the failed transaction open: after its rollback, the next
# statement ends the session.
try:
    db.rollback()
    db.execute_sql('SELECT 1')
    print('third: ran')
except Exception as e:
    print('third:', type(e).__module__ + '.' + type(e).__name__)
PY
	django => [ $python, '-c', <<'PY', $host, $port ],
import sys, django
from django.conf import settings
settings.configure(DATABASES={'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'app',
                                          'HOST': sys.argv[1], 'PORT': sys.argv[2], 'USER': 'postgres'}})
django.setup()
from django.db import connection, utils
try:
    with connection.cursor() as cur:
        cur.execute('DROP TABLE score')
except utils.Error as e:
    print('first:', type(e).__module__ + '.' + type(e).__name__, e.__cause__.pgcode, e.__cause__.pgerror.splitlines()[0])
try:
    with connection.cursor() as cur:
        cur.execute('SELECT 1')
    print('second: ran')
except Exception as e:
    print('second:', type(e).__module__ + '.' + type(e).__name__)
PY
	sqlalchemy => [ $python, '-c', <<'PY', $host, $port ],
import sys, sqlalchemy
from sqlalchemy import text
engine = sqlalchemy.create_engine('postgresql+psycopg2://postgres@/app?host=%s&port=%s' % (sys.argv[1], sys.argv[2]),
                                  pool_pre_ping=False)
conn = engine.connect()
try:
    conn.execute(text('DROP TABLE score'))
except sqlalchemy.exc.DBAPIError as e:
    print('first:', type(e).__module__ + '.' + type(e).__name__, e.orig.pgcode, e.orig.pgerror.splitlines()[0])
try:
    conn.rollback() if hasattr(conn, 'rollback') else None
    conn.execute(text('SELECT 1'))
    print('second: ran')
except Exception as e:
    print('second:', type(e).__module__ + '.' + type(e).__name__)
PY
	activerecord => [ 'ruby', '-e', <<'RB', $host, $port ],
require 'active_record'
ActiveRecord::Base.establish_connection(adapter: 'postgresql', database: 'app',
                                        host: ARGV[0], port: ARGV[1].to_i, username: 'postgres')
conn = ActiveRecord::Base.connection
puts "version: #{ActiveRecord::VERSION::STRING}"
pid = conn.select_value('SELECT pg_backend_pid()')
begin
  conn.execute('DROP TABLE score')
rescue ActiveRecord::StatementInvalid => e
  puts "first: #{e.class} #{e.cause.result.error_field(PG::Result::PG_DIAG_SQLSTATE)} #{e.cause.message.lines.first.chomp}"
end
begin
  again = conn.select_value('SELECT pg_backend_pid()')
  puts "second: ran in #{again == pid ? 'the same' : 'a new'} session"
rescue => e
  puts "second: #{e.class}"
end
RB
);

my %first = (
	peewee => 'peewee.ProgrammingError',
	django => 'django.db.utils.ProgrammingError',
	sqlalchemy => 'sqlalchemy.exc.ProgrammingError',
	activerecord => 'ActiveRecord::StatementInvalid');
foreach my $name (sort keys %clients)
{
	my ($out, $err);
	IPC::Run::run($clients{$name}, '>', \$out, '2>', \$err);
	like($out, qr/^first: \Q$first{$name}\E 42501 ERROR:  guard: DROP TABLE of "public\.score" refused in production$/m,
		"$name: its usual permission error, SQLSTATE 42501, guard's message")
	  or diag("stdout:\n$out\nstderr:\n$err");
	unlike($out, qr/^second: ran in the same session$/m, "$name: the refused session runs nothing more");
	if ($name eq 'activerecord' && $out =~ /^version: (\d+)\.(\d+)/m && ($1 > 7 || ($1 == 7 && $2 >= 1)))
	{
		# ActiveRecord 7.1 and later check a connection that raised before
		# using it again, and reconnect: the next statement runs, in a new
		# session (README: "After a refusal").
		like($out, qr/^second: ran in a new session$/m,
			"$name $1.$2: reconnects by itself, and goes on in a new session");
	}
	else
	{
		like($out, qr/^second: (?!ran)\S+/m, "$name: the next statement does not run")
		  or diag("stdout:\n$out\nstderr:\n$err");
	}
	note("$name: " . join(' | ', grep { length } split /\n/, $out));
}
is($node->safe_psql('app', 'SELECT count(*) FROM score'), '10', 'every row is there');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE database = 'app' AND verdict = 'blocked'}),
	'4', 'each refusal is recorded');

# A new Django project's first migrate on an empty production database: its
# contenttypes migration drops a column of a table that is still empty.
$node->safe_psql('postgres', 'CREATE DATABASE django_app');
my ($out, $err);
my $ok = IPC::Run::run([ $python, '-c', <<'PY', $host, $port ], '>', \$out, '2>', \$err);
import sys, django
from django.conf import settings
settings.configure(DATABASES={'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'django_app',
                                          'HOST': sys.argv[1], 'PORT': sys.argv[2], 'USER': 'postgres'}},
                   INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth'])
django.setup()
from django.core.management import call_command
call_command('migrate', verbosity=0)
print('migrated')
PY
like($out, qr/^migrated$/m, "Django's first migrate succeeds on an empty production database")
  or diag($err);
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit WHERE database = 'django_app' AND verdict = 'blocked'}),
	'0', 'nothing was refused');
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM guard.audit
	WHERE database = 'django_app' AND verdict = 'allowed' AND reason = 'the table held no rows'}),
	'>', 0, 'its drops of empty columns are recorded as allowed');

$node->stop;
done_testing();
