# test/lib.sh: helpers shared by test/check, test/demo and the benchmarks.
# Sourced, not run.  Debian 12 with PostgreSQL 15 from Debian's packages.

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
export PATH="$PG_BIN:$PATH"

# The warnings guard is built with; PostgreSQL 15's headers trip the three
# that are switched off.
GUARD_CFLAGS='-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers'

BUILD_PACKAGES=(gcc make postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libkrb5-dev)
TEST_PACKAGES=("${BUILD_PACKAGES[@]}" libipc-run-perl python3-psycopg2)
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
