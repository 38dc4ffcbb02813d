/*-------------------------------------------------------------------------
 *
 * utility.c
 *		The ProcessUtility hook: guard's primary gate.
 *
 * For a statement that can destroy table data, the hook describes, before
 * the statement runs and before it takes any lock, what it names: the
 * tables of DROP TABLE (and the partitions that go with them), every table
 * TRUNCATE would empty (inheritance and CASCADE included), the columns of
 * ALTER TABLE ... DROP COLUMN, the tables of the schema DROP SCHEMA ...
 * CASCADE drops, of the extension DROP EXTENSION drops and of the roles
 * DROP OWNED names, the database of DROP DATABASE.  If the policy refuses,
 * it refuses there, before anything is changed.
 *
 * What a statement destroys beyond that by cascade (the columns DROP TYPE
 * ... CASCADE takes, the tables depending on a dropped one) is known only
 * to PostgreSQL's dependency walk.  While such a statement runs, a frame is
 * open on the stack below; the object-access hook adds to it every table
 * and column actually dropped, and the policy judges the whole list when
 * the statement ends, before it returns.  A refusal there aborts the
 * transaction, so none of it is ever committed.
 *
 * The hook also hands changes to guard's own settings (ALTER SYSTEM,
 * ALTER DATABASE/ROLE ... SET) to config.c, so that each leaves a record,
 * and refuses the two ways of setting them that the settings' check hooks
 * cannot tell apart (see check_settings_stmt).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/heap.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "compat.h"
#include "guard.h"

/* Saved hook values, to chain to. */
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* A statement that may destroy data by cascade, while it runs. */
typedef struct GuardFrame
{
	struct GuardFrame *outer;	/* the statement that ran this one, if any */
	MemoryContext cxt;			/* lives as long as the statement */
	List	   *early;			/* targets described before it ran */
	List	   *late;			/* further targets dropped while it ran */
} GuardFrame;

static GuardFrame *current_frame = NULL;

/*
 * Called by the object-access hook for each table or column dropped or
 * truncated.  Returns false when no guarded statement is running, in which
 * case the caller must judge the target by itself.
 */
bool
guard_statement_collect(GuardTarget *target)
{
	GuardFrame *frame = current_frame;
	MemoryContext oldcxt;
	GuardTarget *copy;

	if (frame == NULL)
		return false;
	if (guard_target_member(target, frame->early))
		return true;

	oldcxt = MemoryContextSwitchTo(frame->cxt);
	copy = (GuardTarget *) palloc(sizeof(GuardTarget));
	*copy = *target;
	copy->name = pstrdup(target->name);
	frame->late = lappend(frame->late, copy);
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/*
 * guard.environment cannot be set from a function's SET clause, but the
 * value is validated with the same source as ALTER DATABASE ... SET, which
 * is allowed; and SET guard.override without LOCAL would outlive the
 * transaction.  Both are refused here, in every environment.
 */
static void
check_function_options(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		VariableSetStmt *set;

		if (strcmp(def->defname, "set") != 0 || !IsA(def->arg, VariableSetStmt))
			continue;
		set = (VariableSetStmt *) def->arg;
		if (set->name != NULL &&
			(pg_strcasecmp(set->name, "guard.environment") == 0 ||
			 pg_strcasecmp(set->name, "guard.max_rows") == 0 ||
			 pg_strcasecmp(set->name, "guard.override") == 0))
			ereport(ERROR,
					(errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
					 errmsg("parameter \"%s\" cannot be set in a function's SET clause",
							set->name)));
	}
}

static void
check_settings_stmt(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_VariableSetStmt:
			{
				VariableSetStmt *set = (VariableSetStmt *) parsetree;

				if ((set->kind == VAR_SET_VALUE || set->kind == VAR_SET_CURRENT) &&
					!set->is_local && set->name != NULL &&
					pg_strcasecmp(set->name, "guard.override") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
							 errmsg("parameter \"guard.override\" can only be set with SET LOCAL"),
							 errdetail("An override is honoured for the transaction that sets it and for no other."),
							 errhint("Run BEGIN; SET LOCAL guard.override = '<reason>'; then the statement, then COMMIT.")));
				break;
			}
		case T_CreateFunctionStmt:
			check_function_options(((CreateFunctionStmt *) parsetree)->options);
			break;
		case T_AlterFunctionStmt:
			check_function_options(((AlterFunctionStmt *) parsetree)->actions);
			break;
		default:
			break;
	}
}

static bool
alter_drops_column(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (cmd->subtype == AT_DropColumn)
			return true;
	}
	return false;
}

/* Whether a statement can drop or empty a table, directly or by cascade. */
static bool
statement_may_destroy(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
		case T_DropOwnedStmt:
		case T_DropdbStmt:
		case T_TruncateStmt:
			return true;
		case T_AlterTableStmt:
			return alter_drops_column((AlterTableStmt *) parsetree);
		default:
			return false;
	}
}

static List *
append_relation(List *targets, Oid relid, GuardAction action,
				bool with_inheritors)
{
	GuardTarget *target = guard_target_relation(relid, 0, action);

	if (target != NULL && !guard_target_member(target, targets))
		targets = lappend(targets, target);

	if (with_inheritors && has_subclass(relid))
	{
		List	   *children = find_all_inheritors(relid, NoLock, NULL);
		ListCell   *lc;

		foreach(lc, children)
		{
			Oid			child = lfirst_oid(lc);

			if (child != relid)
				targets = append_relation(targets, child, action, false);
		}
	}
	return targets;
}

static Oid
lookup_relation(RangeVar *rv)
{
	/*
	 * No lock: PostgreSQL takes its own when the statement runs, and what
	 * it then actually drops reaches the frame through the object-access
	 * hook, so a concurrent rename cannot slip past.
	 */
	return RangeVarGetRelidExtended(rv, NoLock, RVR_MISSING_OK, NULL, NULL);
}

/* Append the targets not already in the list. */
static List *
append_targets(List *targets, List *more)
{
	ListCell   *lc;

	foreach(lc, more)
	{
		if (!guard_target_member((GuardTarget *) lfirst(lc), targets))
			targets = lappend(targets, lfirst(lc));
	}
	return targets;
}

/*
 * DROP SCHEMA ... CASCADE and DROP EXTENSION name their tables only
 * implicitly; the catalog lists them before any lock is taken, so that
 * production refuses these before PostgreSQL's dependency walk starts.
 * What the walk finds beyond them reaches the frame later.
 */
static List *
describe_drop_container(DropStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		const char *name = strVal(lfirst(lc));
		Oid			oid;

		if (stmt->removeType == OBJECT_SCHEMA)
		{
			oid = get_namespace_oid(name, true);
			if (OidIsValid(oid))
				targets = append_targets(targets, guard_targets_in_schema(oid));
		}
		else
		{
			oid = get_extension_oid(name, true);
			if (OidIsValid(oid))
				targets = append_targets(targets, guard_targets_of_extension(oid));
		}
	}
	return targets;
}

static List *
describe_drop(DropStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;

	if ((stmt->removeType == OBJECT_SCHEMA && stmt->behavior == DROP_CASCADE) ||
		stmt->removeType == OBJECT_EXTENSION)
		return describe_drop_container(stmt);

	if (stmt->removeType != OBJECT_TABLE &&
		stmt->removeType != OBJECT_MATVIEW &&
		stmt->removeType != OBJECT_FOREIGN_TABLE)
		return NIL;

	foreach(lc, stmt->objects)
	{
		Oid			relid = lookup_relation(makeRangeVarFromNameList((List *) lfirst(lc)));
		char		relkind;
		bool		matches;

		if (!OidIsValid(relid))
			continue;

		/* A DROP of the wrong kind fails in PostgreSQL; let it say so. */
		relkind = get_rel_relkind(relid);
		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
				matches = (relkind == RELKIND_RELATION ||
						   relkind == RELKIND_PARTITIONED_TABLE);
				break;
			case OBJECT_MATVIEW:
				matches = (relkind == RELKIND_MATVIEW);
				break;
			default:
				matches = (relkind == RELKIND_FOREIGN_TABLE);
				break;
		}
		if (!matches)
			continue;

		/*
		 * Partitions go with their table; inheritance children only with
		 * CASCADE.
		 */
		targets = append_relation(targets, relid, GUARD_ACTION_DROP,
								  relkind == RELKIND_PARTITIONED_TABLE ||
								  stmt->behavior == DROP_CASCADE);
	}
	return targets;
}

static List *
describe_truncate(TruncateStmt *stmt)
{
	List	   *relids = NIL;
	List	   *targets = NIL;
	ListCell   *lc;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		Oid			relid = lookup_relation(rv);

		if (!OidIsValid(relid))
			continue;
		if (rv->inh && has_subclass(relid))
			relids = list_concat_unique_oid(relids,
											find_all_inheritors(relid, NoLock, NULL));
		else
			relids = list_append_unique_oid(relids, relid);
	}

	/* The same closure ExecuteTruncate computes for CASCADE. */
	if (stmt->behavior == DROP_CASCADE)
	{
		for (;;)
		{
			List	   *referencing = heap_truncate_find_FKs(relids);
			int			before = list_length(relids);

			relids = list_concat_unique_oid(relids, referencing);
			if (list_length(relids) == before)
				break;
		}
	}

	foreach(lc, relids)
		targets = append_relation(targets, lfirst_oid(lc), GUARD_ACTION_TRUNCATE,
								  false);
	return targets;
}

static List *
describe_alter_table(AlterTableStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;
	Oid			relid;

	/* A composite type's attributes hold no data; typed tables cascade. */
	if (stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_FOREIGN_TABLE)
		return NIL;

	relid = lookup_relation(stmt->relation);
	if (!OidIsValid(relid))
		return NIL;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		AttrNumber	attnum;
		GuardTarget *target;

		if (cmd->subtype != AT_DropColumn || cmd->name == NULL)
			continue;
		attnum = get_attnum(relid, cmd->name);
		if (attnum <= 0)
			continue;
		target = guard_target_relation(relid, attnum, GUARD_ACTION_DROP_COLUMN);
		if (target != NULL)
			targets = lappend(targets, target);
	}
	return targets;
}

static List *
describe_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			return describe_drop((DropStmt *) parsetree);
		case T_TruncateStmt:
			return describe_truncate((TruncateStmt *) parsetree);
		case T_AlterTableStmt:
			return describe_alter_table((AlterTableStmt *) parsetree);
		case T_DropOwnedStmt:
			{
				List	   *targets = NIL;
				ListCell   *lc;

				foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
				{
					Oid			roleid = get_rolespec_oid(lfirst(lc), true);

					if (OidIsValid(roleid))
						targets = append_targets(targets,
												 guard_targets_owned_by(roleid));
				}
				return targets;
			}
		case T_DropdbStmt:
			{
				Oid			dbid = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
				GuardTarget *target = OidIsValid(dbid) ? guard_target_database(dbid) : NULL;

				return target ? list_make1(target) : NIL;
			}
		default:
			return NIL;
	}
}

/* What a utility statement names, for the hook and for the dry run. */
List *
guard_describe_utility(Node *parsetree)
{
	return statement_may_destroy(parsetree) ? describe_statement(parsetree) : NIL;
}

static void
call_previous(PlannedStmt *pstmt, const char *queryString,
			  bool readOnlyTree, ProcessUtilityContext context,
			  ParamListInfo params, QueryEnvironment *queryEnv,
			  DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * A change to one of guard's settings: refused first if it weakens
 * protection where that is refused, recorded once it has been made.
 * Returns false for statements that change no guard setting.
 */
static bool
run_setting_change(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	GuardAttempt attempt;
	GuardDecision decision;

	memset(&attempt, 0, sizeof(attempt));
	attempt.command = GetCommandTagName(CreateCommandTag(parsetree));
	attempt.statement = guard_statement_text(queryString,
											 pstmt->stmt_location,
											 pstmt->stmt_len);
	if (!guard_describe_setting_change(parsetree, &attempt))
		return false;

	/*
	 * ALTER SYSTEM cannot be rolled back: it is recorded before it acts.
	 * The others are recorded once they have succeeded.
	 */
	guard_decide(&attempt, &decision);
	if (decision.verdict == GUARD_VERDICT_BLOCKED || IsA(parsetree, AlterSystemStmt))
	{
		guard_act(&attempt, &decision);
		call_previous(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
		return true;
	}
	call_previous(pstmt, queryString, readOnlyTree, context, params,
				  queryEnv, dest, qc);
	guard_act(&attempt, &decision);
	return true;
}

static void
guard_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	GuardAttempt attempt;
	GuardFrame	frame;
	bool		once;

	check_settings_stmt(parsetree);

	/* Changes to guard's settings leave a trace in every environment. */
	if ((IsA(parsetree, AlterSystemStmt) || IsA(parsetree, AlterDatabaseSetStmt) ||
		 IsA(parsetree, AlterRoleSetStmt)) && !guard_is_writer &&
		run_setting_change(pstmt, queryString, readOnlyTree, context,
						   params, queryEnv, dest, qc))
		return;

	if (!statement_may_destroy(parsetree) || !guard_policy_active())
	{
		call_previous(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
		return;
	}

	memset(&attempt, 0, sizeof(attempt));
	attempt.command = GetCommandTagName(CreateCommandTag(parsetree));
	attempt.statement = guard_statement_text(queryString,
											 pstmt->stmt_location,
											 pstmt->stmt_len);
	attempt.targets = describe_statement(parsetree);

	/*
	 * DROP DATABASE cannot be rolled back, and takes nothing else with it:
	 * it is decided once, and recorded, before it acts.  Anything else is
	 * refused here for what it names, before it changes anything.
	 */
	once = IsA(parsetree, DropdbStmt);
	if (once)
		guard_enforce(&attempt);
	else if (attempt.targets != NIL)
	{
		GuardDecision decision;

		guard_decide(&attempt, &decision);
		if (decision.verdict == GUARD_VERDICT_BLOCKED)
			guard_act(&attempt, &decision);
	}

	frame.outer = current_frame;
	frame.cxt = CurrentMemoryContext;
	frame.early = attempt.targets;
	frame.late = NIL;
	current_frame = &frame;
	PG_TRY();
	{
		call_previous(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		current_frame = frame.outer;
	}
	PG_END_TRY();

	/* Judge everything it named and everything it took with it. */
	if (!once)
	{
		attempt.targets = list_concat(attempt.targets, frame.late);
		guard_enforce(&attempt);
	}
}

void
guard_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = guard_ProcessUtility;
}
