/*-------------------------------------------------------------------------
 *
 * config.c
 *		Changes to guard's own settings: ALTER SYSTEM, ALTER DATABASE and
 *		ALTER ROLE ... SET or RESET of a guard.* setting.
 *
 * Every such change is described for the policy with its old and new
 * value, so that it leaves a row in the audit table.  One that lowers
 * guard.environment, or raises or removes guard.max_rows, is a weakening:
 * in production it needs the override, like any destructive statement.
 * A change is measured against the value stored at its level (database,
 * role) or, when none is, against the session's own value.  What a RESET
 * falls back to is not known here, so removing a stored "production" or
 * "staging" counts as lowering: guard errs on the side of refusing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_db_role_setting.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "compat.h"
#include "guard.h"

static int
environment_rank(const char *value)
{
	return value ? guard_parse_environment(value) : -1;
}

/* The value stored for a setting by ALTER DATABASE/ROLE, or NULL. */
static char *
stored_value(Oid dbid, Oid roleid, const char *name)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	char	   *value = NULL;
	size_t		namelen = strlen(name);

	ScanKeyInit(&key[0], Anum_pg_db_role_setting_setdatabase,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(dbid));
	ScanKeyInit(&key[1], Anum_pg_db_role_setting_setrole,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(roleid));
	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true,
							  NULL, 2, key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
										  RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			Datum	   *items;
			int			nitems;
			int			i;

			deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false,
							  TYPALIGN_INT, &items, NULL, &nitems);
			for (i = 0; i < nitems; i++)
			{
				char	   *item = TextDatumGetCString(items[i]);

				if (pg_strncasecmp(item, name, namelen) == 0 && item[namelen] == '=')
					value = pstrdup(item + namelen + 1);
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return value;
}

/* The guard settings that can be stored per database or role. */
static const char *const stored_settings[] = {"guard.environment", "guard.max_rows"};

/*
 * Whether ALTER SYSTEM RESET of guard.environment could lower it: only if
 * the value in force comes from postgresql.auto.conf (or cannot be seen).
 */
static bool
environment_from_auto_file(void)
{
	bool		from_auto = true;

	if (SPI_connect() != SPI_OK_CONNECT)
		return true;
	if (SPI_execute("SELECT sourcefile FROM pg_catalog.pg_settings"
					" WHERE name = 'guard.environment'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *file = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (file != NULL)
			from_auto = strstr(file, PG_AUTOCONF_FILENAME) != NULL;
	}
	SPI_finish();
	return from_auto;
}

/*
 * Whether setting name from old_value to new_value (NULL: reset) weakens
 * protection.  base is what the change is measured against: the stored
 * value, or this session's when nothing is stored at that level.
 */
static bool
weakens(const char *name, const char *old_value, const char *new_value,
		bool system)
{
	if (pg_strcasecmp(name, "guard.environment") == 0)
	{
		int			base = old_value ? environment_rank(old_value) : guard_environment;

		if (new_value != NULL)
		{
			int			rank = environment_rank(new_value);

			return rank >= 0 && rank < base;
		}
		if (system)
			return guard_environment > GUARD_ENV_DEVELOPMENT &&
				environment_from_auto_file();
		return base > GUARD_ENV_DEVELOPMENT;
	}
	if (pg_strcasecmp(name, "guard.max_rows") == 0)
	{
		/* A higher limit, or none (0), lets more through. */
		long		base = old_value ? strtol(old_value, NULL, 10) : guard_max_rows;
		long		limit = new_value ? strtol(new_value, NULL, 10) : 0;

		return base > 0 && (limit == 0 || limit > base);
	}
	return false;
}

static GuardTarget *
setting_target(const char *name, bool weakening)
{
	GuardTarget *target = (GuardTarget *) palloc0(sizeof(GuardTarget));

	target->kind = GUARD_TARGET_SETTING;
	target->action = weakening ? GUARD_ACTION_WEAKEN : GUARD_ACTION_CHANGE;
	target->name = pstrdup(name);
	return target;
}

/*
 * Describe a SET or RESET of a guard.* setting at one level (dbid and
 * roleid as pg_db_role_setting keys them; system for ALTER SYSTEM).
 * Returns false when no guard setting changes.
 */
static bool
describe_change(VariableSetStmt *set, bool system, Oid dbid, Oid roleid,
				GuardAttempt *attempt)
{
	const char *name = set->name;
	bool		weakening;

	/* RESET ALL at a database or role level removes what is stored there. */
	if (set->kind == VAR_RESET_ALL && !system)
	{
		int			i;

		for (i = 0; i < lengthof(stored_settings); i++)
		{
			char	   *old = stored_value(dbid, roleid, stored_settings[i]);

			if (old == NULL)
				continue;
			weakening = weakens(stored_settings[i], old, NULL, false);
			attempt->targets = lappend(attempt->targets,
									   setting_target(stored_settings[i], weakening));
			attempt->old_value = attempt->old_value ?
				psprintf("%s, %s=%s", attempt->old_value, stored_settings[i], old) :
				psprintf("%s=%s", stored_settings[i], old);
			if (weakening)
				attempt->detail = "The statement would remove a stored guard setting.";
		}
		return attempt->targets != NIL;
	}
	if (set->kind == VAR_RESET_ALL)
		name = "guard.environment";

	if (name == NULL || pg_strncasecmp(name, "guard.", 6) != 0)
		return false;

	attempt->new_value = (set->kind == VAR_SET_VALUE) ?
		ExtractSetVariableArgs(set) : NULL;

	/*
	 * A value that is no environment name means production when it comes
	 * from the configuration file; typed in ALTER SYSTEM, it is an error.
	 */
	if (system && attempt->new_value != NULL &&
		pg_strcasecmp(name, "guard.environment") == 0 &&
		environment_rank(attempt->new_value) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for parameter \"%s\": \"%s\"",
						name, attempt->new_value),
				 errhint("Valid values are \"development\", \"staging\" and \"production\".")));
	attempt->old_value = system ?
		GetConfigOptionByName(name, NULL, true) :
		stored_value(dbid, roleid, name);

	weakening = weakens(name, system ? NULL : attempt->old_value,
						attempt->new_value, system);
	/* ALTER SYSTEM RESET ALL is guard's only if it could lower it. */
	if (set->kind == VAR_RESET_ALL && !weakening)
		return false;

	attempt->targets = list_make1(setting_target(name, weakening));
	if (weakening)
		attempt->detail = psprintf("The statement would weaken it from \"%s\" to \"%s\".",
								   attempt->old_value ? attempt->old_value :
								   GetConfigOption(name, false, false),
								   attempt->new_value ? attempt->new_value : "the configuration's value");
	return true;
}

/*
 * Describe a statement that changes one of guard's settings.  Returns
 * false for any other statement.
 */
bool
guard_describe_setting_change(Node *parsetree, GuardAttempt *attempt)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterSystemStmt:
			return describe_change(((AlterSystemStmt *) parsetree)->setstmt,
								   true, InvalidOid, InvalidOid, attempt);
		case T_AlterDatabaseSetStmt:
			{
				AlterDatabaseSetStmt *stmt = (AlterDatabaseSetStmt *) parsetree;

				return describe_change(stmt->setstmt, false,
									   get_database_oid(stmt->dbname, true),
									   InvalidOid, attempt);
			}
		case T_AlterRoleSetStmt:
			{
				AlterRoleSetStmt *stmt = (AlterRoleSetStmt *) parsetree;
				Oid			roleid = stmt->role ? get_rolespec_oid(stmt->role, true) : InvalidOid;
				Oid			dbid = stmt->database ? get_database_oid(stmt->database, true) : InvalidOid;

				return describe_change(stmt->setstmt, false, dbid, roleid,
									   attempt);
			}
		default:
			return false;
	}
}
