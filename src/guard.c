/*-------------------------------------------------------------------------
 *
 * guard.c
 *		Module entry and settings.
 *
 * guard works only from shared_preload_libraries: its writer and queue
 * live in shared memory, and protection that a session could choose not
 * to load would be no protection.  _PG_init defines the settings and hands
 * the rest to the files that own it.
 *
 * The settings are written so that no session can weaken protection:
 * guard.environment is refused from SET, set_config(), a function's SET
 * clause and a client's startup options, superusers included;
 * guard.override is accepted only inside a transaction block and is
 * honoured for that transaction alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"
#include "guard.h"

PG_MODULE_MAGIC;

int			guard_environment = GUARD_ENV_DEVELOPMENT;
char	   *guard_override = NULL;
char	   *guard_database = NULL;
int			guard_audit_timeout = 2000;
int			guard_audit_queue_size = 256;
bool		guard_audit_development = false;
int			guard_max_rows = 0;
int			guard_on_refusal = GUARD_ON_REFUSAL_DISCONNECT;

static const struct config_enum_entry on_refusal_options[] = {
	{"disconnect", GUARD_ON_REFUSAL_DISCONNECT, false},
	{"error", GUARD_ON_REFUSAL_ERROR, false},
	{NULL, 0, false}
};

/* True in the audit writer, whose own statements guard never examines. */
bool		guard_is_writer = false;

/* The text of guard.environment; guard_environment is what C code reads. */
static char *guard_environment_text = NULL;

/*
 * An override is bound to the transaction that set it: its GUC "extra"
 * remembers that transaction, so a value that outlives it (set_config(...,
 * false) inside a block) is neither honoured nor shown afterwards.
 */
typedef struct OverrideExtra
{
	LocalTransactionId lxid;
} OverrideExtra;

static OverrideExtra *override_extra = NULL;

/* Set once _PG_init is done, so that only later changes are logged. */
static bool settings_loaded = false;

void		_PG_init(void);

const char *
guard_environment_name(GuardEnvironment environment)
{
	switch (environment)
	{
		case GUARD_ENV_DEVELOPMENT:
			return "development";
		case GUARD_ENV_STAGING:
			return "staging";
		case GUARD_ENV_PRODUCTION:
			return "production";
	}
	return "unknown";
}

/* The override reason in force for the current transaction, or NULL. */
const char *
guard_override_reason(void)
{
	if (guard_override == NULL || guard_override[0] == '\0' ||
		override_extra == NULL || !IsTransactionState() ||
		override_extra->lxid != GUARD_MY_LXID)
		return NULL;
	return guard_override;
}

/* An environment name, in any case, as PostgreSQL reads enums; -1 if none. */
int
guard_parse_environment(const char *value)
{
	static const GuardEnvironment all[] = {
		GUARD_ENV_DEVELOPMENT, GUARD_ENV_STAGING, GUARD_ENV_PRODUCTION
	};
	int			i;

	for (i = 0; i < lengthof(all); i++)
	{
		if (pg_strcasecmp(value, guard_environment_name(all[i])) == 0)
			return all[i];
	}
	return -1;
}

/*
 * guard.environment is a string so that a value which is no environment
 * name can be answered with production: from the configuration file (at
 * start or at a reload) or from a value ALTER DATABASE/ROLE stored before
 * guard was loaded, a typo must not switch protection off.  Where a person
 * is typing it (ALTER DATABASE/ROLE, and ALTER SYSTEM, checked in
 * config.c), it is an error instead.
 */
static bool
check_environment(char **newval, void **extra, GucSource source)
{
	int			env;
	char	   *canonical;
	int		   *binding;

	if (!guard_check_setting_source("guard.environment", source))
		return false;

	env = guard_parse_environment(*newval);
	if (env < 0)
	{
		if (source == PGC_S_TEST)
		{
			GUC_check_errhint("Valid values are \"development\", \"staging\" and \"production\".");
			return false;
		}
		/* The postmaster reports a configuration value once for all. */
		if (!IsUnderPostmaster || source >= PGC_S_GLOBAL)
			ereport(WARNING,
					(errmsg("guard: invalid value \"%s\" for \"guard.environment\", using \"production\"",
							*newval),
					 errhint("Valid values are \"development\", \"staging\" and \"production\".")));
		env = GUARD_ENV_PRODUCTION;
	}

	canonical = guard_guc_strdup(guard_environment_name(env));
	binding = (int *) guard_guc_malloc(sizeof(int));
	if (canonical == NULL || binding == NULL)
	{
		guard_guc_free(canonical);
		guard_guc_free(binding);
		return false;
	}
	guard_guc_free(*newval);
	*newval = canonical;
	*binding = env;
	*extra = binding;
	return true;
}

static void
assign_environment(const char *newval, void *extra)
{
	int			env = *(int *) extra;

	/* The postmaster alone reports a change, once for the whole server. */
	if (settings_loaded && !IsUnderPostmaster && env != guard_environment)
		ereport(LOG,
				(errmsg("guard: environment changed from \"%s\" to \"%s\"",
						guard_environment_name(guard_environment),
						guard_environment_name(env))));
	guard_environment = env;
}

static bool
check_max_rows(int *newval, void **extra, GucSource source)
{
	return guard_check_setting_source("guard.max_rows", source);
}

static bool
check_override(char **newval, void **extra, GucSource source)
{
	OverrideExtra *binding;

	if (source == PGC_S_DEFAULT || InitializingParallelWorker)
		return true;
	if (!guard_check_override_value(*newval, source))
		return false;

	binding = (OverrideExtra *) guard_guc_malloc(sizeof(OverrideExtra));
	if (binding == NULL)
		return false;
	binding->lxid = GUARD_MY_LXID;
	*extra = binding;
	return true;
}

static void
assign_override(const char *newval, void *extra)
{
	override_extra = (OverrideExtra *) extra;
}

static const char *
show_override(void)
{
	const char *reason = guard_override_reason();

	return reason ? reason : "";
}

static void
define_settings(void)
{
	DefineCustomStringVariable("guard.environment",
							   "Marks the environment this server belongs to: development, staging or production.",
							   "In production, statements that would destroy table data are refused; "
							   "in staging they run with a warning; in development they run. "
							   "It cannot be changed from a session; a value that is no environment name "
							   "in the configuration means production.",
							   &guard_environment_text,
							   "development",
							   PGC_SUSET,
							   GUC_REPORT,
							   check_environment, assign_environment, NULL);

	DefineCustomStringVariable("guard.override",
							   "Allows destructive statements in production for the current transaction.",
							   "The value is the reason, recorded in the audit table. "
							   "It is accepted only inside a transaction block, with SET LOCAL.",
							   &guard_override,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE |
							   GUC_DISALLOW_IN_AUTO_FILE | GUC_NO_SHOW_ALL,
							   check_override, assign_override, show_override);

	DefineCustomStringVariable("guard.database",
							   "Database that holds the audit table.",
							   "The audit writer connects to it, and CREATE EXTENSION guard is accepted only there.",
							   &guard_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("guard.audit_timeout",
							"How long a statement waits for its audit row to be committed.",
							"Past it, the statement goes on (refused or not) and the record goes to the server log.",
							&guard_audit_timeout,
							2000, 1, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guard.audit_queue_size",
							"Number of audit rows that can wait for the writer at once.",
							"When the queue is full, records go to the server log.",
							&guard_audit_queue_size,
							256, 16, 65536,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guard.max_rows",
							"Largest number of rows a DELETE or UPDATE may change in production.",
							"A statement that changes more rows, even with a WHERE clause, is refused "
							"and rolled back unless overridden. 0 turns the limit off. "
							"It cannot be changed from a session.",
							&guard_max_rows,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							check_max_rows, NULL, NULL);

	DefineCustomIntVariable("guard.recycle_retention",
							"How long the recycle bin keeps what an overridden drop or truncation lets through.",
							"In production (and in staging, as a rehearsal), a table that an overridden "
							"DROP TABLE or DROP SCHEMA lets through, and the rows an overridden TRUNCATE "
							"removes, are kept for this long, and guard.undrop puts them back. 0 keeps nothing.",
							&guard_recycle_retention,
							7 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guard.recycle_max_size",
							"Most space the recycle bin of one database may take.",
							"In production, a drop or truncation that would make the bin larger is "
							"refused. 0 sets no cap.",
							&guard_recycle_max_size,
							0, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("guard.on_refusal",
							 "What becomes of a client session after a statement refused in production.",
							 "With \"disconnect\", the client receives the refusal's ERROR, and the session "
							 "ends before it can run another statement; with \"error\", it goes on. "
							 "Background workers always get the ERROR only.",
							 &guard_on_refusal,
							 GUARD_ON_REFUSAL_DISCONNECT,
							 on_refusal_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("guard.audit_development",
							 "Records destructive statements in development as \"allowed\".",
							 NULL,
							 &guard_audit_development,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("guard");
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("guard must be loaded via shared_preload_libraries"),
				 errhint("Add guard to shared_preload_libraries in postgresql.conf and restart the server.")));

	define_settings();

	/* pg_upgrade copies data; there is nothing for guard to watch. */
	if (IsBinaryUpgrade)
		return;

	guard_queue_init();
	guard_writer_register();
	guard_purger_register();
	guard_exemption_init();
	guard_utility_init();
	guard_objaccess_init();
	guard_dml_init();
	guard_session_init();
	guard_subscription_init();

	settings_loaded = true;
	if (!IsUnderPostmaster)
		ereport(LOG,
				(errmsg("guard %s: environment is \"%s\"", GUARD_VERSION,
						guard_environment_name(guard_environment))));
}
