/*-------------------------------------------------------------------------
 *
 * writer.c
 *		The audit writer: a background worker that drains the queue into
 *		guard.audit.
 *
 * The writer is a static background worker, started once recovery is over
 * and restarted when it dies, connected to the database named by
 * guard.database.  It takes every row waiting in the queue at once and
 * inserts them in one transaction (group commit), so that a storm of
 * refusals costs one WAL flush per batch, not one per row.  The rows go
 * into the heap and its indexes directly, with the table's constraints
 * checked, as INSERT puts them: a batch is a few rows, and planning and
 * starting an INSERT cost more than that.  A table that a DBA gave an
 * INSERT trigger or rule, or a generated column, takes a parameterised
 * SPI INSERT instead, which honours them, executed once per batch.  The commit
 * is always flushed to disk before any waiting backend is told, whatever
 * synchronous_commit says.
 *
 * If a batch fails because of one row (bad text, a constraint), the rows
 * are retried one by one, and a row whose text cannot be converted to the
 * audit database's encoding is retried with that text escaped; so one bad
 * row never stalls the others.  Any other failure (the table is missing,
 * locked past guard.audit_timeout, or unwritable) fails the batch at once
 * and the backends fall back to the server log.
 *
 * The writer never examines its own statements: guard_is_writer is set
 * before it connects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "rewrite/rewriteHandler.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guard.h"

/*
 * The insert, for the table as version 1.1 of the extension has it; a 1.0
 * table, not yet updated, lacks the last two columns.  A batch is one
 * INSERT: each parameter is an array holding that column's values for every
 * row, so the executor starts once per batch, not once per row.  objects
 * travels as the text of each row's array.  RETURNING gives the rows in the
 * order they were inserted, which is the order of the arrays; at and
 * backend_pid come back too, to check that.  unnest is not qualified: the
 * parser reads several arrays in FROM only under that bare name, and the
 * writer's search_path is pg_catalog alone.
 */
#define INSERT_NARGS 17
#define INSERT_NARGS_1_0 15
#define INSERT_COLUMNS \
	"at, database, login_role, effective_role, client_addr," \
	" application_name, backend_pid, command, objects, object_count," \
	" statement, environment, verdict, reason, clipped"
#define INSERT_VALUES \
	"at, database, login_role, effective_role," \
	" client_addr::pg_catalog.inet, application_name, backend_pid, command," \
	" objects::pg_catalog.text[], object_count, statement, environment," \
	" verdict, reason, clipped"
#define INSERT_ARRAYS \
	"$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15"
static const char *const insert_sql =
"INSERT INTO guard.audit (" INSERT_COLUMNS ", old_value, new_value)"
" SELECT " INSERT_VALUES ", old_value, new_value"
" FROM unnest(" INSERT_ARRAYS ", $16, $17)"
" AS r(" INSERT_COLUMNS ", old_value, new_value)"
" RETURNING id, at, backend_pid";
static const char *const insert_sql_1_0 =
"INSERT INTO guard.audit (" INSERT_COLUMNS ")"
" SELECT " INSERT_VALUES
" FROM unnest(" INSERT_ARRAYS ")"
" AS r(" INSERT_COLUMNS ")"
" RETURNING id, at, backend_pid";

static SPIPlanPtr insert_plan = NULL;
static int	insert_nargs = 0;		/* which of the two insert_plan is */
static Oid	audit_relid = InvalidOid;
static MemoryContext batch_cxt = NULL;

/* Tries of a batch that fails for a reason other than the table or a row. */
#define GUARD_WRITE_TRIES 3

void
guard_writer_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "guard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "guard_writer_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "guard writer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "guard writer");
	RegisterBackgroundWorker(&worker);
}

/*
 * Settings of the writer's own session, applied at start and on reload.
 * The writer connects to the audit database like any session and would
 * inherit what ALTER DATABASE/ROLE stored there; what it needs is pinned:
 * transactions that can write, no timeout but its own lock_timeout, and a
 * commit that is flushed here but does not wait for a synchronous standby
 * that may be missing (a refusal waits for the row; the row replicates
 * all the same).
 */
static void
configure_session(void)
{
	char		timeout[32];

	/* A row blocked by a lock is not worth more than a backend's wait. */
	snprintf(timeout, sizeof(timeout), "%d", guard_audit_timeout);
	SetConfigOption("lock_timeout", timeout, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("session_replication_role", "origin", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Text in the audit database's encoding.  With escape, every byte outside
 * ASCII is written as \xNN, which fits any encoding.
 */
static char *
server_text(const char *str, int encoding, bool escape)
{
	StringInfoData buf;
	const unsigned char *p;

	if (!escape)
		return pg_any_to_server(str, strlen(str), encoding);
	initStringInfo(&buf);
	for (p = (const unsigned char *) str; *p; p++)
	{
		if (*p < 0x80)
			appendStringInfoChar(&buf, (char) *p);
		else
			appendStringInfo(&buf, "\\x%02X", *p);
	}
	return buf.data;
}

/*
 * The insert's parameters, in order: what each binds and the type of its
 * elements.  A 1.0 table takes the first INSERT_NARGS_1_0.
 */
typedef enum BindKind
{
	BIND_AT,
	BIND_FIELD,
	BIND_PID,
	BIND_OBJECTS,
	BIND_OBJECT_COUNT,
	BIND_CLIPPED
} BindKind;

static const struct
{
	const char *column;
	BindKind	kind;
	GuardField	field;
	Oid			type;
	Oid			array_type;
}			binds[INSERT_NARGS] =
{
	{"at", BIND_AT, 0, TIMESTAMPTZOID, TIMESTAMPTZARRAYOID},
	{"database", BIND_FIELD, GUARD_FIELD_DATABASE, TEXTOID, TEXTARRAYOID},
	{"login_role", BIND_FIELD, GUARD_FIELD_LOGIN_ROLE, TEXTOID, TEXTARRAYOID},
	{"effective_role", BIND_FIELD, GUARD_FIELD_EFFECTIVE_ROLE, TEXTOID, TEXTARRAYOID},
	{"client_addr", BIND_FIELD, GUARD_FIELD_CLIENT_ADDR, TEXTOID, TEXTARRAYOID},
	{"application_name", BIND_FIELD, GUARD_FIELD_APPLICATION_NAME, TEXTOID, TEXTARRAYOID},
	{"backend_pid", BIND_PID, 0, INT4OID, INT4ARRAYOID},
	{"command", BIND_FIELD, GUARD_FIELD_COMMAND, TEXTOID, TEXTARRAYOID},
	{"objects", BIND_OBJECTS, 0, TEXTOID, TEXTARRAYOID},
	{"object_count", BIND_OBJECT_COUNT, 0, INT4OID, INT4ARRAYOID},
	{"statement", BIND_FIELD, GUARD_FIELD_STATEMENT, TEXTOID, TEXTARRAYOID},
	{"environment", BIND_FIELD, GUARD_FIELD_ENVIRONMENT, TEXTOID, TEXTARRAYOID},
	{"verdict", BIND_FIELD, GUARD_FIELD_VERDICT, TEXTOID, TEXTARRAYOID},
	{"reason", BIND_FIELD, GUARD_FIELD_REASON, TEXTOID, TEXTARRAYOID},
	{"clipped", BIND_CLIPPED, 0, BOOLOID, BOOLARRAYOID},
	{"old_value", BIND_FIELD, GUARD_FIELD_OLD_VALUE, TEXTOID, TEXTARRAYOID},
	{"new_value", BIND_FIELD, GUARD_FIELD_NEW_VALUE, TEXTOID, TEXTARRAYOID}
};

/* The text of a row's objects as an array literal, every element quoted. */
static char *
objects_literal(const GuardRow *row, int encoding, bool escape)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, row->objects)
	{
		const char *p = server_text((const char *) lfirst(lc), encoding, escape);

		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '"');
		for (; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * The text a row binds to a text parameter, in the audit database's
 * encoding, or NULL for SQL NULL.
 */
static char *
bind_text(int arg, const GuardRow *row, int encoding, bool escape)
{
	if (binds[arg].kind == BIND_OBJECTS)
		return objects_literal(row, encoding, escape);
	Assert(binds[arg].kind == BIND_FIELD);
	if (row->field[binds[arg].field] == NULL)
		return NULL;
	return server_text(row->field[binds[arg].field], encoding, escape);
}

/* One row's value for parameter arg. */
static Datum
bind_value(int arg, const GuardRow *row, int encoding, bool escape,
		   bool *isnull)
{
	*isnull = false;
	switch (binds[arg].kind)
	{
		case BIND_AT:
			return TimestampTzGetDatum(row->at);
		case BIND_FIELD:
		case BIND_OBJECTS:
			{
				char	   *text = bind_text(arg, row, encoding, escape);

				*isnull = (text == NULL);
				return *isnull ? (Datum) 0 : CStringGetTextDatum(text);
			}
		case BIND_PID:
			return Int32GetDatum(row->backend_pid);
		case BIND_OBJECT_COUNT:
			return Int32GetDatum(row->object_count);
		case BIND_CLIPPED:
			return BoolGetDatum(row->clipped);
	}
	pg_unreachable();
}

/* Insert n rows with one execution of the plan; their ids into ids. */
static void
insert_rows(const GuardRow *rows, const int *encodings, int n, bool escape,
			int64 *ids)
{
	Datum		values[INSERT_NARGS];
	Datum	   *elems = (Datum *) palloc(sizeof(Datum) * n);
	bool	   *elemnulls = (bool *) palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			arg;
	int			i;

	for (arg = 0; arg < insert_nargs; arg++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		for (i = 0; i < n; i++)
			elems[i] = bind_value(arg, &rows[i], encodings[i], escape,
								  &elemnulls[i]);
		get_typlenbyvalalign(binds[arg].type, &typlen, &typbyval, &typalign);
		values[arg] = PointerGetDatum(construct_md_array(elems, elemnulls, 1,
														 dims, lbs,
														 binds[arg].type,
														 typlen, typbyval,
														 typalign));
	}

	if (SPI_execute_plan(insert_plan, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != (uint64) n)
		elog(ERROR, "guard: unexpected result inserting %d audit rows", n);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		if (DatumGetTimestampTz(SPI_getbinval(tuple, tupdesc, 2, &isnull)) != rows[i].at ||
			DatumGetInt32(SPI_getbinval(tuple, tupdesc, 3, &isnull)) != rows[i].backend_pid)
			elog(ERROR, "guard: audit rows came back in another order than inserted");
	}
}

/*
 * Whether the rows can go into the table as a plain INSERT would put them
 * there, without planning one: the table is a heap with no INSERT trigger
 * or rule and no generated column, as the extension makes it.  A table a
 * DBA gave any of those takes the SPI insert, which honours them.  (The
 * writer is a superuser, so row security never applies.)
 */
static bool
direct_insert_fits(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL)
		return false;
	if (trig != NULL &&
		(trig->trig_insert_before_row || trig->trig_insert_after_row ||
		 trig->trig_insert_instead_row ||
		 trig->trig_insert_before_statement ||
		 trig->trig_insert_after_statement || trig->trig_insert_new_table))
		return false;
	for (i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attgenerated != '\0')
			return false;
	}
	return true;
}

/* The number of the live column named name, or InvalidAttrNumber. */
static AttrNumber
column_named(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i + 1;
	}
	return InvalidAttrNumber;
}

/*
 * How each column of the table gets its value: the row's field, read by
 * the column type's input function, or its binary value; or the column's
 * default (the id's nextval); or NULL.
 */
typedef struct AuditColumn
{
	int			arg;			/* index into binds, or -1 */
	FmgrInfo	input;			/* for text fields */
	Oid			ioparam;
	ExprState  *fallback;		/* the default, for a column not bound */
} AuditColumn;

/*
 * The map is kept from batch to batch, in columns_cxt, until the relcache
 * says that the table changed (ALTER EXTENSION guard UPDATE, a DBA's ALTER
 * TABLE, a new table), or a function changed: columns, input functions and
 * defaults are looked up once, not for every batch.  So are the states of
 * the table's CHECK constraints, which ExecConstraints builds in
 * columns_estate the first time and which each batch's ResultRelInfo is
 * then given.  A batch that fails forgets them all.
 */
static MemoryContext columns_cxt = NULL;
static AuditColumn *columns_map = NULL; /* NULL: to be made */
static Oid	columns_relid = InvalidOid;
static AttrNumber columns_id_attnum = InvalidAttrNumber;
static EState *columns_estate = NULL;	/* defaults and checks live here */
static ExprState **columns_checks = NULL;	/* NULL: not built yet */

static void
forget_columns(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == columns_relid)
		columns_map = NULL;
}

/*
 * A function that a default or a CHECK constraint calls may have changed:
 * a SQL function's body is compiled into the constraint's state.
 */
static void
forget_columns_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	columns_map = NULL;
}

/* Make the map of rel's columns. */
static AuditColumn *
map_columns(Relation rel, EState *estate, AttrNumber *id_attnum)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AuditColumn *columns = (AuditColumn *) palloc0(sizeof(AuditColumn) * desc->natts);
	int			arg;
	int			i;

	for (i = 0; i < desc->natts; i++)
		columns[i].arg = -1;
	for (arg = 0; arg < INSERT_NARGS; arg++)
	{
		AttrNumber	attnum = column_named(desc, binds[arg].column);
		Form_pg_attribute att;

		/* A 1.0 table, not yet updated, lacks the last ones. */
		if (attnum == InvalidAttrNumber && arg >= INSERT_NARGS_1_0)
			continue;
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"guard.audit\" does not exist",
							binds[arg].column)));
		att = TupleDescAttr(desc, attnum - 1);
		columns[attnum - 1].arg = arg;
		if (binds[arg].kind == BIND_FIELD || binds[arg].kind == BIND_OBJECTS)
		{
			Oid			func;

			getTypeInputInfo(att->atttypid, &func, &columns[attnum - 1].ioparam);
			fmgr_info(func, &columns[attnum - 1].input);
		}
		else if (att->atttypid != binds[arg].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"guard.audit\" is of type %s, not %s",
							binds[arg].column, format_type_be(att->atttypid),
							format_type_be(binds[arg].type))));
	}
	for (i = 0; i < desc->natts; i++)
	{
		Node	   *expr;

		if (TupleDescAttr(desc, i)->attisdropped || columns[i].arg >= 0)
			continue;
		expr = build_column_default(rel, i + 1);
		if (expr != NULL)
			columns[i].fallback = ExecPrepareExpr((Expr *) expr, estate);
	}

	*id_attnum = column_named(desc, "id");
	if (*id_attnum == InvalidAttrNumber ||
		TupleDescAttr(desc, *id_attnum - 1)->atttypid != INT8OID ||
		columns[*id_attnum - 1].fallback == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation \"guard.audit\" has no column \"id\" of type bigint with a default")));
	return columns;
}

/*
 * Insert n rows as heap tuples with their index entries, checking the
 * table's constraints, as INSERT does; their ids into ids.  A batch of a
 * few rows is most of what the writer does in a storm, and the planner
 * and executor cost it more than the rows themselves.
 */
static void
insert_direct(Relation rel, const GuardRow *rows, const int *encodings,
			  int n, bool escape, int64 *ids)
{
	TupleDesc	desc = RelationGetDescr(rel);
	EState	   *estate = CreateExecutorState();
	ExprContext *econtext = GetPerTupleExprContext(estate);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *slot;
	AuditColumn *columns;
	AttrNumber	id_attnum;
	int			r;
	int			i;

	if (columns_map == NULL || columns_relid != RelationGetRelid(rel))
	{
		MemoryContext oldcxt;

		if (columns_cxt == NULL)
		{
			columns_cxt = AllocSetContextCreate(TopMemoryContext,
												"guard writer columns",
												ALLOCSET_SMALL_SIZES);
			CacheRegisterRelcacheCallback(forget_columns, (Datum) 0);
			CacheRegisterSyscacheCallback(PROCOID, forget_columns_syscache,
										  (Datum) 0);
		}
		columns_map = NULL;
		columns_checks = NULL;
		MemoryContextReset(columns_cxt);
		oldcxt = MemoryContextSwitchTo(columns_cxt);
		columns_relid = RelationGetRelid(rel);
		columns_estate = CreateExecutorState();
		columns = map_columns(rel, columns_estate, &columns_id_attnum);
		MemoryContextSwitchTo(oldcxt);
		columns_map = columns;
	}
	columns = columns_map;
	id_attnum = columns_id_attnum;
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, desc, table_slot_callbacks(rel));

	for (r = 0; r < n; r++)
	{
		MemoryContext oldcxt;

		ResetPerTupleExprContext(estate);
		oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		ExecClearTuple(slot);
		for (i = 0; i < desc->natts; i++)
		{
			AuditColumn *column = &columns[i];
			Datum	   *value = &slot->tts_values[i];
			bool	   *isnull = &slot->tts_isnull[i];

			*isnull = true;
			*value = (Datum) 0;
			if (column->arg >= 0 &&
				(binds[column->arg].kind == BIND_FIELD ||
				 binds[column->arg].kind == BIND_OBJECTS))
			{
				char	   *text = bind_text(column->arg, &rows[r],
											 encodings[r], escape);

				if (text != NULL)
				{
					*value = InputFunctionCall(&column->input, text,
											   column->ioparam,
											   TupleDescAttr(desc, i)->atttypmod);
					*isnull = false;
				}
			}
			else if (column->arg >= 0)
				*value = bind_value(column->arg, &rows[r], encodings[r],
									escape, isnull);
			else if (column->fallback != NULL)
				*value = ExecEvalExpr(column->fallback, econtext, isnull);
		}
		ExecStoreVirtualTuple(slot);

		if (desc->constr != NULL)
		{
			ResetPerTupleExprContext(columns_estate);
			rri->GUARD_RI_CHECK_EXPRS = columns_checks;
			ExecConstraints(rri, slot, columns_estate);
			columns_checks = rri->GUARD_RI_CHECK_EXPRS;
		}
		simple_table_tuple_insert(rel, slot);
		if (rri->ri_NumIndices > 0)
			list_free(GUARD_INSERT_INDEX_TUPLES(rri, slot, estate));
		ids[r] = DatumGetInt64(slot->tts_values[id_attnum - 1]);
		MemoryContextSwitchTo(oldcxt);
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/* The OID of guard.audit, or InvalidOid while it does not exist. */
static Oid
lookup_audit_table(void)
{
	Oid			nspid = get_namespace_oid("guard", true);

	return OidIsValid(nspid) ? get_relname_relid("audit", nspid) : InvalidOid;
}

/*
 * Find guard.audit again: DROP and CREATE EXTENSION give it a new OID,
 * which the backends need for their lock check.
 */
static void
find_table(void)
{
	Oid			relid = lookup_audit_table();

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"guard.audit\" does not exist")));

	/*
	 * The INSERT takes this lock anyway; taking it first means the columns
	 * are looked at after any ALTER EXTENSION UPDATE in progress commits.
	 */
	LockRelationOid(relid, RowExclusiveLock);
	if (relid != audit_relid)
	{
		audit_relid = relid;
		guard_writer_publish(GUARD_WRITER_READY, relid);
	}
}

/*
 * Prepare the insert that fits the table: ALTER EXTENSION guard UPDATE may
 * have added columns since the last batch.
 */
static void
prepare_insert(void)
{
	Oid			argtypes[INSERT_NARGS];
	int			nargs;
	int			i;
	SPIPlanPtr	plan;

	nargs = get_attnum(audit_relid, "new_value") != InvalidAttrNumber ?
		INSERT_NARGS : INSERT_NARGS_1_0;
	if (insert_plan != NULL && nargs == insert_nargs)
		return;
	if (insert_plan != NULL)
	{
		SPI_freeplan(insert_plan);
		insert_plan = NULL;
	}
	for (i = 0; i < nargs; i++)
		argtypes[i] = binds[i].array_type;
	plan = SPI_prepare(nargs == INSERT_NARGS ? insert_sql : insert_sql_1_0,
					   nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "guard: could not prepare the audit insert: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "guard: could not keep the audit insert plan");
	insert_plan = plan;
	insert_nargs = nargs;
}

/* Insert rows in one transaction and commit it to disk. */
static void
write_rows(const GuardRow *rows, const int *encodings, int n, bool escape,
		   int64 *ids)
{
	Relation	rel;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "guard: writing audit rows");

	find_table();
	rel = table_open(audit_relid, RowExclusiveLock);
	if (direct_insert_fits(rel))
		insert_direct(rel, rows, encodings, n, escape, ids);
	else
	{
		SPI_connect();
		prepare_insert();
		insert_rows(rows, encodings, n, escape, ids);
		SPI_finish();
	}
	table_close(rel, NoLock);

	PopActiveSnapshot();
	ForceSyncCommit();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* write_rows, returning the error instead of raising it. */
static ErrorData *
try_write(const GuardRow *rows, const int *encodings, int n, bool escape,
		  int64 *ids)
{
	ErrorData  *volatile error = NULL;

	PG_TRY();
	{
		write_rows(rows, encodings, n, escape, ids);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(batch_cxt);
		error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		/* A CHECK's states may be half built: make them again. */
		columns_map = NULL;
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_END_TRY();

	/* The transaction leaves CurrentMemoryContext elsewhere. */
	MemoryContextSwitchTo(batch_cxt);
	return error;
}

static bool
table_is_missing(const ErrorData *error)
{
	return error->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
		error->sqlerrcode == ERRCODE_INVALID_SCHEMA_NAME ||
		error->sqlerrcode == ERRCODE_UNDEFINED_COLUMN;
}

/* Whether a failure may be due to one row's content, not the table. */
static bool
row_specific(const ErrorData *error)
{
	int			class = ERRCODE_TO_CATEGORY(error->sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION ||
		class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION;
}

/* The same, in a transaction of its own, between batches. */
static Oid
audit_table(void)
{
	Oid			relid;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	relid = lookup_audit_table();
	CommitTransactionCommand();
	return relid;
}

/*
 * Committed rows: if a row's backend had given up waiting and logged the
 * record with "id":null, the log says that the row exists after all.
 */
static void
committed(const int *slots, const GuardRow *rows, const int64 *ids, int n)
{
	bool		abandoned[GUARD_BATCH_MAX];
	int			i;

	guard_queue_finish(slots, ids, n, NULL, abandoned);
	for (i = 0; i < n; i++)
	{
		if (abandoned[i])
			ereport(LOG,
					(errmsg("guard audit: the record that process %d logged as a fallback at %s was committed later, with id " INT64_FORMAT,
							rows[i].backend_pid, timestamptz_to_str(rows[i].at),
							ids[i])));
	}
}

/*
 * Write a batch of taken slots.  Returns false when the audit table turned
 * out to be missing.
 */
static bool
write_batch(int *slots, int n)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(batch_cxt);
	GuardRow   *rows = (GuardRow *) palloc(sizeof(GuardRow) * n);
	int		   *encodings = (int *) palloc(sizeof(int) * n);
	int64	   *ids = (int64 *) palloc(sizeof(int64) * n);
	ErrorData  *error;
	char		failure[128];
	bool		table_ok = true;
	int			i;

	for (i = 0; i < n; i++)
		guard_queue_row(slots[i], &rows[i], &encodings[i]);

	error = try_write(rows, encodings, n, false, ids);

	/*
	 * An error that is not the table's absence nor one row's content (a
	 * cancel by pg_cancel_backend, a lock timeout, a transient failure)
	 * ends one try, not the rows: the batch is tried again, a few times.
	 */
	for (i = 0; i < GUARD_WRITE_TRIES - 1 && error != NULL &&
		 !table_is_missing(error) && !row_specific(error); i++)
	{
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L * (i + 1),
						 PG_WAIT_EXTENSION);
		error = try_write(rows, encodings, n, false, ids);
	}
	if (error == NULL)
		committed(slots, rows, ids, n);
	else if (table_is_missing(error))
	{
		guard_audit_table_missing(failure, sizeof(failure));
		guard_queue_finish(slots, NULL, n, failure, NULL);
		table_ok = false;
	}
	else if (!row_specific(error))
	{
		ereport(LOG,
				(errmsg("guard: could not write %d audit rows: %s", n,
						error->message)));
		snprintf(failure, sizeof(failure), "the audit row could not be written: %s",
				 error->message);
		guard_queue_finish(slots, NULL, n, failure, NULL);
	}
	else
	{
		/* Find the bad row; write the others. */
		for (i = 0; i < n; i++)
		{
			error = try_write(&rows[i], &encodings[i], 1, false, &ids[i]);
			if (error != NULL)
				error = try_write(&rows[i], &encodings[i], 1, true, &ids[i]);
			if (error == NULL)
				committed(&slots[i], &rows[i], &ids[i], 1);
			else
			{
				ereport(LOG,
						(errmsg("guard: could not write an audit row: %s",
								error->message)));
				snprintf(failure, sizeof(failure),
						 "the audit row could not be written: %s",
						 error->message);
				guard_queue_finish(&slots[i], NULL, 1, failure, NULL);
			}
		}
	}

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(batch_cxt);
	return table_ok;
}

static void
writer_exit(int code, Datum arg)
{
	guard_writer_publish(GUARD_WRITER_STOPPED, InvalidOid);
}

void
guard_writer_main(Datum main_arg)
{
	sigjmp_buf	local_sigjmp_buf;
	int		   *volatile batch;
	volatile GuardWriterState state = GUARD_WRITER_STARTING;
	char		failure[128];
	volatile uint32 idle_event = 0;

	guard_is_writer = true;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* Runs after the transaction cleanup of a FATAL, locks released. */
	on_shmem_exit(writer_exit, (Datum) 0);
	guard_writer_publish(state, InvalidOid);

	BackgroundWorkerInitializeConnection(guard_database, NULL, 0);
	configure_session();

	batch_cxt = AllocSetContextCreate(TopMemoryContext, "guard writer batch",
									  ALLOCSET_DEFAULT_SIZES);
	batch = (int *) MemoryContextAlloc(TopMemoryContext,
									   sizeof(int) * GUARD_BATCH_MAX);
	guard_audit_table_missing(failure, sizeof(failure));

	ereport(LOG,
			(errmsg("guard writer started in database \"%s\"", guard_database)));

	/*
	 * An error in the loop (a cancel while idle, a failed look-up of the
	 * table) is reported and the loop goes on, as a backend's main loop
	 * does: the writer does not exit and leave the queue unattended.  Rows
	 * it was writing fail to the log; the table is looked up again.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(TopMemoryContext);
		FlushErrorState();
		MemoryContextReset(batch_cxt);
		guard_queue_fail_writing("the audit writer failed while writing it");
		pgstat_report_activity(STATE_IDLE, NULL);
		state = GUARD_WRITER_STARTING;
		RESUME_INTERRUPTS();
		/* Not in a tight loop, if the error repeats. */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		int			n;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			configure_session();
		}

		if (state != GUARD_WRITER_READY)
		{
			Oid			relid = audit_table();
			GuardWriterState now = OidIsValid(relid) ?
				GUARD_WRITER_READY : GUARD_WRITER_NO_TABLE;

			if (now != state)
			{
				state = now;
				audit_relid = relid;
				guard_writer_publish(state, relid);
			}
			guard_writer_looked();
		}

		n = guard_queue_take(batch, GUARD_BATCH_MAX);
		if (n > 0)
		{
			if (state != GUARD_WRITER_READY)
				guard_queue_finish(batch, NULL, n, failure, NULL);
			else if (!write_batch(batch, n))
			{
				state = GUARD_WRITER_NO_TABLE;
				guard_writer_publish(state, InvalidOid);
			}
			continue;
		}

		if (idle_event == 0)
			idle_event = GUARD_WAIT_EVENT("GuardWriterIdle");
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 state == GUARD_WRITER_READY ? 60000L : 500L,
						 idle_event);
	}
}
