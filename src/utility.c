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
 * and hands the policy the two ways of setting them that the settings'
 * check hooks cannot tell apart (see guard_check_setting_statement).
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
#include "storage/lmgr.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
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

/* Whether an ALTER TABLE drops a column or moves a table under a label. */
static bool
alter_matters(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (cmd->subtype == AT_DropColumn || cmd->subtype == AT_AttachPartition ||
			cmd->subtype == AT_AlterColumnType)
			return true;
	}
	return false;
}

/* Whether a statement can drop or empty a table, directly or by cascade. */
/*
 * The work table that pg_repack creates in its schema "repack" at its
 * start, when that schema's label does not let guard's later refusal of
 * its clean-up through; NULL otherwise.  pg_repack empties and drops its
 * work tables when it finishes, and retries a refused drop on new
 * connections without end, leaving its trigger on the user's table: in
 * production it is refused at its start, losing nothing, with the set-up
 * in the hint.  The one statement guard refuses that destroys nothing.
 */
static RangeVar *
repack_work_table(Node *parsetree)
{
	RangeVar   *relation = NULL;
	GuardOps	needed = GUARD_OP(GUARD_ACTION_DROP) | GUARD_OP(GUARD_ACTION_DELETE);
	Oid			nspid;

	if (IsA(parsetree, CreateStmt))
		relation = ((CreateStmt *) parsetree)->relation;
	else if (IsA(parsetree, CreateTableAsStmt))
		relation = ((CreateTableAsStmt *) parsetree)->into->rel;
	if (relation == NULL || relation->schemaname == NULL ||
		strcmp(relation->schemaname, "repack") != 0 ||
		!OidIsValid(get_extension_oid("pg_repack", true)))
		return NULL;
	nspid = get_namespace_oid("repack", true);
	if (OidIsValid(nspid) &&
		(guard_exempt_ops(InvalidOid, nspid, false) & needed) == needed)
		return NULL;
	return relation;
}

static bool
statement_may_destroy(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateStmt:
		case T_CreateTableAsStmt:
			return repack_work_table(parsetree) != NULL;
		case T_DropStmt:
		case T_DropOwnedStmt:
		case T_DropdbStmt:
		case T_TruncateStmt:
			return true;
		case T_AlterTableStmt:
			return alter_matters((AlterTableStmt *) parsetree);
		case T_AlterObjectSchemaStmt:
			return ((AlterObjectSchemaStmt *) parsetree)->relation != NULL;
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
		stmt->removeType != OBJECT_FOREIGN_TABLE &&
		stmt->removeType != OBJECT_SEQUENCE)
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
			case OBJECT_SEQUENCE:
				if (relkind == RELKIND_SEQUENCE)
				{
					GuardTarget *target = guard_target_sequence(relid);

					if (target != NULL && !guard_target_member(target, targets))
						targets = lappend(targets, target);
				}
				continue;
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

		/* An attached partition falls under its new parent's labels. */
		if (cmd->subtype == AT_AttachPartition)
		{
			Oid			partid = lookup_relation(((PartitionCmd *) cmd->def)->name);

			target = OidIsValid(partid) ?
				guard_target_relabelled(partid, relid, InvalidOid) : NULL;
			if (target != NULL)
				targets = lappend(targets, target);
			continue;
		}
		/*
		 * A type change loses data only if it would change a value that is
		 * there: checked under the statement's own lock, so that no row
		 * comes in between.
		 */
		if (cmd->subtype == AT_AlterColumnType && cmd->name != NULL)
		{
			ColumnDef  *def = (ColumnDef *) cmd->def;

			attnum = get_attnum(relid, cmd->name);
			if (attnum <= 0)
				continue;
			LockRelationOid(relid, AccessExclusiveLock);
			target = guard_target_relation(relid, attnum, GUARD_ACTION_CHANGE_TYPE);
			if (target != NULL && guard_target_may_lose(target) &&
				guard_type_change_loses(relid, attnum, def->typeName,
										def->raw_default, stmt->relation->inh))
				targets = lappend(targets, target);
			continue;
		}
		if (cmd->subtype != AT_DropColumn || cmd->name == NULL)
			continue;
		attnum = get_attnum(relid, cmd->name);
		if (attnum <= 0)
			continue;
		target = guard_target_relation(relid, attnum, GUARD_ACTION_DROP_COLUMN);
		if (target != NULL && guard_target_check_rows(target, AccessExclusiveLock))
			targets = lappend(targets, target);
	}
	return targets;
}

/*
 * Whether each table a statement would drop, empty or drop a column of
 * holds a row, under the statement's own lock (AccessExclusiveLock, for
 * all of these), taken here first: no row can come in between.
 */
static List *
check_rows(List *targets)
{
	List	   *there = NIL;
	ListCell   *lc;

	/* What went away while its lock was awaited is PostgreSQL's to report. */
	foreach(lc, targets)
	{
		if (guard_target_check_rows((GuardTarget *) lfirst(lc), AccessExclusiveLock))
			there = lappend(there, lfirst(lc));
	}
	return there;
}

static List *
describe_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateStmt:
		case T_CreateTableAsStmt:
			{
				/* What pg_repack would drop when it finishes. */
				GuardTarget *target = (GuardTarget *) palloc0(sizeof(GuardTarget));

				target->kind = GUARD_TARGET_TABLE;
				target->action = GUARD_ACTION_DROP;
				target->relkind = RELKIND_RELATION;
				target->name = quote_qualified_identifier("repack",
														  repack_work_table(parsetree)->relname);
				return list_make1(target);
			}
		case T_DropStmt:
			return check_rows(describe_drop((DropStmt *) parsetree));
		case T_TruncateStmt:
			return check_rows(describe_truncate((TruncateStmt *) parsetree));
		case T_AlterTableStmt:
			return describe_alter_table((AlterTableStmt *) parsetree);
		case T_AlterObjectSchemaStmt:
			{
				/* A table moved to another schema falls under its label. */
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;
				Oid			relid = lookup_relation(stmt->relation);
				Oid			nspid = get_namespace_oid(stmt->newschema, true);
				GuardTarget *target = (OidIsValid(relid) && OidIsValid(nspid)) ?
					guard_target_relabelled(relid, InvalidOid, nspid) : NULL;

				return target ? list_make1(target) : NIL;
			}
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
				return check_rows(targets);
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

/* Whether a statement changes guard's settings, in any environment. */
static bool
statement_sets(Node *parsetree)
{
	return IsA(parsetree, AlterSystemStmt) || IsA(parsetree, AlterDatabaseSetStmt) ||
		IsA(parsetree, AlterRoleSetStmt);
}

/*
 * What a utility statement would change of guard's settings, or name to
 * destroy: for the hook and, the same way, for the dry run.  Returns false
 * when it is neither.
 */
bool
guard_describe_utility(Node *parsetree, GuardAttempt *attempt)
{
	if (statement_sets(parsetree))
	{
		attempt->command = GetCommandTagName(CreateCommandTag(parsetree));
		return guard_describe_setting_change(parsetree, attempt);
	}
	if (!statement_may_destroy(parsetree))
		return false;
	attempt->command = GetCommandTagName(CreateCommandTag(parsetree));
	attempt->targets = describe_statement(parsetree);
	return true;
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
 * Decide before the statement runs.  DROP DATABASE, which cannot be rolled
 * back and may fail after removing files, is decided and recorded here,
 * once.  Anything else is only refused here for what it names, and
 * recorded once it has succeeded: a setting change, decided here and
 * nowhere else; a drop, judged again with what it took by cascade.
 * Returns whether the decision is final.
 */
static bool
decide_before(Node *parsetree, GuardAttempt *attempt, GuardDecision *decision)
{
	bool		final = IsA(parsetree, DropdbStmt);

	if (final)
		guard_enforce(attempt);
	else
		guard_refuse_early(attempt, decision);
	return final;
}

static void
guard_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	GuardAttempt attempt;
	GuardDecision decision;
	GuardFrame	frame;
	GuardBinTruncate *volatile bin;
	List	   *kept = NIL;
	bool		final;

	guard_session_check(parsetree);

	/*
	 * Transaction control destroys nothing of its own (a transaction's
	 * statements were decided one by one): straight on, once a refused
	 * session has been looked at.  BEGIN and COMMIT are a good part of
	 * what a busy server runs.
	 */
	if (IsA(parsetree, TransactionStmt))
	{
		call_previous(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
		return;
	}
	guard_check_setting_statement(parsetree);

	/*
	 * Changes to guard's settings leave a trace in every environment; what
	 * destroys data is looked at only where the policy has work to do.
	 */
	memset(&attempt, 0, sizeof(attempt));
	if (guard_is_writer ||
		(!statement_sets(parsetree) && !guard_policy_active()) ||
		!guard_describe_utility(parsetree, &attempt))
	{
		call_previous(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
		return;
	}
	attempt.statement = guard_statement_text(queryString,
											 pstmt->stmt_location,
											 pstmt->stmt_len);
	final = decide_before(parsetree, &attempt, &decision);

	/*
	 * An overridden DROP TABLE or DROP SCHEMA keeps its tables instead
	 * (recyclebin.c); DROP OWNED keeps them and runs, and their entries are
	 * written once it is recorded.
	 */
	if (!final && guard_recycle_drop(parsetree, &attempt, &decision, &kept))
		return;

	if (statement_sets(parsetree))
	{
		call_previous(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
		guard_act(&attempt, &decision);
		return;
	}

	/* An overridden TRUNCATE keeps the storage it replaces. */
	bin = final ? NULL :
		guard_recycle_truncate_begin(parsetree, &attempt, &decision);

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
		if (bin != NULL)
			guard_recycle_truncate_leave(bin);
	}
	PG_END_TRY();

	/* Judge everything it named and everything it took with it. */
	if (!final)
	{
		attempt.targets = list_concat(attempt.targets, frame.late);
		guard_enforce(&attempt);
		if (kept != NIL)
			guard_recycle_drop_finish(kept, &attempt, &decision,
									  guard_last_audit_id);
		if (bin != NULL)
			guard_recycle_truncate_finish(bin, guard_last_audit_id);
	}
}

void
guard_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = guard_ProcessUtility;
}
