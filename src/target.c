/*-------------------------------------------------------------------------
 *
 * target.c
 *		Describing what a statement would destroy.
 *
 * The hooks name what a statement would destroy through these functions,
 * which resolve everything through the catalog and capture, at the moment
 * of description, the facts the policy will need (temporary, created in
 * this transaction): by the time a cascading DROP ends, the objects it
 * removed can no longer be looked up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "guard.h"

/*
 * Whether a relation holds no row that snapshot sees: a scan that stops at
 * the first row.  A partitioned table holds what its partitions hold; a foreign
 * table's rows are not known here, so it counts as holding some.
 */
static bool
relation_holds_no_row(Oid relid, Snapshot snapshot, LOCKMODE lockmode)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		empty = false;

	if (!RelationIsValid(rel))
		return false;
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		List	   *parts = find_all_inheritors(relid, lockmode, NULL);
		ListCell   *lc;

		empty = true;
		foreach(lc, parts)
		{
			if (lfirst_oid(lc) != relid &&
				!relation_holds_no_row(lfirst_oid(lc), snapshot, NoLock))
			{
				empty = false;
				break;
			}
		}
	}
	else if (rel->rd_rel->relkind == RELKIND_SEQUENCE)
	{
		/* A sequence never called holds no value of its own yet. */
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		TableScanDesc scan = guard_table_beginscan(rel, snapshot);
		bool		isnull;

		empty = true;
		if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
			empty = !DatumGetBool(slot_getattr(slot, 3, &isnull));
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
	}
	else if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
	{
		/*
		 * The scan counts the blocks first: a table with none reads none.
		 * It goes row by row, not page by page: the first row seen ends
		 * it, and the rest of its page is not looked at.  It starts at the
		 * first block, not where a synchronized scan of the table is, and
		 * takes no buffer strategy.  These flags go to the access method's
		 * scan_begin at once: set by a rescan, they would make the scan
		 * count the blocks a second time.
		 */
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		TableScanDesc scan = rel->rd_tableam->scan_begin(rel, snapshot, 0, NULL,
														 NULL, SO_TYPE_SEQSCAN);

		empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
	}
	RelationClose(rel);
	return empty;
}

/* Whether relid holds a row that any committed transaction, or this one, left. */
static bool
relation_holds_no_committed_row(Oid relid, LOCKMODE lockmode)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	bool		empty = relation_holds_no_row(relid, snapshot, lockmode);

	UnregisterSnapshot(snapshot);
	return empty;
}

/*
 * Establish whether a table the statement would drop, empty or change
 * holds any row.  That it holds none is established under the lock that
 * keeps rows out: lockmode is the statement's own lock, taken here first
 * (NoLock when the caller already holds it).  That it holds some can be
 * seen before, without waiting: then it is refused at once, with no lock
 * kept.  Every committed row counts, and this transaction's own.
 * Temporary and new tables are left alone: they lose nothing whatever they
 * hold; so is guard.audit, whose lock would keep the refusal's own row
 * out.  Returns false when the table went away while the lock was awaited.
 */
bool
guard_target_check_rows(GuardTarget *target, LOCKMODE lockmode)
{
	Oid			relid = target->objid;

	if ((target->kind != GUARD_TARGET_TABLE && target->kind != GUARD_TARGET_COLUMN) ||
		!guard_target_may_lose(target) || guard_queue_is_audit_table(relid))
		return true;
	if (lockmode != NoLock)
	{
		if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE &&
			ConditionalLockRelationOid(relid, AccessShareLock))
		{
			bool		rows = !relation_holds_no_committed_row(relid, AccessShareLock);

			UnlockRelationOid(relid, AccessShareLock);
			if (rows)
				return true;
		}
		LockRelationOid(relid, lockmode);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			return false;

		/*
		 * Renamed or moved meanwhile (the recycle bin moves the tables it
		 * keeps): the statement looks its name up again, and PostgreSQL
		 * reports what it finds.
		 */
		if (target->kind == GUARD_TARGET_TABLE && !target->temporary &&
			strcmp(quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid)),
				   target->name) != 0)
			return false;
	}
	target->empty = relation_holds_no_committed_row(relid,
													lockmode != NoLock ? lockmode : AccessShareLock);
	return true;
}

/*
 * For a DELETE, UPDATE or MERGE: whether relid holds no row that the
 * statement can see, and so none it could change.
 */
bool
guard_relation_visibly_empty(Oid relid)
{
	return relation_holds_no_row(relid, GetActiveSnapshot(), AccessShareLock);
}

/* How many names a message lists before it only counts the rest. */
#define GUARD_MESSAGE_NAMES 5

static GuardTarget *
describe_relation(Oid relid, AttrNumber attnum, GuardAction action, char also)
{
	HeapTuple	tuple;
	Form_pg_class form;
	GuardTarget *target;
	char	   *nspname;
	Oid			nspid;
	bool		is_partition;
	Relation	rel;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return NULL;
	form = (Form_pg_class) GETSTRUCT(tuple);

	if (form->relkind != RELKIND_RELATION &&
		form->relkind != RELKIND_PARTITIONED_TABLE &&
		form->relkind != RELKIND_MATVIEW &&
		form->relkind != RELKIND_FOREIGN_TABLE &&
		!(also != '\0' && form->relkind == also))
	{
		ReleaseSysCache(tuple);
		return NULL;
	}

	/*
	 * A foreign table's columns are a local definition of remote data:
	 * dropping one or changing its type changes no stored value.
	 */
	if (attnum > 0 && form->relkind == RELKIND_FOREIGN_TABLE)
	{
		ReleaseSysCache(tuple);
		return NULL;
	}

	target = (GuardTarget *) palloc0(sizeof(GuardTarget));
	target->kind = attnum > 0 ? GUARD_TARGET_COLUMN : GUARD_TARGET_TABLE;
	target->action = (attnum > 0 && action == GUARD_ACTION_DROP) ?
		GUARD_ACTION_DROP_COLUMN : action;
	target->objid = relid;
	target->relkind = form->relkind;
	target->attnum = attnum > 0 ? attnum : 0;
	target->temporary = (form->relpersistence == RELPERSISTENCE_TEMP);

	/*
	 * A temporary table loses nothing whatever else is true of it: it is
	 * never named in a message or a record, so describe it no further.
	 * Routine work on temporary tables is the commonest utility statement
	 * guard sees.
	 */
	if (target->temporary)
	{
		target->name = pstrdup(NameStr(form->relname));
		ReleaseSysCache(tuple);
		return target;
	}

	nspid = form->relnamespace;
	is_partition = form->relispartition;
	nspname = get_namespace_name(nspid);
	target->name = quote_qualified_identifier(nspname, NameStr(form->relname));
	ReleaseSysCache(tuple);

	if (attnum > 0)
	{
		HeapTuple	att = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										  Int16GetDatum(attnum));

		if (!HeapTupleIsValid(att))
			return NULL;
		target->name = psprintf("%s.%s", target->name,
								quote_identifier(NameStr(((Form_pg_attribute) GETSTRUCT(att))->attname)));
		/*
		 * A column added in this transaction holds nothing older: its
		 * catalog row was inserted by this transaction, not updated by it
		 * (a dependent default removed first updates it, for one).
		 */
		target->created_here =
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(att->t_data)) &&
			(att->t_data->t_infomask & HEAP_UPDATED) == 0;
		ReleaseSysCache(att);
		if (target->created_here)
			return target;
	}

	rel = RelationIdGetRelation(relid);
	if (RelationIsValid(rel))
	{
		target->created_here =
			(rel->rd_createSubid != InvalidSubTransactionId);
		RelationClose(rel);
	}

	/* A new table loses nothing: its labels (a catalog scan) don't matter. */
	if (!target->created_here)
		target->exempt = guard_exempt_ops(relid, nspid, is_partition);

	return target;
}

/*
 * Describe a table, or one of its columns when attnum > 0.  Returns NULL
 * for relations that hold no table data of their own (indexes, views,
 * sequences, composite types) and for objects that no longer exist.
 */
GuardTarget *
guard_target_relation(Oid relid, AttrNumber attnum, GuardAction action)
{
	return describe_relation(relid, attnum, action, '\0');
}

/*
 * Describe the table or view a DELETE or UPDATE names.  A view that is
 * changed through INSTEAD OF triggers counts like a table: the triggers
 * change its rows one by one, each with a condition of its own.
 */
GuardTarget *
guard_target_modified(Oid relid, GuardAction action)
{
	return describe_relation(relid, 0, action, RELKIND_VIEW);
}

/*
 * Describe a sequence that DROP SEQUENCE names: its value is data too, the
 * next id of a table whose default was dropped first (as pg_restore
 * --clean does).  Sequences that go with their table are the table's.
 */
GuardTarget *
guard_target_sequence(Oid relid)
{
	return describe_relation(relid, 0, GUARD_ACTION_DROP, RELKIND_SEQUENCE);
}

/* Describe a database; NULL if it does not exist. */
GuardTarget *
guard_target_database(Oid dbid)
{
	char	   *dbname = get_database_name(dbid);
	GuardTarget *target;

	if (dbname == NULL)
		return NULL;

	target = (GuardTarget *) palloc0(sizeof(GuardTarget));
	target->kind = GUARD_TARGET_DATABASE;
	target->action = GUARD_ACTION_DROP_DATABASE;
	target->objid = dbid;
	target->name = pstrdup(quote_identifier(dbname));
	return target;
}

static int
compare_names(const ListCell *a, const ListCell *b)
{
	return strcmp(((GuardTarget *) lfirst(a))->name,
				  ((GuardTarget *) lfirst(b))->name);
}

/*
 * The tables of a schema, or of an owner: the ones DROP SCHEMA ... CASCADE
 * or DROP OWNED would take.  Sorted by name, for a stable message.
 */
static List *
tables_where(AttrNumber attno, Oid value)
{
	Relation	pg_class;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	List	   *targets = NIL;

	ScanKeyInit(&key, attno, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(value));
	pg_class = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(pg_class, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		GuardTarget *target;

		target = guard_target_relation(((Form_pg_class) GETSTRUCT(tuple))->oid, 0,
									   GUARD_ACTION_DROP);
		if (target != NULL)
			targets = lappend(targets, target);
	}
	systable_endscan(scan);
	table_close(pg_class, AccessShareLock);

	list_sort(targets, compare_names);
	return targets;
}

List *
guard_targets_in_schema(Oid nspid)
{
	return tables_where(Anum_pg_class_relnamespace, nspid);
}

List *
guard_targets_owned_by(Oid roleid)
{
	return tables_where(Anum_pg_class_relowner, roleid);
}

/* The tables that belong to an extension, which DROP EXTENSION takes. */
List *
guard_targets_of_extension(Oid extid)
{
	Relation	pg_depend;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	List	   *targets = NIL;

	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extid));
	pg_depend = table_open(DependRelationId, AccessShareLock);
	scan = systable_beginscan(pg_depend, DependReferenceIndexId, true, NULL,
							  2, key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		GuardTarget *target;

		if (dep->classid != RelationRelationId ||
			dep->deptype != DEPENDENCY_EXTENSION)
			continue;
		target = guard_target_relation(dep->objid, 0, GUARD_ACTION_DROP);
		if (target != NULL)
			targets = lappend(targets, target);
	}
	systable_endscan(scan);
	table_close(pg_depend, AccessShareLock);

	list_sort(targets, compare_names);
	return targets;
}

/* Whether an attribute number is in a constraint's key array. */
static bool
key_has_column(Datum keys, List *attnums)
{
	ArrayType  *arr = DatumGetArrayTypeP(keys);
	int16	   *cols = (int16 *) ARR_DATA_PTR(arr);
	int			i;

	for (i = 0; i < ARR_DIMS(arr)[0]; i++)
	{
		if (list_member_int(attnums, cols[i]))
			return true;
	}
	return false;
}

/*
 * The tables that a DELETE or UPDATE of every row of a table reaches
 * through foreign keys whose actions change their rows (CASCADE, SET NULL,
 * SET DEFAULT), followed through tables created in this transaction.  A
 * table created here loses nothing of its own, but an older table that
 * references it loses every row that points to one of its rows: the
 * foreign key's triggers change them one by one, each with a condition,
 * so the loss is the older table's and is judged on its rows.  For an
 * UPDATE, updated is the list of attribute numbers it sets (NIL: any), and
 * only keys that include one of them count.
 */
List *
guard_targets_cascaded_from(Oid relid, GuardAction action, List *updated)
{
	List	   *result = NIL;
	List	   *pending = list_make1_oid(relid);
	List	   *seen = list_make1_oid(relid);
	Relation	pg_constraint = table_open(ConstraintRelationId, AccessShareLock);

	while (pending != NIL)
	{
		Oid			referenced = linitial_oid(pending);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		pending = list_delete_first(pending);
		ScanKeyInit(&key, Anum_pg_constraint_confrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(referenced));
		scan = systable_beginscan(pg_constraint, InvalidOid, false, NULL, 1, &key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tuple);
			char		act = action == GUARD_ACTION_DELETE ? con->confdeltype : con->confupdtype;
			GuardTarget *target;
			bool		isnull;
			Datum		keys;

			if (con->contype != CONSTRAINT_FOREIGN ||
				(act != FKCONSTR_ACTION_CASCADE && act != FKCONSTR_ACTION_SETNULL &&
				 act != FKCONSTR_ACTION_SETDEFAULT) ||
				list_member_oid(seen, con->conrelid))
				continue;
			if (action == GUARD_ACTION_UPDATE && updated != NIL && referenced == relid)
			{
				keys = heap_getattr(tuple, Anum_pg_constraint_confkey,
									RelationGetDescr(pg_constraint), &isnull);
				if (isnull || !key_has_column(keys, updated))
					continue;
			}
			seen = lappend_oid(seen, con->conrelid);
			target = guard_target_relation(con->conrelid, 0,
										   act == FKCONSTR_ACTION_CASCADE ? action : GUARD_ACTION_UPDATE);
			if (target == NULL || target->temporary)
				continue;
			if (target->created_here)
			{
				/* Its own referencing tables are reached in turn. */
				if (act == FKCONSTR_ACTION_CASCADE)
					pending = lappend_oid(pending, con->conrelid);
				continue;
			}
			target->empty = guard_relation_visibly_empty(con->conrelid);
			result = lappend(result, target);
		}
		systable_endscan(scan);
	}
	table_close(pg_constraint, AccessShareLock);
	return result;
}

static bool
target_equal(const GuardTarget *a, const GuardTarget *b)
{
	return a->kind == b->kind && a->objid == b->objid &&
		a->attnum == b->attnum;
}

bool
guard_target_member(const GuardTarget *target, List *targets)
{
	ListCell   *lc;

	foreach(lc, targets)
	{
		if (target_equal(target, (GuardTarget *) lfirst(lc)))
			return true;
	}
	return false;
}

/*
 * The text of one statement out of the string that carried it: a
 * multi-statement query, a function body or an extension script.  A
 * location of -1 means the whole string; a length of 0, the rest of it.
 */
char *
guard_statement_text(const char *source, int location, int len)
{
	int			total;
	const char *start;
	const char *end;

	if (source == NULL)
		return NULL;

	total = strlen(source);
	if (location < 0 || location > total)
	{
		location = 0;
		len = 0;
	}
	if (len <= 0 || location + len > total)
		len = total - location;

	start = source + location;
	end = start + len;
	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && (isspace((unsigned char) end[-1]) || end[-1] == ';'))
		end--;

	return pnstrdup(start, end - start);
}

/* The names for a message: the first few in quotes, then a count. */
char *
guard_targets_message(List *targets)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;
	int			total = list_length(targets);

	initStringInfo(&buf);
	foreach(lc, targets)
	{
		GuardTarget *target = (GuardTarget *) lfirst(lc);

		if (n == GUARD_MESSAGE_NAMES)
		{
			appendStringInfo(&buf, " and %d more", total - n);
			break;
		}
		if (n > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "\"%s\"", target->name);
		n++;
	}
	return buf.data;
}

/*
 * Run a one-row query in a subtransaction: whether it returned a row, or
 * true if it failed (a value that cannot be converted, a table that cannot
 * be read): what cannot be checked counts as a loss.
 */
static bool
query_finds_row_or_fails(const char *sql)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool found = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "guard: could not check the column's values");
		found = SPI_processed > 0;
		SPI_finish();
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		found = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return found;
}

/*
 * Whether ALTER COLUMN ... TYPE would change an existing value of column
 * attnum: one scan that converts each value as the statement would (its
 * USING expression, or the column itself, cast to the new type) and back,
 * and stops at the first that comes back different.  What cannot be
 * checked (no way back to the old type, no equality) counts as a change,
 * unless the table holds no row at all.  The caller holds the statement's
 * own lock, so no row can come in meanwhile.
 */
bool
guard_type_change_loses(Oid relid, AttrNumber attnum, TypeName *type_name,
						Node *using, bool inh)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ParseState *pstate = make_parsestate(NULL);
	Relation	rel = table_open(relid, NoLock);
	char	   *table;
	char	   *column;
	char	   *old_type;
	char	   *volatile sql = NULL;
	bool		loses;

	table = psprintf("%s%s", inh ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	column = pstrdup(quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname)));
	old_type = format_type_with_typemod(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid,
										TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypmod);

	/* The query that finds a value the change would alter, if it can be built. */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Oid			typid;
		int32		typmod;
		char	   *value = column;

		typenameTypeIdAndMod(pstate, type_name, &typid, &typmod);
		if (using != NULL)
		{
			ParseNamespaceItem *nsitem;
			Node	   *expr;

			nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
												   NULL, false, true);
			addNSItemToQuery(pstate, nsitem, false, true, true);
			expr = transformExpr(pstate, copyObject(using), EXPR_KIND_ALTER_COL_TRANSFORM);
			value = deparse_expression(expr,
									   deparse_context_for(RelationGetRelationName(rel), relid),
									   false, false);
		}
		sql = psprintf("SELECT 1 FROM %s WHERE CAST(CAST((%s) AS %s) AS %s) IS DISTINCT FROM %s LIMIT 1",
					   table, value, format_type_with_typemod(typid, typmod),
					   old_type, column);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		sql = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	/*
	 * What cannot be checked loses nothing only in a table without rows; a
	 * table that cannot even be read counts as holding some.
	 */
	loses = (sql == NULL) || query_finds_row_or_fails(sql);
	if (loses)
		loses = query_finds_row_or_fails(psprintf("SELECT 1 FROM %s LIMIT 1", table));
	table_close(rel, NoLock);
	return loses;
}
