/*-------------------------------------------------------------------------
 *
 * recyclebin.c
 *		Undo: a table that an overridden DROP TABLE lets through is kept, not
 *		destroyed, and guard.undrop puts it back as it was.
 *
 * A kept table moves, whole, into a schema of its own, guard_bin_<oid>
 * (its OID when it was dropped): its rows, columns, indexes, constraints,
 * defaults, owned sequences and their values, triggers, policies, grants,
 * comments and row type move with it (ALTER TABLE ... SET SCHEMA does the
 * same), and so do the partitions of a partitioned table.  Nothing is
 * copied: the drop costs what a SET SCHEMA costs, whatever the table's
 * size, and its space stays in use until the entry is purged.  The schema's
 * comment holds, as JSON, where each relation came from, when, who, the
 * override's reason and audit row, and when the entry expires;
 * guard.recyclebin reads it.  A schema is ordinary catalog data: it
 * replicates, survives a restart and a promotion, and pg_dump keeps it.
 *
 * Kept: a DROP TABLE that the override lets through in production (and, as
 * a rehearsal, one that staging warns about), while guard.recycle_retention
 * is not 0, of tables that nothing outside them depends on.  A drop that
 * would take other objects with it (views, foreign keys of other tables,
 * inheritance children; CASCADE), a partition or an inheritance child
 * dropped alone, DROP SCHEMA, DROP OWNED, DROP EXTENSION and TRUNCATE are
 * not kept yet: they run as before, with a WARNING that says so.
 *
 * Entries expire after guard.recycle_retention; expired entries of a
 * database are purged when the next table is kept there, and by
 * guard.purge.  Every keep, undo and purge is an audit row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/pg_authid.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "commands/comment.h"
#include "commands/dbcommands.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guard.h"

#define BIN_PREFIX "guard_bin_"

/* Settings (guard.c defines them). */
int			guard_recycle_retention = 7 * 24 * 60;	/* minutes; 0 keeps nothing */
int			guard_recycle_max_size = 0;	/* MB; 0: no cap */

/* A relation of a kept table: the table itself or one of its partitions. */
typedef struct BinMember
{
	Oid			relid;
	char	   *schema;			/* where it was */
	char	   *name;
} BinMember;

static bool
is_bin_schema(const char *nspname)
{
	return strncmp(nspname, BIN_PREFIX, strlen(BIN_PREFIX)) == 0;
}

/* Whether a list of ObjectAddress * holds addr (its whole object). */
static bool
address_in(List *addresses, const ObjectAddress *addr)
{
	ListCell   *lc;

	foreach(lc, addresses)
	{
		ObjectAddress *have = (ObjectAddress *) lfirst(lc);

		if (have->classId == addr->classId && have->objectId == addr->objectId)
			return true;
	}
	return false;
}

/*
 * Whether something outside members depends on them, or on what goes with
 * them (indexes, constraints, sequences, row types, ...): what a DROP
 * without CASCADE would refuse to drop, and one with CASCADE would drop too.
 * The objects that go with the members are followed through their
 * automatic, internal and partition dependencies, as the drop would.
 */
static bool
has_outside_dependents(List *members)
{
	List	   *set = NIL;		/* of ObjectAddress *, what would go */
	List	   *normal = NIL;	/* of ObjectAddress *, what depends on it */
	Relation	depRel = table_open(DependRelationId, AccessShareLock);
	ListCell   *lc;
	int			i;

	foreach(lc, members)
	{
		ObjectAddress *addr = palloc(sizeof(ObjectAddress));

		ObjectAddressSet(*addr, RelationRelationId, ((BinMember *) lfirst(lc))->relid);
		set = lappend(set, addr);
	}

	/* set grows as it is walked. */
	for (i = 0; i < list_length(set); i++)
	{
		ObjectAddress *ref = (ObjectAddress *) list_nth(set, i);
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(ref->classId));
		ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(ref->objectId));
		scan = systable_beginscan(depRel, DependReferenceIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
			ObjectAddress *addr = palloc(sizeof(ObjectAddress));

			addr->classId = dep->classid;
			addr->objectId = dep->objid;
			addr->objectSubId = 0;
			if (dep->deptype == DEPENDENCY_NORMAL)
			{
				normal = lappend(normal, addr);
				continue;
			}
			if (dep->deptype != DEPENDENCY_AUTO &&
				dep->deptype != DEPENDENCY_INTERNAL &&
				dep->deptype != DEPENDENCY_PARTITION_PRI &&
				dep->deptype != DEPENDENCY_PARTITION_SEC)
				continue;
			if (!address_in(set, addr))
				set = lappend(set, addr);
		}
		systable_endscan(scan);
	}
	table_close(depRel, AccessShareLock);

	foreach(lc, normal)
	{
		if (!address_in(set, (ObjectAddress *) lfirst(lc)))
			return true;
	}
	return false;
}

/* The JSON text of a kept table's entry: the comment of its schema. */
static char *
entry_json(const char *command, List *members, const GuardDecision *decision,
		   int64 audit_id, TimestampTz at, TimestampTz expires)
{
	StringInfoData buf;
	BinMember  *top = (BinMember *) linitial(members);
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"table\": ");
	escape_json(&buf, quote_qualified_identifier(top->schema, top->name));
	appendStringInfoString(&buf, ", \"relname\": ");
	escape_json(&buf, top->name);
	appendStringInfoString(&buf, ", \"command\": ");
	escape_json(&buf, command);
	appendStringInfoString(&buf, ", \"at\": ");
	escape_json(&buf, timestamptz_to_str(at));
	appendStringInfoString(&buf, ", \"expires\": ");
	escape_json(&buf, timestamptz_to_str(expires));
	appendStringInfoString(&buf, ", \"role\": ");
	escape_json(&buf, GetUserNameFromId(GetSessionUserId(), false));
	appendStringInfoString(&buf, ", \"reason\": ");
	if (decision->reason != NULL)
		escape_json(&buf, decision->reason);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfo(&buf, ", \"environment\": \"%s\"",
					 guard_environment_name(decision->environment));
	if (audit_id > 0)
		appendStringInfo(&buf, ", \"audit_id\": " INT64_FORMAT, audit_id);
	appendStringInfoString(&buf, ", \"members\": [");
	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);

		appendStringInfoString(&buf, foreach_current_index(lc) > 0 ? ", {\"schema\": " : "{\"schema\": ");
		escape_json(&buf, m->schema);
		appendStringInfoString(&buf, ", \"name\": ");
		escape_json(&buf, m->name);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

/* A text field of an entry's JSON, or NULL. */
static char *
entry_field(const char *json, const char *key)
{
	Jsonb	   *jb;
	JsonbValue *val;

	if (json == NULL)
		return NULL;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	val = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);
	if (val == NULL || val->type != jbvString)
		return NULL;
	return pnstrdup(val->val.string.val, val->val.string.len);
}

static char *
schema_comment(Oid nspid)
{
	return GetComment(nspid, NamespaceRelationId, 0);
}

/* A kept table, described under the name it had (for purges). */
static GuardTarget *
kept_target(Oid relid, const char *json)
{
	GuardTarget *target = guard_target_relation(relid, 0, GUARD_ACTION_DROP);
	char	   *table = entry_field(json, "table");

	if (target != NULL && table != NULL)
		target->name = table;
	return target;
}

/* Drop a bin schema and what it holds. */
static void
drop_bin(Oid nspid)
{
	ObjectAddress object;

	ObjectAddressSet(object, NamespaceRelationId, nspid);
	performDeletion(&object, DROP_CASCADE,
					PERFORM_DELETION_INTERNAL | PERFORM_DELETION_QUIETLY);
	CommandCounterIncrement();
}

/* The kept table of a bin schema: the relation named first in its entry. */
static Oid
bin_table(Oid nspid, const char *json)
{
	char	   *relname = entry_field(json, "relname");

	return relname == NULL ? InvalidOid : get_relname_relid(relname, nspid);
}

/* Purge the expired entries of this database. */
static void
purge_expired(void)
{
	Relation	rel = table_open(NamespaceRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	List	   *expired = NIL;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_namespace nsp = (Form_pg_namespace) GETSTRUCT(tup);
		char	   *expires;

		if (!is_bin_schema(NameStr(nsp->nspname)))
			continue;
		expires = entry_field(schema_comment(nsp->oid), "expires");
		if (expires != NULL &&
			DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
													CStringGetDatum(expires),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1))) <= now)
			expired = lappend_oid(expired, nsp->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	foreach(lc, expired)
	{
		Oid			nspid = lfirst_oid(lc);
		char	   *json = schema_comment(nspid);
		Oid			relid = bin_table(nspid, json);

		GuardTarget *target = OidIsValid(relid) ? kept_target(relid, json) : NULL;

		if (target != NULL)
			guard_record_allowed("guard.purge", target, debug_query_string,
								 psprintf("expired: kept until %s",
										  entry_field(json, "expires")));
		drop_bin(nspid);
	}
}

/* The space the recycle bin of this database takes, in bytes. */
static int64
bin_size(void)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	int64		size = 0;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
		char	   *nspname;

		if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_MATVIEW)
			continue;
		nspname = get_namespace_name(cls->relnamespace);
		if (nspname != NULL && is_bin_schema(nspname))
			size += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
													  ObjectIdGetDatum(cls->oid)));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return size;
}

/*
 * The relations of a DROP TABLE that can be kept: each named table, then
 * its partitions.  NIL when the statement is not one the bin keeps; then
 * *why says why, when it is worth a WARNING.
 */
static List *
keepable(DropStmt *stmt, const char **why)
{
	List	   *members = NIL;
	ListCell   *lc;

	*why = NULL;
	foreach(lc, stmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		char		relkind;
		ListCell   *pc;
		List	   *tables;

		if (!OidIsValid(relid))
		{
			if (stmt->missing_ok)
				continue;
			return NIL;			/* DROP TABLE says it does not exist */
		}
		relkind = get_rel_relkind(relid);
		if ((relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE) ||
			get_rel_persistence(relid) == RELPERSISTENCE_TEMP ||
			!guard_owns_relation(relid) ||
			IsCatalogRelationOid(relid) ||
			IsCatalogNamespace(get_rel_namespace(relid)) ||
			OidIsValid(getExtensionOfObject(RelationRelationId, relid)) ||
			is_bin_schema(get_namespace_name(get_rel_namespace(relid))))
			return NIL;			/* DROP TABLE says what is wrong, or drops it */
		LockRelationOid(relid, AccessExclusiveLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			return NIL;			/* dropped meanwhile: DROP TABLE says so */
		if (get_rel_relispartition(relid) || has_superclass(relid))
		{
			*why = "a partition or an inheritance child dropped alone is not kept yet";
			return NIL;
		}
		tables = relkind == RELKIND_PARTITIONED_TABLE ?
			find_all_inheritors(relid, AccessExclusiveLock, NULL) :
			list_make1_oid(relid);
		foreach(pc, tables)
		{
			BinMember  *m = palloc(sizeof(BinMember));

			m->relid = lfirst_oid(pc);
			m->schema = get_namespace_name(get_rel_namespace(m->relid));
			m->name = get_rel_name(m->relid);
			members = lappend(members, m);
		}
	}
	if (members != NIL && has_outside_dependents(members))
	{
		*why = stmt->behavior == DROP_CASCADE ?
			"a drop that takes other objects with it (CASCADE) is not kept yet" :
			NULL;
		return NIL;
	}
	return members;
}

/* Move one named table and its partitions into their bin schema. */
static void
keep_table(List *members, const GuardAttempt *attempt,
		   const GuardDecision *decision, int64 audit_id)
{
	BinMember  *top = (BinMember *) linitial(members);
	char		nspname[NAMEDATALEN];
	Oid			nspid;
	ListCell   *lc;
	TimestampTz at = GetCurrentTimestamp();
	TimestampTz expires = TimestampTzPlusMilliseconds(at, (int64) guard_recycle_retention * 60 * 1000);

	/* Described where it was, for the audit row. */
	GuardTarget *target = guard_target_relation(top->relid, 0, GUARD_ACTION_DROP);

	snprintf(nspname, sizeof(nspname), BIN_PREFIX "%u", top->relid);
	nspid = NamespaceCreate(nspname, BOOTSTRAP_SUPERUSERID, false);
	CommandCounterIncrement();
	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		Relation	rel = relation_open(m->relid, NoLock);
		ObjectAddresses *moved = new_object_addresses();

		AlterTableNamespaceInternal(rel, RelationGetNamespace(rel), nspid, moved);
		free_object_addresses(moved);
		relation_close(rel, NoLock);
		CommandCounterIncrement();
	}
	CreateComments(nspid, NamespaceRelationId, 0,
				   entry_json(attempt->command, members, decision, audit_id,
							  at, expires));
	CommandCounterIncrement();

	if (target != NULL)
		guard_record_allowed("guard.keep", target, attempt->statement,
							 audit_id > 0 ?
							 psprintf("kept as %s until %s, for the statement recorded as id " INT64_FORMAT,
									  nspname, timestamptz_to_str(expires), audit_id) :
							 psprintf("kept as %s until %s", nspname,
									  timestamptz_to_str(expires)));
}

/*
 * For guard_ProcessUtility, once the policy has decided: keep the tables of
 * an overridden DROP TABLE instead of dropping them.  Returns true when it
 * did, and recorded the statement; false when the statement must run.
 */
bool
guard_recycle_drop(Node *parsetree, const GuardAttempt *attempt,
				   const GuardDecision *decision)
{
	DropStmt   *stmt = (DropStmt *) parsetree;
	List	   *members;
	const char *why;
	ListCell   *lc;
	int64		audit_id;

	if (guard_recycle_retention <= 0 ||
		!(decision->verdict == GUARD_VERDICT_OVERRIDDEN ||
		  (decision->verdict == GUARD_VERDICT_WARNED &&
		   decision->environment == GUARD_ENV_STAGING)))
		return false;

	if (IsA(parsetree, DropStmt) && stmt->removeType == OBJECT_TABLE)
		members = keepable(stmt, &why);
	else
	{
		members = NIL;
		why = NULL;
		foreach(lc, decision->targets)
		{
			GuardTarget *target = (GuardTarget *) lfirst(lc);

			if (target->kind == GUARD_TARGET_TABLE &&
				(target->action == GUARD_ACTION_DROP ||
				 target->action == GUARD_ACTION_TRUNCATE))
				why = "only the tables of a DROP TABLE are kept yet";
		}
	}
	if (members == NIL)
	{
		if (why != NULL)
			ereport(WARNING,
					(errmsg("guard: the tables of this %s are not kept in the recycle bin",
							attempt->command),
					 errdetail("It runs, and cannot be undone: %s.", why)));
		return false;
	}

	if (guard_recycle_max_size > 0)
	{
		int64		size = bin_size();
		int64		cap = (int64) guard_recycle_max_size * 1024 * 1024;

		foreach(lc, members)
			size += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
													  ObjectIdGetDatum(((BinMember *) lfirst(lc))->relid)));
		if (size > cap)
		{
			GuardDecision full = *decision;

			full.detail = psprintf("The recycle bin of this database would hold %s, more than \"guard.recycle_max_size\" (%s), and a table the override lets through is kept, not destroyed.",
								   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(size)))),
								   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(cap)))));
			if (decision->environment == GUARD_ENV_PRODUCTION)
			{
				full.verdict = GUARD_VERDICT_BLOCKED;
				full.hint = "Make room with guard.purge (SELECT * FROM guard.recyclebin lists what is kept), or raise \"guard.recycle_max_size\".";
				guard_act(attempt, &full);	/* raises */
			}
			ereport(WARNING,
					(errmsg("guard: the tables of this %s are not kept in the recycle bin",
							attempt->command),
					 errdetail("%s", full.detail)));
			return false;
		}
	}

	purge_expired();

	/* The statement's own row first: the keep points at it. */
	guard_enforce(attempt);
	audit_id = guard_last_audit_id;

	/* One bin per table named; its partitions follow it. */
	while (members != NIL)
	{
		BinMember  *top = (BinMember *) linitial(members);
		List	   *group = list_make1(top);

		members = list_delete_first(members);
		while (members != NIL &&
			   get_rel_relispartition(((BinMember *) linitial(members))->relid))
		{
			group = lappend(group, linitial(members));
			members = list_delete_first(members);
		}
		keep_table(group, attempt, decision, audit_id);
	}
	return true;
}

/*
 * The bin schema that keeps a table, by the table's name as it was
 * ('public.score', the most recent if it was dropped more than once) or by
 * the bin schema's name.
 */
static Oid
find_bin(const char *name)
{
	Relation	rel = table_open(NamespaceRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	Oid			found = InvalidOid;
	char	   *found_at = NULL;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_namespace nsp = (Form_pg_namespace) GETSTRUCT(tup);
		char	   *json;
		char	   *table;
		char	   *at;

		if (!is_bin_schema(NameStr(nsp->nspname)))
			continue;
		if (strcmp(NameStr(nsp->nspname), name) == 0)
		{
			found = nsp->oid;
			break;
		}
		json = schema_comment(nsp->oid);
		table = entry_field(json, "table");
		at = entry_field(json, "at");
		if (table == NULL || at == NULL || strcmp(table, name) != 0)
			continue;
		/* timestamptz_to_str's ISO text sorts by time within a zone. */
		if (found_at == NULL || strcmp(at, found_at) > 0)
		{
			found = nsp->oid;
			found_at = at;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("guard: \"%s\" is not in the recycle bin", name),
				 errhint("SELECT * FROM guard.recyclebin lists what is kept, by the table's qualified name.")));
	return found;
}

/* The members of an entry, as recorded: schema and name of each. */
static List *
entry_members(const char *json)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *members = NIL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	uint64		i;

	values[0] = CStringGetTextDatum(json);
	SPI_connect();
	if (SPI_execute_with_args("SELECT m->>'schema', m->>'name'"
							  " FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb->'members') m",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "guard: could not read a recycle bin entry");
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);
		BinMember  *m = palloc(sizeof(BinMember));

		m->relid = InvalidOid;
		m->schema = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		m->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		members = lappend(members, m);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return members;
}

/*
 * guard.undrop(name, new_name DEFAULT NULL): put a kept table back where it
 * was, under its name or new_name, with its partitions.  Returns the table.
 */
PG_FUNCTION_INFO_V1(guard_undrop);

Datum
guard_undrop(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *new_name = PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1));
	Oid			nspid = find_bin(name);
	char	   *json = schema_comment(nspid);
	List	   *members = entry_members(json);
	Oid			top_relid = InvalidOid;
	GuardTarget *target;
	ListCell   *lc;

	if (members == NIL)
		elog(ERROR, "guard: the recycle bin entry %s names no table",
			 get_namespace_name(nspid));

	/* Check everything before moving anything. */
	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		bool		top = foreach_current_index(lc) == 0;
		const char *to = top && new_name != NULL ? new_name : m->name;
		Oid			target = get_namespace_oid(m->schema, true);

		m->relid = get_relname_relid(m->name, nspid);
		if (!OidIsValid(m->relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("guard: the recycle bin entry %s lacks \"%s\"",
							get_namespace_name(nspid), m->name)));
		LockRelationOid(m->relid, AccessExclusiveLock);
		/* Put back by another session while the lock was awaited. */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(m->relid)) ||
			get_rel_namespace(m->relid) != nspid)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("guard: \"%s\" is not in the recycle bin any more", name),
					 errdetail("Another session put it back or purged it meanwhile.")));
		if (top)
		{
			top_relid = m->relid;
			if (!guard_owns_relation(m->relid))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("guard: only the owner of \"%s\" or a superuser may undrop it",
								name)));
		}
		if (!OidIsValid(target))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_SCHEMA_NAME),
					 errmsg("guard: cannot undrop \"%s\": schema \"%s\" no longer exists",
							name, m->schema),
					 errhint("Create the schema, then undrop again.")));
		if (OidIsValid(get_relname_relid(to, target)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("guard: cannot undrop \"%s\": relation \"%s\" already exists",
							name, quote_qualified_identifier(m->schema, to)),
					 top ?
					 errhint("Put it back under another name: SELECT guard.undrop(%s, 'new_name').",
							 quote_literal_cstr(name)) : 0));
	}

	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		Relation	rel;
		ObjectAddresses *moved = new_object_addresses();

		if (foreach_current_index(lc) == 0 && new_name != NULL)
		{
			RenameRelationInternal(m->relid, new_name, false, false);
			CommandCounterIncrement();
		}
		rel = relation_open(m->relid, NoLock);
		AlterTableNamespaceInternal(rel, nspid, get_namespace_oid(m->schema, false), moved);
		free_object_addresses(moved);
		relation_close(rel, NoLock);
		CommandCounterIncrement();
	}

	target = guard_target_relation(top_relid, 0, GUARD_ACTION_DROP);
	if (target != NULL)
		guard_record_allowed("guard.undrop", target, debug_query_string,
							 psprintf("put back from %s, where it was kept since %s",
									  get_namespace_name(nspid), entry_field(json, "at")));
	drop_bin(nspid);
	PG_RETURN_OID(top_relid);
}

/*
 * guard.purge(name): destroy a kept table for good.  Superusers only (the
 * SQL function's grants); in production it needs the override, like the
 * DROP TABLE it finishes.
 */
PG_FUNCTION_INFO_V1(guard_purge);

Datum
guard_purge(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			nspid = find_bin(name);
	char	   *json = schema_comment(nspid);
	Oid			relid = bin_table(nspid, json);
	GuardTarget *target;
	GuardAttempt attempt;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("guard: only a superuser may purge the recycle bin")));
	if (OidIsValid(relid))
	{
		LockRelationOid(relid, AccessExclusiveLock);
		target = kept_target(relid, json);
		if (target != NULL)
		{
			guard_target_check_rows(target, NoLock);
			memset(&attempt, 0, sizeof(attempt));
			attempt.command = "guard.purge";
			attempt.statement = debug_query_string;
			attempt.targets = list_make1(target);
			guard_enforce(&attempt);
		}
	}
	drop_bin(nspid);
	PG_RETURN_VOID();
}
