# test/lib.sh: helpers shared by test/check, test/demo, test/matrix and the
# benchmarks.  Sourced, not run.  Debian, with PostgreSQL from Debian's own
# packages: 15 on the host (Debian 12); in test/matrix's chroots, the one
# major that each chroot has.

# The major to build and test against: PG_MAJOR if set, else the only (or
# newest) server installed, else Debian 12's.
if [ -z "${PG_MAJOR:-}" ]; then
	PG_MAJOR=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null |
		sed 's|.*/postgresql/\([0-9]*\)/.*|\1|' | sort -n | tail -n 1)
	PG_MAJOR=${PG_MAJOR:-15}
fi
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
export PATH="$PG_BIN:$PATH"

# The warnings guard is built with, on every major; PostgreSQL 15's headers
# trip the three that are switched off.
GUARD_CFLAGS='-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers'

BUILD_PACKAGES=(gcc make postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR
	postgresql-client-$PG_MAJOR libkrb5-dev libssl-dev)
# JSON::XS: JSON::PP 4.16 (Debian 13 and later) takes minutes to decode the
# megabyte-long audit records of the bad-input test.
# The clients of 008_clients.pl: peewee, Django and SQLAlchemy on psycopg2,
# ActiveRecord on ruby-pg.
TEST_PACKAGES=("${BUILD_PACKAGES[@]}" libipc-run-perl libjson-xs-perl python3-psycopg2
	python3-peewee python3-django python3-sqlalchemy ruby-activerecord ruby-pg pgbouncer)
# The extensions that production servers run beside guard (test/t/06x),
# as far as Debian packages them for the major: all of them (and the HA
# managers pg_auto_failover and Patroni with etcd) for 15 to 18, only
# pgaudit yet for 19 (experimental).  A test whose extension is not
# packaged for the major says so and is skipped, never passed.
NEIGHBOUR_PACKAGES=(postgresql-$PG_MAJOR-pgaudit)
if [ "$PG_MAJOR" -le 18 ]; then
	NEIGHBOUR_PACKAGES+=(postgresql-$PG_MAJOR-set-user postgresql-$PG_MAJOR-cron
		postgresql-$PG_MAJOR-partman postgresql-$PG_MAJOR-repack
		postgresql-$PG_MAJOR-auto-failover pg-auto-failover-cli patroni python3-etcd etcd-server)
fi
TEST_PACKAGES+=("${NEIGHBOUR_PACKAGES[@]}")
DEMO_PACKAGES=("${BUILD_PACKAGES[@]}" python3-peewee python3-psycopg2)

say() { printf '\n== %s\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Install the Debian packages that are missing (as root).
install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! is_root; then
		echo "missing Debian packages: ${missing[*]}; install them, or run this as root" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		{ apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
}

# Build with warnings as errors and install into the server's directories.
build_and_install() {
	local src=$1
	say "building and installing guard"
	make -C "$src" -s with_llvm=no PG_CFLAGS="$GUARD_CFLAGS"
	make -C "$src" -s with_llvm=no install
}

# The user the throw-away servers run as: initdb refuses root.
server_user() {
	if is_root; then echo postgres; else id -un; fi
}

as_server_user() {
	if is_root; then
		runuser -u postgres -- env PATH="$PATH" HOME=/tmp "$@"
	else
		"$@"
	fi
}

# A copy of the tree the server user can write test results into.
copy_for_server_user() {
	local src=$1 dir
	dir=$(mktemp -d /tmp/guard-work.XXXXXX)
	cp -a "$src/." "$dir/"
	rm -rf "$dir/.git"
	is_root && chown -R postgres: "$dir"
	echo "$dir"
}

# test/benchmark: valgrind for the instruction counts, libpq-dev for its
# refusal client, Debian's python3 for its reports.
BENCH_PACKAGES=("${BUILD_PACKAGES[@]}" valgrind libpq-dev python3)
