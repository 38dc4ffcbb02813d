/*-------------------------------------------------------------------------
 *
 * config.c
 *		Describing changes to guard's own settings: ALTER SYSTEM, ALTER
 *		DATABASE and ALTER ROLE ... SET or RESET of a guard.* setting.
 *
 * A setting is stored at several levels, each overriding the one below:
 * ALTER ROLE r IN DATABASE d, ALTER ROLE r, ALTER DATABASE d, ALTER ROLE
 * ALL, and the server's configuration files (ALTER SYSTEM writes
 * postgresql.auto.conf, which overrides postgresql.conf).  A change at one
 * level is described by what it does to every set of sessions it reaches:
 * the value in force for them before it and after it, worked out from the
 * catalog and the files, never from this session's own value, which may
 * come from another level altogether.  policy.c judges each such pair;
 * nothing here decides whether a change weakens protection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_db_role_setting.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "compat.h"
#include "guard.h"

/* One value stored by ALTER DATABASE/ROLE (0 for "every"). */
typedef struct StoredValue
{
	Oid			dbid;
	Oid			roleid;
	char	   *value;
} StoredValue;

/* Every value stored for a setting in pg_db_role_setting, at every level. */
static List *
stored_values(const char *name)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *values = NIL;
	size_t		namelen = strlen(name);

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_db_role_setting form = (Form_pg_db_role_setting) GETSTRUCT(tuple);
		bool		isnull;
		Datum		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
										  RelationGetDescr(rel), &isnull);
		Datum	   *items;
		int			nitems;
		int			i;

		if (isnull)
			continue;
		deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false,
						  TYPALIGN_INT, &items, NULL, &nitems);
		for (i = 0; i < nitems; i++)
		{
			char	   *item = TextDatumGetCString(items[i]);

			if (pg_strncasecmp(item, name, namelen) == 0 && item[namelen] == '=')
			{
				StoredValue *stored = (StoredValue *) palloc(sizeof(StoredValue));

				stored->dbid = form->setdatabase;
				stored->roleid = form->setrole;
				stored->value = pstrdup(item + namelen + 1);
				values = lappend(values, stored);
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return values;
}

static const char *
stored_at(List *values, Oid dbid, Oid roleid)
{
	ListCell   *lc;

	foreach(lc, values)
	{
		StoredValue *stored = (StoredValue *) lfirst(lc);

		if (stored->dbid == dbid && stored->roleid == roleid)
			return stored->value;
	}
	return NULL;
}

/* The values with the one at (dbid, roleid) replaced by value (NULL: removed). */
static List *
with_value_at(List *values, Oid dbid, Oid roleid, const char *value)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, values)
	{
		StoredValue *stored = (StoredValue *) lfirst(lc);

		if (stored->dbid != dbid || stored->roleid != roleid)
			result = lappend(result, stored);
	}
	if (value != NULL)
	{
		StoredValue *stored = (StoredValue *) palloc(sizeof(StoredValue));

		stored->dbid = dbid;
		stored->roleid = roleid;
		stored->value = pstrdup(value);
		result = lappend(result, stored);
	}
	return result;
}

/*
 * The value in force for sessions of role roleid in database dbid (either
 * InvalidOid: one with nothing stored of its own), as PostgreSQL applies
 * the levels at connection time.
 */
static const char *
value_in_force(List *values, const char *server, Oid dbid, Oid roleid)
{
	const char *value = NULL;

	if (OidIsValid(dbid) && OidIsValid(roleid))
		value = stored_at(values, dbid, roleid);
	if (value == NULL && OidIsValid(roleid))
		value = stored_at(values, InvalidOid, roleid);
	if (value == NULL && OidIsValid(dbid))
		value = stored_at(values, dbid, InvalidOid);
	if (value == NULL)
		value = stored_at(values, InvalidOid, InvalidOid);
	return value ? value : server;
}

/*
 * What the configuration files set a setting to (the last line wins), or
 * its built-in default; without_auto leaves postgresql.auto.conf out, as
 * ALTER SYSTEM RESET does.  Read as the bootstrap superuser, since
 * pg_file_settings is not for everyone; a failure to read them is an
 * error, not a guess.
 */
static char *
server_value(const char *name, bool without_auto)
{
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[2] = {TEXTOID, BOOLOID};
	Datum		args[2];
	MemoryContext cxt = CurrentMemoryContext;
	char	   *value = NULL;

	args[0] = CStringGetTextDatum(name);
	args[1] = BoolGetDatum(without_auto);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT coalesce("
							  "(SELECT f.setting FROM pg_catalog.pg_file_settings f"
							  "  WHERE f.name = $1 AND f.error IS NULL"
							  "  AND NOT ($2 AND f.sourcefile LIKE '%/" PG_AUTOCONF_FILENAME "')"
							  "  ORDER BY f.seqno DESC LIMIT 1),"
							  " (SELECT s.boot_val FROM pg_catalog.pg_settings s WHERE s.name = $1))",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the configuration files' value of \"%s\"", name);
	value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (value != NULL)
		value = MemoryContextStrdup(cxt, value);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	return value;
}

static char *
database_words(Oid dbid)
{
	char	   *name = get_database_name(dbid);

	return psprintf("database \"%s\"", name ? name : "?");
}

static char *
role_words(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return psprintf("role \"%s\"", name ? name : "?");
}

/* Whom the sessions of role roleid in database dbid are, in words. */
static char *
scope_words(Oid dbid, Oid roleid)
{
	if (OidIsValid(dbid) && OidIsValid(roleid))
		return psprintf("%s in %s", role_words(roleid), database_words(dbid));
	if (OidIsValid(roleid))
		return role_words(roleid);
	if (OidIsValid(dbid))
		return database_words(dbid);
	return "the whole server";
}

/*
 * The changes a statement makes to one setting, scope by scope: for each
 * set of sessions that the level (dbid, roleid) reaches (every one, for
 * ALTER SYSTEM), what is in force before and what would be after.  The
 * sets worth looking at are those of the databases and roles that store a
 * value of their own, and of any other database and role.
 */
static List *
describe_scopes(const char *name, bool system, Oid dbid, Oid roleid,
				const char *new_value)
{
	List	   *before = stored_values(name);
	List	   *after = before;
	char	   *server_before = server_value(name, false);
	char	   *server_after = server_before;
	List	   *dbs = list_make1_oid(InvalidOid);
	List	   *roles = list_make1_oid(InvalidOid);
	List	   *changes = NIL;
	ListCell   *dc;
	ListCell   *lc;

	if (system)
		server_after = new_value ? pstrdup(new_value) : server_value(name, true);
	else
		after = with_value_at(before, dbid, roleid, new_value);

	if (OidIsValid(dbid))
		dbs = list_make1_oid(dbid);
	if (OidIsValid(roleid))
		roles = list_make1_oid(roleid);
	foreach(lc, before)
	{
		StoredValue *stored = (StoredValue *) lfirst(lc);

		if (!OidIsValid(dbid) && OidIsValid(stored->dbid))
			dbs = list_append_unique_oid(dbs, stored->dbid);
		if (!OidIsValid(roleid) && OidIsValid(stored->roleid))
			roles = list_append_unique_oid(roles, stored->roleid);
	}

	foreach(dc, dbs)
	{
		ListCell   *rc;

		foreach(rc, roles)
		{
			GuardChange *change = (GuardChange *) palloc0(sizeof(GuardChange));

			change->before = value_in_force(before, server_before,
											lfirst_oid(dc), lfirst_oid(rc));
			change->after = value_in_force(after, server_after,
										   lfirst_oid(dc), lfirst_oid(rc));
			if (strcmp(change->before, change->after) == 0)
				continue;
			change->scope = scope_words(lfirst_oid(dc), lfirst_oid(rc));
			changes = lappend(changes, change);
		}
	}
	return changes;
}

static GuardTarget *
setting_target(const char *name, List *changes)
{
	GuardTarget *target = (GuardTarget *) palloc0(sizeof(GuardTarget));

	target->kind = GUARD_TARGET_SETTING;
	target->action = GUARD_ACTION_CHANGE;
	target->name = pstrdup(name);
	target->changes = changes;
	return target;
}

static void
append_value(const char **list, const char *name, const char *value)
{
	char	   *item = psprintf("%s=%s", name, value);

	*list = *list ? psprintf("%s, %s", *list, item) : item;
}

/* Describe what RESET ALL does to one setting, if anything. */
static void
describe_reset(const char *setting, bool system, Oid dbid, Oid roleid,
			   GuardAttempt *attempt)
{
	const char *old;
	List	   *changes;

	old = system ? NULL : stored_at(stored_values(setting), dbid, roleid);
	changes = describe_scopes(setting, system, dbid, roleid, NULL);
	if (old == NULL && changes == NIL)
		return;
	attempt->targets = lappend(attempt->targets, setting_target(setting, changes));
	if (old != NULL)
		append_value(&attempt->old_value, setting, old);
}

/*
 * Describe a SET or RESET of guard.* settings at one level (dbid and
 * roleid as pg_db_role_setting keys them; system for ALTER SYSTEM), or an
 * ALTER SYSTEM of shared_preload_libraries, which may take guard out.
 * Returns false when no guard setting changes.
 */
static bool
describe_change(VariableSetStmt *set, bool system, Oid dbid, Oid roleid,
				GuardAttempt *attempt)
{
	const char *name = set->name;
	int			i;

	/*
	 * RESET ALL removes every guard setting stored at that level; ALTER
	 * SYSTEM RESET ALL also the list that may load guard.
	 */
	if (set->kind == VAR_RESET_ALL)
	{
		const char *setting;

		for (i = 0; (setting = guard_protected_setting(i)) != NULL; i++)
			describe_reset(setting, system, dbid, roleid, attempt);
		if (system)
			describe_reset(GUARD_PRELOAD_SETTING, system, dbid, roleid, attempt);
		return attempt->targets != NIL;
	}

	if (name == NULL ||
		(pg_strncasecmp(name, "guard.", 6) != 0 &&
		 !(system && pg_strcasecmp(name, GUARD_PRELOAD_SETTING) == 0)))
		return false;

	attempt->new_value = (set->kind == VAR_SET_VALUE) ?
		ExtractSetVariableArgs(set) : NULL;

	/*
	 * A value that is no environment name means production when it comes
	 * from the configuration file; typed in ALTER SYSTEM, it is an error.
	 */
	if (system && attempt->new_value != NULL &&
		pg_strcasecmp(name, "guard.environment") == 0 &&
		guard_parse_environment(attempt->new_value) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for parameter \"%s\": \"%s\"",
						name, attempt->new_value),
				 errhint("Valid values are \"development\", \"staging\" and \"production\".")));

	if (!guard_setting_protected(name) &&
		pg_strcasecmp(name, GUARD_PRELOAD_SETTING) != 0)
	{
		attempt->old_value = system ?
			GetConfigOptionByName(name, NULL, true) :
			stored_at(stored_values(name), dbid, roleid);
		attempt->targets = list_make1(setting_target(name, NIL));
		return true;
	}

	attempt->old_value = system ? server_value(name, false) :
		stored_at(stored_values(name), dbid, roleid);
	attempt->targets = list_make1(setting_target(name,
												 describe_scopes(name, system, dbid, roleid,
																 attempt->new_value)));
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
				Oid			dbid = get_database_oid(stmt->dbname, true);

				/* PostgreSQL says that the database does not exist. */
				if (!OidIsValid(dbid))
					return false;
				return describe_change(stmt->setstmt, false, dbid, InvalidOid,
									   attempt);
			}
		case T_AlterRoleSetStmt:
			{
				AlterRoleSetStmt *stmt = (AlterRoleSetStmt *) parsetree;
				Oid			roleid = stmt->role ? get_rolespec_oid(stmt->role, true) : InvalidOid;
				Oid			dbid = stmt->database ? get_database_oid(stmt->database, true) : InvalidOid;

				if ((stmt->role && !OidIsValid(roleid)) ||
					(stmt->database && !OidIsValid(dbid)))
					return false;
				return describe_change(stmt->setstmt, false, dbid, roleid,
									   attempt);
			}
		default:
			return false;
	}
}
