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
 * it is checked in ExecutorFinish.
 *
 * A statement without DELETE or UPDATE pays a few comparisons here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "executor/instrument.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"

#include "compat.h"
#include "guard.h"

/* Saved hook values, to chain to. */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static bool plan_filters_rows(Plan *plan);
static bool needs_row_counts(PlannedStmt *pstmt);

static bool
any_filters_rows(List *plans)
{
	ListCell   *lc;

	foreach(lc, plans)
	{
		if (plan_filters_rows((Plan *) lfirst(lc)))
			return true;
	}
	return false;
}

/* Whether anything in this plan tree keeps some rows out. */
static bool
plan_filters_rows(Plan *plan)
{
	if (plan == NULL)
		return false;
	if (plan->qual != NIL)
		return true;

	switch (nodeTag(plan))
	{
		case T_Result:
			if (((Result *) plan)->resconstantqual != NULL)
				return true;
			break;
		case T_SampleScan:
		case T_BitmapHeapScan:
		case T_BitmapIndexScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_Limit:
			return true;
		case T_IndexScan:
			if (((IndexScan *) plan)->indexqualorig != NIL)
				return true;
			break;
		case T_IndexOnlyScan:
			if (((IndexOnlyScan *) plan)->indexqual != NIL)
				return true;
			break;
		case T_ForeignScan:
			if (((ForeignScan *) plan)->fdw_recheck_quals != NIL)
				return true;
			break;
		case T_CustomScan:
			if (((CustomScan *) plan)->custom_exprs != NIL)
				return true;
			return any_filters_rows(((CustomScan *) plan)->custom_plans);
		case T_NestLoop:
			if (((Join *) plan)->joinqual != NIL ||
				((NestLoop *) plan)->nestParams != NIL)
				return true;
			break;
		case T_MergeJoin:
			if (((Join *) plan)->joinqual != NIL ||
				((MergeJoin *) plan)->mergeclauses != NIL)
				return true;
			break;
		case T_HashJoin:
			if (((Join *) plan)->joinqual != NIL ||
				((HashJoin *) plan)->hashclauses != NIL)
				return true;
			break;
		case T_Append:
			{
				Append	   *append = (Append *) plan;

				/* No children means no rows; pruning means a condition. */
				if (append->appendplans == NIL || guard_plan_prunes(append))
					return true;
				return any_filters_rows(append->appendplans);
			}
		case T_MergeAppend:
			{
				MergeAppend *append = (MergeAppend *) plan;

				if (append->mergeplans == NIL || guard_plan_prunes(append))
					return true;
				return any_filters_rows(append->mergeplans);
			}
		case T_SubqueryScan:
			return plan_filters_rows(((SubqueryScan *) plan)->subplan);
		default:
			break;
	}

	return plan_filters_rows(plan->lefttree) ||
		plan_filters_rows(plan->righttree);
}

/* Describe the table a DELETE or UPDATE changes, as its action. */
static GuardTarget *
describe_modified(PlannedStmt *pstmt, ModifyTable *mt)
{
	GuardAction action;
	GuardTarget *target;
	ListCell   *lc;

	action = (mt->operation == CMD_DELETE) ? GUARD_ACTION_DELETE : GUARD_ACTION_UPDATE;
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
	return target;
}

static GuardAttempt *
describe_modify(PlannedStmt *pstmt, Plan *plan, const char *source)
{
	ModifyTable *mt;
	GuardTarget *target;
	GuardAttempt *attempt;

	if (plan == NULL || !IsA(plan, ModifyTable))
		return NULL;
	mt = (ModifyTable *) plan;
	if (mt->operation != CMD_DELETE && mt->operation != CMD_UPDATE)
		return NULL;

	if (plan_filters_rows(outerPlan(mt)))
		return NULL;

	target = describe_modified(pstmt, mt);
	if (target == NULL)
		return NULL;

	attempt = (GuardAttempt *) palloc0(sizeof(GuardAttempt));
	attempt->command = (mt->operation == CMD_DELETE) ? "DELETE" : "UPDATE";
	attempt->statement = guard_statement_text(source, pstmt->stmt_location,
											  pstmt->stmt_len);
	attempt->targets = list_make1(target);
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

static void
guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;

	if ((pstmt->commandType == CMD_DELETE ||
		 pstmt->commandType == CMD_UPDATE ||
		 pstmt->hasModifyingCTE) &&
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
}

/*
 * guard.max_rows: a DELETE or UPDATE whose condition matched more rows
 * than the limit.  The executor has counted them by the time it finishes;
 * the refusal, before AFTER triggers fire, rolls them all back.
 *
 * The statement that sets the command tag counts its rows in es_processed
 * at no cost.  A rule's action and a DELETE or UPDATE inside WITH do not;
 * for those plans alone, and only while the limit is set, ExecutorStart
 * asks the executor to count rows (INSTRUMENT_ROWS), and the count is read
 * from what the ModifyTable node consumed.
 */
static bool
needs_row_counts(PlannedStmt *pstmt)
{
	ListCell   *lc;

	if (IsA(pstmt->planTree, ModifyTable) && !pstmt->canSetTag &&
		(pstmt->commandType == CMD_DELETE || pstmt->commandType == CMD_UPDATE))
		return true;
	if (!pstmt->hasModifyingCTE)
		return false;
	foreach(lc, pstmt->subplans)
	{
		Plan	   *plan = (Plan *) lfirst(lc);

		if (plan != NULL && IsA(plan, ModifyTable) &&
			(((ModifyTable *) plan)->operation == CMD_DELETE ||
			 ((ModifyTable *) plan)->operation == CMD_UPDATE))
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

	target = describe_modified(pstmt, mt);
	if (target == NULL)
		return;

	memset(&attempt, 0, sizeof(attempt));
	attempt.command = (mt->operation == CMD_DELETE) ? "DELETE" : "UPDATE";
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
	if (mt->canSetTag ||
		(mt->operation != CMD_DELETE && mt->operation != CMD_UPDATE))
		return;

	instr = outerPlanState(mtstate)->instrument;
	if (instr != NULL)
		rows += instr->ntuples + instr->tuplecount;
	if (guard_rows_over_limit((uint64) rows))
		refuse_over_limit(queryDesc, mt, (uint64) rows);
}

static void
guard_ExecutorFinish(QueryDesc *queryDesc)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	EState	   *estate = queryDesc->estate;

	if (guard_row_limit_set() && estate != NULL &&
		(pstmt->commandType == CMD_DELETE || pstmt->commandType == CMD_UPDATE ||
		 pstmt->hasModifyingCTE) &&
		guard_policy_active())
	{
		if (pstmt->canSetTag && IsA(pstmt->planTree, ModifyTable) &&
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

	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
}

void
guard_dml_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = guard_ExecutorStart;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = guard_ExecutorFinish;
}
