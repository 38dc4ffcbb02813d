# guard: PGXS build and tests.
#
# The version is read once, from guard.control; the C code receives it as
# GUARD_VERSION and the extension script is picked by it.

EXTENSION = guard guard_bin
EXTVERSION := $(shell sed -n "s/^default_version = '\([^']*\)'.*/\1/p" $(dir $(lastword $(MAKEFILE_LIST)))guard.control)

MODULE_big = guard
OBJS = \
	src/guard.o \
	src/utility.o \
	src/objaccess.o \
	src/dml.o \
	src/target.o \
	src/policy.o \
	src/audit.o \
	src/queue.o \
	src/session.o \
	src/subscription.o \
	src/writer.o \
	src/purger.o \
	src/functions.o \
	src/exemption.o \
	src/config.o \
	src/recyclebin.o

# A fresh install runs the 1.0 script and then every update, so that the
# upgrade path is exercised by every test run.
DATA = $(wildcard sql/guard--*.sql) sql/guard_bin--1.0.sql
PG_CPPFLAGS = -DGUARD_VERSION=\"$(EXTVERSION)\"

# pg_regress runs against its own throw-away server that preloads guard.
REGRESS = setup settings override drop truncate alter dml cascade routes never staging audit \
	exemption config_audit blast_radius merge dry_run agreement recyclebin
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf \
	--temp-instance=$(CURDIR)/tmp_check

ISOLATION = concurrent labels undrop untruncate
ISOLATION_OPTS = --temp-config=$(srcdir)/test/isolation.conf \
	--temp-instance=$(CURDIR)/tmp_check_iso \
	--inputdir=$(srcdir)/test/isolation \
	--outputdir=$(CURDIR)/output_iso

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on the shared headers (PGXS tracks no dependencies
# unless the server was configured with --enable-depend).
$(OBJS): src/guard.h src/compat.h

# TAP tests (PostgreSQL::Test::Cluster), in test/t.  Their data and logs go
# under tmp_check_tap on every major: TESTDIR until 16, TESTDATADIR and
# TESTLOGDIR since 17.
PG_PERL_LIB := $(dir $(PGXS))../../src/test/perl
prove:
	rm -rf $(CURDIR)/tmp_check_tap && mkdir -p $(CURDIR)/tmp_check_tap
	cd $(srcdir) && TESTDIR='$(CURDIR)/tmp_check_tap' \
		TESTDATADIR='$(CURDIR)/tmp_check_tap/tmp_check' \
		TESTLOGDIR='$(CURDIR)/tmp_check_tap/tmp_check/log' \
		PATH="$(bindir):$$PATH" PG_REGRESS='$(pgxsdir)/src/test/regress/pg_regress' \
		$(PROVE) -I $(PG_PERL_LIB) -I $(srcdir)/test $(PROVE_FLAGS) \
		$(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)

# A small extension whose scripts destroy data, for the "extension script"
# route of the tests; installed only by the test command.
install-test-ext:
	$(INSTALL_DATA) $(srcdir)/test/ext/guard_regress_ext.control \
		$(wildcard $(srcdir)/test/ext/guard_regress_ext--*.sql) '$(DESTDIR)$(datadir)/extension/'

.PHONY: prove install-test-ext
