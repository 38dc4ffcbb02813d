/*-------------------------------------------------------------------------
 *
 * objaccess.c
 *		The object-access hook: the backstop for everything that cascades.
 *
 * PostgreSQL calls this hook just before it drops each object of a
 * deletion, cascaded ones included, and before it truncates each table.
 * Tables and columns go to the guarded statement that is running (see
 * utility.c), which judges them all when it ends; a drop or truncate with
 * no guarded statement around it is judged at once, before it happens.
 *
 * It also learns which functions a plan calls (OAT_FUNCTION_EXECUTE, as the
 * executor prepares each call): the functions that rewrite large objects
 * are counted against guard.max_rows (dml.c).
 *
 * Drops PostgreSQL makes on its own (the transient heaps of CLUSTER,
 * VACUUM FULL, REFRESH MATERIALIZED VIEW and table rewrites, temporary
 * schema cleanup, ON COMMIT DROP) carry PERFORM_DELETION_INTERNAL and are
 * left alone, as sepgsql does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_largeobject.h"
#include "tcop/tcopprot.h"
#include "utils/fmgroids.h"

#include "guard.h"

/* Saved hook values, to chain to. */
static object_access_hook_type prev_object_access_hook = NULL;

/*
 * The last large-object writer that an expression being prepared calls
 * (InvalidOid: none).  guard_ExecutorStart reads and resets it around
 * the preparation of each plan.
 */
Oid			guard_lo_writer_called = InvalidOid;

/*
 * The functions that change the contents of an existing large object:
 * lo_truncate and lowrite through a descriptor opened for writing, lo_put
 * by the object's id.
 */
static bool
is_lo_writer(Oid funcid)
{
	return funcid == F_LO_TRUNCATE || funcid == F_LO_TRUNCATE64 ||
		funcid == F_LOWRITE || funcid == F_LO_PUT;
}

static const char *
command_for(ObjectAccessType access, const GuardTarget *target)
{
	if (access == OAT_TRUNCATE)
		return "TRUNCATE TABLE";
	switch (target->kind)
	{
		case GUARD_TARGET_COLUMN:
			return "ALTER TABLE";
		case GUARD_TARGET_DATABASE:
			return "DROP DATABASE";
		default:
			return "DROP TABLE";
	}
}

/*
 * Large objects unlinked by the current statement: lo_unlink() of many (a
 * SELECT over pg_largeobject_metadata) is counted against guard.max_rows,
 * each object as a row.  One is routine: applications replace their files.
 */
static void
count_large_object(void)
{
	static TimestampTz statement = 0;
	static uint64 unlinked = 0;
	GuardAttempt attempt;
	GuardTarget *target;

	if (!guard_row_limit_set() || !guard_policy_active())
		return;
	if (statement != GetCurrentStatementStartTimestamp())
	{
		statement = GetCurrentStatementStartTimestamp();
		unlinked = 0;
	}
	if (!guard_rows_over_limit(++unlinked))
		return;

	target = guard_target_relation(LargeObjectRelationId, 0, GUARD_ACTION_DELETE);
	if (target == NULL)
		return;
	memset(&attempt, 0, sizeof(attempt));
	attempt.command = "lo_unlink";
	attempt.statement = debug_query_string;
	attempt.targets = list_make1(target);
	attempt.rows = unlinked;
	guard_enforce(&attempt);
}

/*
 * A drop or a truncate, out of the hook's way (see guard_object_access):
 * the previous hook first, then guard's judgement.
 */
static pg_noinline void
object_destroyed(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	GuardTarget *target = NULL;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == LargeObjectRelationId)
	{
		count_large_object();
		return;
	}

	if (access == OAT_DROP)
	{
		ObjectAccessDrop *drop = (ObjectAccessDrop *) arg;

		if ((drop->dropflags & PERFORM_DELETION_INTERNAL) != 0 ||
			!guard_policy_active())
			return;
		if (classId == RelationRelationId)
			target = guard_target_relation(objectId, (AttrNumber) subId,
										   GUARD_ACTION_DROP);
		else if (classId == DatabaseRelationId)
			target = guard_target_database(objectId);
	}
	else if (access == OAT_TRUNCATE)
	{
		if (!guard_policy_active())
			return;
		/* An overridden TRUNCATE keeps what it empties (recyclebin.c). */
		guard_recycle_truncating(objectId);
		target = guard_target_relation(objectId, 0, GUARD_ACTION_TRUNCATE);
	}

	if (target == NULL)
		return;
	/* PostgreSQL holds the lock that keeps rows out by now. */
	guard_target_check_rows(target, NoLock);
	if (guard_statement_collect(target))
		return;

	{
		GuardAttempt attempt;

		memset(&attempt, 0, sizeof(attempt));
		attempt.command = command_for(access, target);
		attempt.statement = debug_query_string;
		attempt.targets = list_make1(target);
		guard_enforce(&attempt);
	}
}

/*
 * The hook itself.  PostgreSQL calls it for every function an executed
 * expression calls (OAT_FUNCTION_EXECUTE), on the hot path: that case is
 * decided here in a few instructions, and drops and truncates go on to
 * object_destroyed.
 */
static void
guard_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					int subId, void *arg)
{
	/*
	 * Noting the call needs nothing from the previous hook, which is then
	 * called last: nothing is kept across that call.
	 */
	if (access == OAT_FUNCTION_EXECUTE && unlikely(is_lo_writer(objectId)))
		guard_lo_writer_called = objectId;
	if (access == OAT_DROP || access == OAT_TRUNCATE)
		object_destroyed(access, classId, objectId, subId, arg);
	else if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
}

void
guard_objaccess_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = guard_object_access;
}
