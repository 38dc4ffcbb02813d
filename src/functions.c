/*-------------------------------------------------------------------------
 *
 * functions.c
 *		SQL-callable functions of the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/relcache.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/evtcache.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "guard.h"

PG_FUNCTION_INFO_V1(guard_install_check);
PG_FUNCTION_INFO_V1(guard_bin_install_check);
PG_FUNCTION_INFO_V1(guard_status);
PG_FUNCTION_INFO_V1(guard_permit_drop_database_sql);
PG_FUNCTION_INFO_V1(guard_dry_run);
PG_FUNCTION_INFO_V1(guard_permit_alter_system_sql);
PG_FUNCTION_INFO_V1(guard_prune);

bool		guard_pruning = false;

/* Called by the extension script: the audit table lives in one database. */
Datum
guard_install_check(PG_FUNCTION_ARGS)
{
	char	   *dbname = get_database_name(MyDatabaseId);

	if (dbname == NULL || strcmp(dbname, guard_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"guard\" can only be created in database \"%s\"",
						guard_database),
				 errdetail("The extension holds the audit table, which lives in the database named by \"guard.database\"; "
						   "the protection itself covers every database without it."),
				 errhint("Run CREATE EXTENSION guard in database \"%s\", or set \"guard.database\" and restart the server.",
						 guard_database)));
	PG_RETURN_VOID();
}

/*
 * Called by guard_bin's script: the recycle bin's functions and view, for a
 * database other than the audit database, where extension guard has them.
 */
Datum
guard_bin_install_check(PG_FUNCTION_ARGS)
{
	char	   *dbname = get_database_name(MyDatabaseId);

	if (dbname != NULL && strcmp(dbname, guard_database) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"guard_bin\" is not for database \"%s\"",
						guard_database),
				 errdetail("Extension \"guard\", which holds the audit table there, has the recycle bin's functions."),
				 errhint("Run CREATE EXTENSION guard in database \"%s\".",
						 guard_database)));
	PG_RETURN_VOID();
}

/* One row: the environment, the writer and the queue. */
Datum
guard_status(PG_FUNCTION_ARGS)
{
	GuardQueueStatus status;
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));
	guard_queue_status(&status);

	values[0] = CStringGetTextDatum(guard_environment_name(guard_environment));
	values[1] = BoolGetDatum(guard_queue_available());
	values[2] = CStringGetTextDatum(guard_writer_state_name(status.writer_state));
	values[3] = Int32GetDatum((int32) status.writer_pid);
	nulls[3] = (status.writer_pid == 0);
	values[4] = Int32GetDatum(status.size);
	values[5] = Int32GetDatum(status.pending);
	values[6] = Int64GetDatum((int64) status.queued);
	values[7] = Int64GetDatum((int64) status.written);
	values[8] = Int64GetDatum((int64) status.fallback);
	values[9] = Int64GetDatum((int64) status.failed);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * Permit this session one DROP DATABASE of the given database in
 * production, with a reason, for the next five minutes: the override for
 * the one destructive statement that cannot run in a transaction block.
 */
Datum
guard_permit_drop_database_sql(PG_FUNCTION_ARGS)
{
	Name		dbname = PG_GETARG_NAME(0);
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(1));

	guard_permit_drop_database(get_database_oid(NameStr(*dbname), false), reason);

	ereport(LOG,
			(errmsg("guard: DROP DATABASE of \"%s\" permitted for this session: %s",
					NameStr(*dbname), reason)));
	ereport(NOTICE,
			(errmsg("DROP DATABASE of \"%s\" is permitted once in this session for the next 5 minutes",
					NameStr(*dbname))));
	PG_RETURN_VOID();
}

/* One row of guard.dry_run's result, kept until its subtransaction ends. */
typedef struct DryRunRow
{
	const char *command;
	const char *verdict;
	List	   *objects;
	const char *detail;
} DryRunRow;

static DryRunRow *
dry_run_row(const GuardAttempt *attempt, const GuardDecision *decision)
{
	DryRunRow  *row = (DryRunRow *) palloc0(sizeof(DryRunRow));
	ListCell   *lc;

	row->command = attempt->command;
	foreach(lc, decision->targets)
		row->objects = lappend(row->objects, ((GuardTarget *) lfirst(lc))->name);

	switch (decision->verdict)
	{
		case GUARD_VERDICT_BLOCKED:
			row->verdict = "refused";
			row->detail = psprintf("%s%s%s",
								   guard_refusal_message(attempt, decision),
								   decision->detail ? ". " : "",
								   decision->detail ? decision->detail : "");
			break;
		case GUARD_VERDICT_ALLOWED:
			row->verdict = "allowed";
			row->detail = decision->exempted ?
				"exempt by a guard security label; recorded as allowed" :
				decision->reason ?
				psprintf("%s; recorded as allowed", decision->reason) :
				"recorded as allowed";
			break;
		default:
			row->verdict = "runs";
			break;
	}
	return row;
}

/* Whether EXPLAIN runs its statement: with ANALYZE. */
static bool
explain_runs(ExplainStmt *stmt)
{
	ListCell   *lc;
	bool		analyze = false;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "analyze") == 0)
			analyze = defGetBoolean(opt);
	}
	return analyze;
}

static List *describe_queries(List *queries, const char *script);

/*
 * Code the dry run does not follow.  A DO block, a procedure, a function
 * written by a user, a trigger or an event trigger, an extension's script:
 * each may run any statement, and production judges each of those as it
 * runs; the dry run, which runs nothing, cannot know them.  Such a
 * statement is reported as "cannot tell", with the first piece of code
 * found, rather than as "runs".  Functions of the system catalogs (below
 * FirstNormalObjectId) are PostgreSQL's own and are known.
 */
static char *unfollowed_code = NULL;

static bool
is_user_function(Oid funcid, void *context)
{
	if (funcid < FirstNormalObjectId)
		return false;
	*(Oid *) context = funcid;
	return true;
}

static bool
find_user_code_walker(Node *node, void *context)
{
	Oid			funcid = InvalidOid;

	if (node == NULL || unfollowed_code != NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, find_user_code_walker, context, 0);
	if (check_functions_in_node(node, is_user_function, &funcid))
	{
		unfollowed_code = psprintf("it calls the function %s", format_procedure(funcid));
		return true;
	}
	return expression_tree_walker(node, find_user_code_walker, context);
}

/* A trigger of the table that a user wrote (not a foreign key's). */
static void
find_user_trigger(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	int			i;

	if (!RelationIsValid(rel))
		return;
	for (i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &rel->trigdesc->triggers[i];

		if (!trigger->tgisinternal && trigger->tgenabled != TRIGGER_DISABLED)
		{
			unfollowed_code = psprintf("table %s has the trigger %s",
									   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
																  RelationGetRelationName(rel)),
									   quote_identifier(trigger->tgname));
			break;
		}
	}
	RelationClose(rel);
}

/* The code that one analyzed statement would run, if any. */
static void
find_user_code(Query *query)
{
	if (unfollowed_code != NULL)
		return;
	if (query->commandType == CMD_UTILITY)
	{
		Node	   *stmt = query->utilityStmt;

		if (IsA(stmt, DoStmt))
			unfollowed_code = "it runs a DO block";
		else if (IsA(stmt, CallStmt))
			unfollowed_code = psprintf("it calls the procedure %s",
									   format_procedure(((CallStmt *) stmt)->funcexpr->funcid));
		else if (IsA(stmt, CreateExtensionStmt) || IsA(stmt, AlterExtensionStmt))
			unfollowed_code = "it runs an extension's script";
		else if (IsA(stmt, TruncateStmt))
		{
			ListCell   *lc;

			foreach(lc, ((TruncateStmt *) stmt)->relations)
			{
				Oid			relid = RangeVarGetRelid((RangeVar *) lfirst(lc), NoLock, true);

				if (OidIsValid(relid))
					find_user_trigger(relid);
			}
		}
		if (unfollowed_code == NULL && GetCommandLogLevel(stmt) == LOGSTMT_DDL &&
			(EventCacheLookup(EVT_DDLCommandStart) != NIL ||
			 EventCacheLookup(EVT_DDLCommandEnd) != NIL ||
			 EventCacheLookup(EVT_SQLDrop) != NIL ||
			 EventCacheLookup(EVT_TableRewrite) != NIL))
			unfollowed_code = "event triggers run on DDL in this database";
		return;
	}
	find_user_code_walker((Node *) query, NULL);
	if (unfollowed_code == NULL && query->resultRelation > 0)
		find_user_trigger(rt_fetch(query->resultRelation, query->rtable)->relid);
	if (unfollowed_code == NULL)
	{
		ListCell   *lc;

		/* Triggers of the tables that data-changing WITH queries change. */
		foreach(lc, query->cteList)
		{
			CommonTableExpr *cte = (CommonTableExpr *) lfirst(lc);
			Query	   *cteq = (Query *) cte->ctequery;

			if (IsA(cteq, Query) && cteq->resultRelation > 0)
				find_user_trigger(rt_fetch(cteq->resultRelation, cteq->rtable)->relid);
		}
	}
}

/*
 * What one analyzed statement would do, described as the hooks describe
 * it: a utility statement by the utility hook's code, anything else by the
 * executor hook's, on its plan.  A statement that runs another (EXPLAIN
 * ANALYZE, COPY (...) TO, CREATE TABLE AS) is described by what it runs,
 * which is what the executor hook sees in production.
 */
static List *
describe_query(Query *query, const char *script)
{
	GuardAttempt *attempt;
	List	   *found;

	find_user_code(query);
	if (query->commandType == CMD_UTILITY)
	{
		Node	   *stmt = query->utilityStmt;

		if (IsA(stmt, ExplainStmt) && explain_runs((ExplainStmt *) stmt))
			return describe_queries(QueryRewrite(castNode(Query, ((ExplainStmt *) stmt)->query)),
									script);
		if (IsA(stmt, CreateTableAsStmt) && !((CreateTableAsStmt *) stmt)->into->skipData)
			return describe_queries(QueryRewrite(castNode(Query, ((CreateTableAsStmt *) stmt)->query)),
									script);
		if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->query != NULL)
		{
			RawStmt    *raw = makeNode(RawStmt);

			raw->stmt = ((CopyStmt *) stmt)->query;
			raw->stmt_location = query->stmt_location;
			raw->stmt_len = query->stmt_len;
			return describe_queries(pg_analyze_and_rewrite_fixedparams(raw, script,
																	   NULL, 0, NULL),
									script);
		}

		attempt = (GuardAttempt *) palloc0(sizeof(GuardAttempt));
		if (!guard_describe_utility(stmt, attempt))
			attempt->command = GetCommandTagName(CreateCommandTag(stmt));
		return list_make1(attempt);
	}

	found = guard_describe_plan(guard_plan_query(query, script,
												 CURSOR_OPT_PARALLEL_OK, NULL),
								script);
	if (found != NIL)
		return found;
	attempt = (GuardAttempt *) palloc0(sizeof(GuardAttempt));
	attempt->command = GetCommandTagName(CreateCommandTag((Node *) query));
	return list_make1(attempt);
}

static List *
describe_queries(List *queries, const char *script)
{
	List	   *attempts = NIL;
	ListCell   *lc;

	foreach(lc, queries)
		attempts = list_concat(attempts, describe_query((Query *) lfirst(lc), script));
	return attempts;
}

/* What production would do with one statement. */
static List *
dry_run_describe(RawStmt *raw, const char *script)
{
	List	   *rows = NIL;
	List	   *attempts;
	ListCell   *lc;
	bool		refused = false;

	unfollowed_code = NULL;
	attempts = describe_queries(pg_analyze_and_rewrite_fixedparams(raw, script,
																   NULL, 0, NULL),
								script);
	foreach(lc, attempts)
	{
		GuardAttempt *attempt = (GuardAttempt *) lfirst(lc);
		GuardDecision decision;
		DryRunRow  *row;

		guard_decide_in(attempt, GUARD_ENV_PRODUCTION, false, &decision);
		row = dry_run_row(attempt, &decision);
		refused |= (decision.verdict == GUARD_VERDICT_BLOCKED);
		/* What would run is unknown while code it runs is not followed. */
		if (unfollowed_code != NULL && decision.verdict != GUARD_VERDICT_BLOCKED &&
			decision.verdict != GUARD_VERDICT_ALLOWED)
			continue;
		rows = lappend(rows, row);
	}
	if (unfollowed_code != NULL && !refused)
	{
		DryRunRow  *row = (DryRunRow *) palloc0(sizeof(DryRunRow));

		row->command = GetCommandTagName(CreateCommandTag(raw->stmt));
		row->verdict = "cannot tell";
		row->detail = psprintf("%s, which the dry run does not follow; production judges each statement that code runs",
							   unfollowed_code);
		rows = lappend(rows, row);
	}
	return rows;
}

/*
 * The script's statements.  A syntax error names the line of the script:
 * its position would otherwise point into the query that called us.
 */
static List *
parse_script(const char *script)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile statements = NIL;

	PG_TRY();
	{
		statements = raw_parser(script, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *error;
		int			line = 1;
		int			i;

		MemoryContextSwitchTo(cxt);
		error = CopyErrorData();
		FlushErrorState();
		for (i = 0; script[i] != '\0' && i < error->cursorpos - 1; i++)
		{
			if (script[i] == '\n')
				line++;
		}
		ereport(ERROR,
				(errcode(error->sqlerrcode),
				 errmsg("could not parse the script: %s", error->message),
				 error->cursorpos > 0 ?
				 errdetail("The error is on line %d of the script.", line) : 0));
	}
	PG_END_TRY();
	return statements;
}
/*
 * Permit this session one ALTER SYSTEM that weakens a setting, with a
 * reason, for the next five minutes.
 */
Datum
guard_permit_alter_system_sql(PG_FUNCTION_ARGS)
{
	char	   *setting = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(1));

	guard_permit_alter_system(setting, reason);

	ereport(LOG,
			(errmsg("guard: ALTER SYSTEM of \"%s\" permitted for this session: %s",
					setting, reason)));
	ereport(NOTICE,
			(errmsg("ALTER SYSTEM of \"%s\" is permitted once in this session for the next 5 minutes",
					setting)));
	PG_RETURN_VOID();
}

/*
 * Remove audit rows older than an interval: for superusers, the one way to
 * remove audit rows without the override in production.  It records itself.
 */
Datum
guard_prune(PG_FUNCTION_ARGS)
{
	Interval	zero;
	Datum		cutoff;
	Oid			audit_relid;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	uint64		removed = 0;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function guard.prune"),
				 errdetail("Only a superuser may remove audit rows.")));
	memset(&zero, 0, sizeof(zero));
	if (PG_ARGISNULL(0) ||
		DatumGetBool(DirectFunctionCall2(interval_le, PG_GETARG_DATUM(0),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("guard.prune needs a positive interval"),
				 errdetail("Rows recorded before now() minus the interval are removed.")));

	cutoff = DirectFunctionCall2(timestamptz_mi_interval,
								 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
								 PG_GETARG_DATUM(0));
	audit_relid = get_relname_relid("audit", get_namespace_oid("guard", false));
	args[0] = cutoff;

	SPI_connect();
	guard_pruning = true;
	PG_TRY();
	{
		if (SPI_execute_with_args("DELETE FROM guard.audit WHERE at < $1",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove audit rows");
		removed = SPI_processed;
	}
	PG_FINALLY();
	{
		guard_pruning = false;
	}
	PG_END_TRY();
	SPI_finish();

	guard_record_prune(audit_relid,
					   debug_query_string ? debug_query_string : "guard.prune",
					   timestamptz_to_str(DatumGetTimestampTz(cutoff)),
					   removed);
	PG_RETURN_INT64((int64) removed);
}

/*
 * Statement by statement, what production would refuse in a script, and
 * why, without running any of it: each statement is parsed, analyzed and
 * (for DELETE and UPDATE) planned, described by the hooks' own code and
 * judged by the policy as in production without an override, inside a
 * subtransaction that is always rolled back.
 */
Datum
guard_dry_run(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *script = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext oldcxt;
	ListCell   *lc;
	int			n = 0;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("guard.dry_run must be called in the FROM clause")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcxt);

	foreach(lc, parse_script(script))
	{
		RawStmt    *raw = (RawStmt *) lfirst(lc);
		char	   *statement = guard_statement_text(script, raw->stmt_location,
													 raw->stmt_len);
		List	   *rows = NIL;
		ListCell   *rc;

		n++;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			rows = dry_run_describe(raw, script);
		}
		PG_CATCH();
		{
			ErrorData  *error;
			DryRunRow  *row;

			MemoryContextSwitchTo(cxt);
			error = CopyErrorData();
			FlushErrorState();
			row = (DryRunRow *) palloc0(sizeof(DryRunRow));
			row->command = GetCommandTagName(CreateCommandTag(raw->stmt));
			row->verdict = "error";
			row->detail = error->message;
			rows = list_make1(row);
		}
		PG_END_TRY();
		/* Nothing of the analysis stays: no lock, no cached state. */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;

		foreach(rc, rows)
		{
			DryRunRow  *row = (DryRunRow *) lfirst(rc);
			Datum		values[6];
			bool		nulls[6];
			Datum	   *names;
			ListCell   *oc;
			int			i = 0;

			memset(nulls, 0, sizeof(nulls));
			names = (Datum *) palloc(sizeof(Datum) * Max(list_length(row->objects), 1));
			foreach(oc, row->objects)
				names[i++] = CStringGetTextDatum((char *) lfirst(oc));

			values[0] = Int32GetDatum(n);
			values[1] = CStringGetTextDatum(statement);
			values[2] = CStringGetTextDatum(row->command);
			values[3] = CStringGetTextDatum(row->verdict);
			values[4] = PointerGetDatum(construct_array(names, i, TEXTOID, -1,
														false, TYPALIGN_INT));
			values[5] = row->detail ? CStringGetTextDatum(row->detail) : (Datum) 0;
			nulls[5] = (row->detail == NULL);
			tuplestore_putvalues(store, tupdesc, values, nulls);
		}
	}

	return (Datum) 0;
}
