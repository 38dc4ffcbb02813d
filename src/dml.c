/*-------------------------------------------------------------------------
 *
 * dml.c
 *		DELETE and UPDATE that would change every row of a table.
 *
 * The check runs in ExecutorStart, on the plan about to run, so that it
 * sees every execution however the statement arrived: typed, prepared and
 * re-executed from a cached plan, produced by a rule, run through SPI by a
 * function, trigger or procedure, or nested in a WITH clause.  Judging at
 * execution rather than at planning matters: a cached plan outlives the
 * environment and the override it was planned under.
 *
 * A plan changes every row when nothing between the table and the
 * ModifyTable node filters rows: no qual on any scan or join, no index or
 * TID condition, no gating Result, no run-time partition pruning.  That is
 * the case for a statement without WHERE, and also for WHERE clauses the
 * planner folds to true (WHERE true, WHERE 1 = 1).  Row-level security
 * policies and the quals of updatable views count as conditions; a foreign
 * table counts as filtered when its FDW reports the remote conditions in
 * fdw_recheck_quals, as postgres_fdw does.
 *
 * guard.max_rows limits, in production, how many rows a DELETE or UPDATE
 * with a condition may change, rules' actions and WITH clauses included;
 * it is checked in ExecutorFinish.  It also limits how many large objects
 * one statement rewrites with lo_truncate, lowrite or lo_put (see
 * count_lo_writes).
 *
 * A statement without DELETE or UPDATE pays a few comparisons here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_largeobject.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "compat.h"
#include "guard.h"

/* Saved hook values, to chain to. */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static bool needs_row_counts(PlannedStmt *pstmt);

/* The relations whose rows a ModifyTable node changes. */
typedef struct Target
{
	List	   *rtable;
	Bitmapset  *rtis;			/* their range table indexes, or NULL: any */
	List	   *relids;			/* their OIDs */
} Target;

/* The command tag of what a ModifyTable node does. */
static const char *
modify_command(ModifyTable *mt)
{
	switch (mt->operation)
	{
		case CMD_DELETE:
			return "DELETE";
		case CMD_UPDATE:
			return "UPDATE";
		case CMD_MERGE:
			return "MERGE";
		default:
			return "INSERT";
	}
}

/*
 * Whether a statement may change existing rows: DELETE, UPDATE, MERGE, an
 * INSERT ... ON CONFLICT DO UPDATE, or any of them in WITH.  The test every
 * statement pays.
 */
static bool
may_change_rows(PlannedStmt *pstmt)
{
	switch (pstmt->commandType)
	{
		case CMD_DELETE:
		case CMD_UPDATE:
		case CMD_MERGE:
			return true;
		case CMD_INSERT:
			return pstmt->hasModifyingCTE ||
				(IsA(pstmt->planTree, ModifyTable) &&
				 ((ModifyTable *) pstmt->planTree)->onConflictAction == ONCONFLICT_UPDATE);
		default:
			return pstmt->hasModifyingCTE;
	}
}

/* The range table index a plan node scans, or 0. */
static Index
scan_rti(Plan *plan)
{
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_ForeignScan:
		case T_CustomScan:
			return ((Scan *) plan)->scanrelid;
		default:
			return 0;
	}
}

static bool reaches_target(Plan *plan, const Target *target);
static bool target_filtered(Plan *plan, const Target *target);

/* Whether any of a list of plans reads rows of the target. */
static bool
any_reaches_target(List *plans, const Target *target)
{
	ListCell   *lc;

	foreach(lc, plans)
	{
		if (reaches_target((Plan *) lfirst(lc), target))
			return true;
	}
	return false;
}

/* Whether any of a list of plans keeps some of the target's rows out. */
static bool
any_target_filtered(List *plans, const Target *target)
{
	ListCell   *lc;

	foreach(lc, plans)
	{
		if (target_filtered((Plan *) lfirst(lc), target))
			return true;
	}
	return false;
}

/* Whether a plan tree reads rows of the target (a pushed-down join may). */
static bool
reaches_target(Plan *plan, const Target *target)
{
	Index		rti;

	if (plan == NULL)
		return false;
	if (target->rtis == NULL)
		return true;
	rti = scan_rti(plan);
	if (rti > 0)
		return bms_is_member(rti, target->rtis);
	switch (nodeTag(plan))
	{
		case T_ForeignScan:
		case T_CustomScan:
			return true;
		case T_Append:
			return any_reaches_target(((Append *) plan)->appendplans, target);
		case T_MergeAppend:
			return any_reaches_target(((MergeAppend *) plan)->mergeplans, target);
		case T_SubqueryScan:
			return reaches_target(((SubqueryScan *) plan)->subplan, target);
		default:
			return reaches_target(plan->lefttree, target) ||
				reaches_target(plan->righttree, target);
	}
}

/*
 * Whether a plan tree is the whole of one of the target's own tables: a
 * scan of it that keeps every row, under nodes that keep every row.
 * Joined to that, the target matches itself row for row.
 */
static bool
whole_target_table(Plan *plan, const Target *target)
{
	Index		rti;

	if (plan == NULL || plan->qual != NIL)
		return false;
	rti = scan_rti(plan);
	if (rti > 0)
		return IsA(plan, SeqScan) &&
			list_member_oid(target->relids, rt_fetch(rti, target->rtable)->relid);
	switch (nodeTag(plan))
	{
		case T_Hash:
		case T_Material:
		case T_Sort:
		case T_IncrementalSort:
		case T_Memoize:
		case T_Unique:
		case T_Gather:
		case T_GatherMerge:
			return whole_target_table(plan->lefttree, target);
		case T_Result:
			return ((Result *) plan)->resconstantqual == NULL &&
				whole_target_table(plan->lefttree, target);
		case T_SubqueryScan:
			return whole_target_table(((SubqueryScan *) plan)->subplan, target);
		default:
			return false;
	}
}

/*
 * Whether a join's condition can keep a row of the target out: it has one,
 * and the other side is not the target's whole table again.
 */
static bool
join_restricts(Plan *plan, const Target *target)
{
	Join	   *join = (Join *) plan;
	bool		condition;
	Plan	   *other;

	switch (nodeTag(plan))
	{
		case T_NestLoop:
			condition = join->joinqual != NIL || ((NestLoop *) plan)->nestParams != NIL;
			break;
		case T_MergeJoin:
			condition = join->joinqual != NIL || ((MergeJoin *) plan)->mergeclauses != NIL;
			break;
		case T_HashJoin:
			condition = join->joinqual != NIL || ((HashJoin *) plan)->hashclauses != NIL;
			break;
		default:
			return false;
	}
	if (!condition)
		return false;
	other = reaches_target(plan->lefttree, target) ? plan->righttree : plan->lefttree;
	return !whole_target_table(other, target);
}

/* Whether a plan node has a condition of its own that can keep rows out. */
static bool
node_has_condition(Plan *plan)
{
	if (plan->qual != NIL)
		return true;
	switch (nodeTag(plan))
	{
		case T_SampleScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_Limit:
			return true;
		case T_IndexScan:
			return ((IndexScan *) plan)->indexqualorig != NIL;
		case T_IndexOnlyScan:
			return ((IndexOnlyScan *) plan)->indexqual != NIL;
		case T_ForeignScan:
			return ((ForeignScan *) plan)->fdw_recheck_quals != NIL;
		default:
			return false;
	}
}

/*
 * Whether anything on the way from the target's scan up keeps some of its
 * rows out: a condition on its scan, an index or TID condition, a join
 * condition (against anything but the target's whole table again), a
 * gating Result, run-time partition pruning.  A condition on another table
 * joined to it does not: DELETE FROM t USING u WHERE u.flag deletes every
 * row of t.
 */
static bool
target_filtered(Plan *plan, const Target *target)
{
	if (plan == NULL)
		return false;
	if (IsA(plan, Result) && ((Result *) plan)->resconstantqual != NULL)
		return true;
	if (!reaches_target(plan, target))
		return false;
	if (node_has_condition(plan))
		return true;

	switch (nodeTag(plan))
	{
		case T_CustomScan:
			return ((CustomScan *) plan)->custom_exprs != NIL ||
				any_target_filtered(((CustomScan *) plan)->custom_plans, target);
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			if (join_restricts(plan, target))
				return true;
			break;
		case T_Append:
			{
				Append	   *append = (Append *) plan;

				/* No children means no rows; pruning means a condition. */
				return append->appendplans == NIL || guard_plan_prunes(append) ||
					any_target_filtered(append->appendplans, target);
			}
		case T_MergeAppend:
			{
				MergeAppend *append = (MergeAppend *) plan;

				return append->mergeplans == NIL || guard_plan_prunes(append) ||
					any_target_filtered(append->mergeplans, target);
			}
		case T_SubqueryScan:
			return target_filtered(((SubqueryScan *) plan)->subplan, target);
		default:
			break;
	}

	return target_filtered(plan->lefttree, target) ||
		target_filtered(plan->righttree, target);
}

/* Describe the table a ModifyTable node changes, as the given action. */
static GuardTarget *
describe_modified(PlannedStmt *pstmt, ModifyTable *mt, GuardAction action)
{
	GuardTarget *target;
	ListCell   *lc;

	target = guard_target_modified(rt_fetch(mt->nominalRelation, pstmt->rtable)->relid,
								   action);
	if (target == NULL)
		return NULL;

	/*
	 * The statement names one table but changes every partition or child
	 * in resultRelations; it is temporary, new or exempt only if they all
	 * are.
	 */
	foreach(lc, mt->resultRelations)
	{
		Oid			relid = rt_fetch(lfirst_int(lc), pstmt->rtable)->relid;
		GuardTarget *member;

		if (relid == target->objid)
			continue;
		member = guard_target_relation(relid, 0, action);
		if (member == NULL)
			continue;
		target->temporary &= member->temporary;
		target->created_here &= member->created_here;
		target->exempt &= member->exempt;
	}

	/* Decide on data: it changes nothing if no row it can see is there. */
	if (guard_target_may_lose(target))
	{
		target->empty = true;
		foreach(lc, mt->resultRelations)
		{
			if (!guard_relation_visibly_empty(rt_fetch(lfirst_int(lc), pstmt->rtable)->relid))
			{
				target->empty = false;
				break;
			}
		}
	}
	return target;
}

/*
 * What a MERGE does to the rows its join matches without a further
 * condition: DELETE, UPDATE, or nothing (CMD_NOTHING).  A WHEN MATCHED
 * action with an AND condition can keep rows out; so can the join.
 */
static CmdType
merge_unconditional(ModifyTable *mt)
{
	CmdType		result = CMD_NOTHING;
	ListCell   *lc;

	if (mt->mergeActionLists == NIL)
		return CMD_NOTHING;
	foreach(lc, (List *) linitial(mt->mergeActionLists))
	{
		MergeAction *action = (MergeAction *) lfirst(lc);

		if (!guard_merge_action_matched(action) || action->qual != NULL)
			continue;
		if (action->commandType == CMD_DELETE)
			return CMD_DELETE;
		if (action->commandType == CMD_UPDATE)
			result = CMD_UPDATE;
	}
	return result;
}

/*
 * Whether a ModifyTable node would change every row of its table, and
 * how: a DELETE or UPDATE whose rows nothing filters; a MERGE whose join
 * keeps no row of the target out, with an unconditional WHEN MATCHED
 * DELETE or UPDATE; an INSERT ... ON CONFLICT DO UPDATE (without WHERE)
 * whose rows are the whole target table again, each one conflicting with
 * itself.  Returns CMD_NOTHING otherwise.
 */
static CmdType
changes_every_row(PlannedStmt *pstmt, ModifyTable *mt)
{
	Target		target;
	CmdType		command;
	ListCell   *lc;

	switch (mt->operation)
	{
		case CMD_DELETE:
		case CMD_UPDATE:
			command = mt->operation;
			break;
		case CMD_MERGE:
			command = merge_unconditional(mt);
			break;
		case CMD_INSERT:
			command = (mt->onConflictAction == ONCONFLICT_UPDATE &&
					   mt->onConflictWhere == NULL) ? CMD_UPDATE : CMD_NOTHING;
			break;
		default:
			command = CMD_NOTHING;
			break;
	}
	if (command == CMD_NOTHING)
		return CMD_NOTHING;

	/*
	 * The common case, first and without allocating: a DELETE or UPDATE of
	 * one table whose scan of it has a condition of its own.
	 */
	if (mt->operation != CMD_INSERT && list_length(mt->resultRelations) == 1 &&
		outerPlan(mt) != NULL &&
		scan_rti(outerPlan(mt)) == (Index) linitial_int(mt->resultRelations) &&
		node_has_condition(outerPlan(mt)))
		return CMD_NOTHING;

	target.rtable = pstmt->rtable;
	target.rtis = NULL;
	target.relids = NIL;
	foreach(lc, mt->resultRelations)
	{
		target.rtis = bms_add_member(target.rtis, lfirst_int(lc));
		target.relids = lappend_oid(target.relids,
									rt_fetch(lfirst_int(lc), pstmt->rtable)->relid);
	}

	if (mt->operation == CMD_INSERT)
		return whole_target_table(outerPlan(mt), &target) ? command : CMD_NOTHING;

	/*
	 * A view changed through INSTEAD OF triggers is not scanned itself: its
	 * rows come from its query, and any condition in it counts.
	 */
	if (!reaches_target(outerPlan(mt), &target))
	{
		bms_free(target.rtis);
		target.rtis = NULL;
	}
	return target_filtered(outerPlan(mt), &target) ? CMD_NOTHING : command;
}

static GuardAttempt *
describe_modify(PlannedStmt *pstmt, Plan *plan, const char *source)
{
	ModifyTable *mt;
	GuardTarget *target;
	GuardAttempt *attempt;
	CmdType		command;

	if (plan == NULL || !IsA(plan, ModifyTable))
		return NULL;
	mt = (ModifyTable *) plan;
	command = changes_every_row(pstmt, mt);

	/*
	 * guard.audit is the record of every attempt: any row it loses is lost
	 * evidence, whatever the condition (guard.prune removes old rows).
	 */
	if (command == CMD_NOTHING && mt->operation != CMD_INSERT && !guard_pruning &&
		guard_queue_is_audit_table(rt_fetch(mt->nominalRelation, pstmt->rtable)->relid))
		command = mt->operation == CMD_UPDATE ? CMD_UPDATE : CMD_DELETE;
	if (command == CMD_NOTHING)
		return NULL;

	target = describe_modified(pstmt, mt, command == CMD_DELETE ?
							   GUARD_ACTION_DELETE : GUARD_ACTION_UPDATE);
	if (target == NULL)
		return NULL;

	attempt = (GuardAttempt *) palloc0(sizeof(GuardAttempt));
	attempt->command = modify_command(mt);
	attempt->statement = guard_statement_text(source, pstmt->stmt_location,
											  pstmt->stmt_len);
	attempt->targets = list_make1(target);

	/*
	 * A table created in this transaction loses nothing, but its foreign
	 * keys' actions reach older tables that reference it.
	 */
	if (target->created_here && !target->temporary)
		attempt->targets =
			list_concat(attempt->targets,
						guard_targets_cascaded_from(target->objid, target->action,
													(mt->operation == CMD_UPDATE &&
													 list_length(mt->resultRelations) == 1) ?
													linitial(mt->updateColnosLists) : NIL));
	return attempt;
}

/*
 * The DELETEs and UPDATEs of a plan, its WITH clauses included, that would
 * change every row of their table.  For the hook and for the dry run.
 */
List *
guard_describe_plan(PlannedStmt *pstmt, const char *source)
{
	List	   *attempts = NIL;
	GuardAttempt *attempt;
	ListCell   *lc;

	attempt = describe_modify(pstmt, pstmt->planTree, source);
	if (attempt != NULL)
		attempts = lappend(attempts, attempt);
	/* A data-modifying WITH clause is planned as a subplan. */
	foreach(lc, pstmt->subplans)
	{
		attempt = describe_modify(pstmt, (Plan *) lfirst(lc), source);
		if (attempt != NULL)
			attempts = lappend(attempts, attempt);
	}
	return attempts;
}

/*
 * Large objects rewritten by one statement.  lo_truncate, lowrite and lo_put
 * write pg_largeobject directly, and PostgreSQL calls its own functions
 * without the function manager's hook, so their calls cannot be counted as
 * they happen.  What is known: the object-access hook tells, while the plan
 * is prepared, that an expression calls one (objaccess.c).  For such a plan
 * alone, and only while guard.max_rows is set, every node counts its rows;
 * once the statement has finished, the most rows that went through or were
 * filtered out by any one node bound how many times the function ran, each
 * call rewriting at most one object.  Over the limit, the statement is
 * refused and its writes, which are transactional, roll back.
 */
typedef struct LoCount
{
	QueryDesc  *queryDesc;
	Oid			funcid;			/* the writer its plan calls */
} LoCount;

/* Statements being counted; forgotten at the end of the transaction. */
static List *lo_counts = NIL;

static bool
count_rows(PlanState *planstate, void *context)
{
	if (planstate->instrument == NULL)
		planstate->instrument = guard_instr_alloc_rows();
	return planstate_tree_walker(planstate, count_rows, context);
}

static bool
most_rows(PlanState *planstate, void *context)
{
	GuardNodeInstrumentation *instr = planstate->instrument;
	double	   *most = (double *) context;

	if (instr != NULL)
		*most = Max(*most, instr->ntuples + instr->tuplecount +
					instr->nfiltered1 + instr->nfiltered2);
	return planstate_tree_walker(planstate, most_rows, context);
}

/* Walk every node of a statement's plan, its WITH queries' included. */
static void
walk_statement(QueryDesc *queryDesc, bool (*walker) (PlanState *, void *),
			   void *context)
{
	ListCell   *lc;

	walker(queryDesc->planstate, context);
	foreach(lc, queryDesc->estate->es_subplanstates)
	{
		if (lfirst(lc) != NULL)
			walker((PlanState *) lfirst(lc), context);
	}
}

static void
count_lo_writes(QueryDesc *queryDesc, Oid funcid)
{
	MemoryContext oldcxt;
	LoCount    *count;

	oldcxt = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
	walk_statement(queryDesc, count_rows, NULL);
	MemoryContextSwitchTo(TopMemoryContext);
	count = (LoCount *) palloc(sizeof(LoCount));
	count->queryDesc = queryDesc;
	count->funcid = funcid;
	lo_counts = lappend(lo_counts, count);
	MemoryContextSwitchTo(oldcxt);
}

static void
check_lo_writes(QueryDesc *queryDesc)
{
	ListCell   *lc;

	foreach(lc, lo_counts)
	{
		LoCount    *count = (LoCount *) lfirst(lc);
		double		rows = 0;
		GuardTarget *target;
		GuardAttempt attempt;

		if (count->queryDesc != queryDesc)
			continue;
		lo_counts = foreach_delete_current(lo_counts, lc);

		walk_statement(queryDesc, most_rows, &rows);
		if (!guard_rows_over_limit((uint64) rows))
			return;
		target = guard_target_relation(LargeObjectRelationId, 0,
									   GUARD_ACTION_UPDATE);
		if (target == NULL)
			return;
		memset(&attempt, 0, sizeof(attempt));
		attempt.command = get_func_name(count->funcid);
		attempt.statement = guard_statement_text(queryDesc->sourceText,
												 queryDesc->plannedstmt->stmt_location,
												 queryDesc->plannedstmt->stmt_len);
		attempt.targets = list_make1(target);
		attempt.rows = (uint64) rows;
		guard_enforce(&attempt);
		return;
	}
}

static void
forget_lo_counts(XactEvent event, void *arg)
{
	if (lo_counts == NIL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		list_free_deep(lo_counts);
		lo_counts = NIL;
	}
}

static void
guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;

	/* A plan prepared around this one keeps what it had found. */
	Oid			outer_lo_writer = guard_lo_writer_called;

	guard_lo_writer_called = InvalidOid;

	guard_session_check(NULL);
	if (may_change_rows(pstmt) &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
		guard_policy_active())
	{
		ListCell   *lc;

		foreach(lc, guard_describe_plan(pstmt, queryDesc->sourceText))
			guard_enforce((GuardAttempt *) lfirst(lc));

		if (guard_row_limit_set() && needs_row_counts(pstmt))
			queryDesc->instrument_options |= INSTRUMENT_ROWS;
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (unlikely(OidIsValid(guard_lo_writer_called)) &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
		queryDesc->planstate != NULL &&
		guard_row_limit_set() && guard_policy_active())
		count_lo_writes(queryDesc, guard_lo_writer_called);
	guard_lo_writer_called = outer_lo_writer;
}

/*
 * guard.max_rows: a DELETE or UPDATE whose condition matched more rows
 * than the limit.  The executor has counted them once it has finished;
 * the refusal rolls them all back, with what AFTER triggers did.
 *
 * The statement that sets the command tag counts its rows in es_processed
 * at no cost.  A rule's action and a DELETE or UPDATE inside WITH do not,
 * and an upsert's count mixes inserted and overwritten rows; for those
 * plans alone, and only while the limit is set, ExecutorStart asks the
 * executor to count rows (INSTRUMENT_ROWS), and the count is read from
 * what the ModifyTable node consumed, or from the conflicts it met.
 */
static bool
is_upsert(Plan *plan)
{
	return IsA(plan, ModifyTable) &&
		((ModifyTable *) plan)->onConflictAction == ONCONFLICT_UPDATE;
}

static bool
needs_row_counts(PlannedStmt *pstmt)
{
	ListCell   *lc;

	if (IsA(pstmt->planTree, ModifyTable) && !pstmt->canSetTag &&
		(pstmt->commandType == CMD_DELETE || pstmt->commandType == CMD_UPDATE))
		return true;
	if (is_upsert(pstmt->planTree))
		return true;
	if (!pstmt->hasModifyingCTE)
		return false;
	foreach(lc, pstmt->subplans)
	{
		Plan	   *plan = (Plan *) lfirst(lc);

		if (plan != NULL && IsA(plan, ModifyTable) &&
			(((ModifyTable *) plan)->operation == CMD_DELETE ||
			 ((ModifyTable *) plan)->operation == CMD_UPDATE ||
			 is_upsert(plan)))
			return true;
	}
	return false;
}

static void
refuse_over_limit(QueryDesc *queryDesc, ModifyTable *mt, uint64 rows)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	GuardTarget *target;
	GuardAttempt attempt;

	target = describe_modified(pstmt, mt, mt->operation == CMD_DELETE ?
							   GUARD_ACTION_DELETE : GUARD_ACTION_UPDATE);
	if (target == NULL)
		return;

	memset(&attempt, 0, sizeof(attempt));
	attempt.command = modify_command(mt);
	attempt.statement = guard_statement_text(queryDesc->sourceText,
											 pstmt->stmt_location,
											 pstmt->stmt_len);
	attempt.targets = list_make1(target);
	attempt.rows = rows;
	guard_enforce(&attempt);
}

/* Check a ModifyTable node that does not count into es_processed. */
static void
check_counted(QueryDesc *queryDesc, PlanState *planstate)
{
	ModifyTableState *mtstate;
	ModifyTable *mt;
	GuardNodeInstrumentation *instr;
	double		rows = 0;

	if (planstate == NULL || !IsA(planstate, ModifyTableState))
		return;
	mtstate = (ModifyTableState *) planstate;
	mt = (ModifyTable *) planstate->plan;

	/*
	 * An upsert overwrites the rows it conflicts with: the executor counts
	 * them as it does for EXPLAIN ANALYZE ("Conflicting Tuples"), those that
	 * the DO UPDATE's WHERE then leaves alone included.
	 */
	if (is_upsert((Plan *) mt))
	{
		instr = planstate->instrument;
		if (instr != NULL && guard_rows_over_limit((uint64) instr->ntuples2))
			refuse_over_limit(queryDesc, mt, (uint64) instr->ntuples2);
		return;
	}
	if (mt->canSetTag ||
		(mt->operation != CMD_DELETE && mt->operation != CMD_UPDATE))
		return;

	/*
	 * With RETURNING, the node returns one row per row it changed: a row
	 * that a BEFORE trigger skipped is not counted.  Without it, count the
	 * rows handed to the node.
	 */
	instr = mt->returningLists != NIL ? planstate->instrument :
		outerPlanState(mtstate)->instrument;
	if (instr != NULL)
		rows += instr->ntuples + instr->tuplecount;
	if (guard_rows_over_limit((uint64) rows))
		refuse_over_limit(queryDesc, mt, (uint64) rows);
}

/* guard.prune's own DELETE, which guard.max_rows does not limit. */
static bool
prunes_audit(PlannedStmt *pstmt)
{
	return guard_pruning && pstmt->commandType == CMD_DELETE &&
		IsA(pstmt->planTree, ModifyTable) &&
		guard_queue_is_audit_table(rt_fetch(((ModifyTable *) pstmt->planTree)->nominalRelation,
											pstmt->rtable)->relid);
}

static void
guard_ExecutorFinish(QueryDesc *queryDesc)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	EState	   *estate = queryDesc->estate;

	/*
	 * Count once PostgreSQL has finished the statement's work, a WITH
	 * clause that the main query did not read to its end included.  AFTER
	 * triggers have fired by then; the refusal rolls them back with the
	 * rows.
	 */
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);

	if (unlikely(lo_counts != NIL))
		check_lo_writes(queryDesc);

	if (guard_row_limit_set() && estate != NULL && may_change_rows(pstmt) &&
		!prunes_audit(pstmt) &&
		guard_policy_active())
	{
		/* A MERGE's count includes its inserts: only what it changed counts. */
		if (pstmt->commandType == CMD_MERGE && IsA(queryDesc->planstate, ModifyTableState))
		{
			ModifyTableState *mtstate = (ModifyTableState *) queryDesc->planstate;
			uint64		rows = (uint64) (mtstate->mt_merge_updated + mtstate->mt_merge_deleted);

			if (guard_rows_over_limit(rows))
				refuse_over_limit(queryDesc, (ModifyTable *) pstmt->planTree, rows);
		}
		else if ((pstmt->commandType == CMD_DELETE || pstmt->commandType == CMD_UPDATE) &&
				 pstmt->canSetTag && IsA(pstmt->planTree, ModifyTable) &&
				 guard_rows_over_limit(estate->es_processed))
			refuse_over_limit(queryDesc, (ModifyTable *) pstmt->planTree,
							  estate->es_processed);
		if ((queryDesc->instrument_options & INSTRUMENT_ROWS) != 0)
		{
			ListCell   *lc;

			check_counted(queryDesc, queryDesc->planstate);
			foreach(lc, estate->es_subplanstates)
				check_counted(queryDesc, (PlanState *) lfirst(lc));
		}
	}
}

void
guard_dml_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = guard_ExecutorStart;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = guard_ExecutorFinish;
	RegisterXactCallback(forget_lo_counts, NULL);
}
