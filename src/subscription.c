/*-------------------------------------------------------------------------
 *
 * subscription.c
 *		What a logical replication worker destroys: a replicated TRUNCATE.
 *
 * A subscription's apply worker truncates through ExecuteTruncateGuts,
 * without the utility hook or the object access hook that a TRUNCATE
 * statement passes, so a TRUNCATE on a publisher empties the tables of a
 * production subscriber with no refusal and no record.  guard therefore
 * looks at a replication worker's transaction just before it commits:
 *
 * - a relcache invalidation names each relation the transaction changed
 *   (the callback is registered in logical replication workers only);
 * - a relation that this transaction did not create but gave new storage
 *   was truncated (the apply worker rewrites nothing else);
 * - the storage it had is still on disk until the commit, and its catalog
 *   row of before the transaction names it: if that storage has a block,
 *   the table may have held rows.
 *
 * The policy judges those tables as a TRUNCATE.  A refusal is an ERROR
 * before the commit: the transaction rolls back and nothing is lost; the
 * worker exits and retries, and the subscription waits until a DBA skips
 * that transaction (ALTER SUBSCRIPTION ... SKIP) or exempts the tables.
 *
 * Replicated row changes (DELETE, UPDATE) are not judged.  Each names one
 * row by its replica identity, as a statement on the publisher decided;
 * that statement is where guard judges the loss, if the publisher is
 * protected too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "replication/worker_internal.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "guard.h"

/* Relations whose relcache entries this transaction invalidated. */
static List *changed_relations = NIL;

static void
remember_relation(Datum arg, Oid relid)
{
	MemoryContext oldcxt;

	if (relid < FirstNormalObjectId || !IsTransactionState() ||
		list_member_oid(changed_relations, relid))
		return;
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	changed_relations = lappend_oid(changed_relations, relid);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Whether the storage a relation had before this transaction has a block:
 * its catalog row of before the transaction is the one this transaction
 * updated without having inserted it.
 */
static bool
storage_before_has_blocks(Oid relid)
{
	Relation	classrel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		blocks = true;	/* when it cannot tell: it may hold rows */

	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(classrel, ClassOidIndexId, true, SnapshotAny, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);

		if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)) &&
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tuple->t_data)) &&
			form->relfilenode != InvalidOid)
		{
			blocks = guard_storage_has_blocks(OidIsValid(form->reltablespace) ?
											  form->reltablespace : MyDatabaseTableSpace,
											  MyDatabaseId, form->relfilenode);
			break;
		}
	}
	systable_endscan(scan);
	table_close(classrel, AccessShareLock);
	return blocks;
}

/* Judge the tables that a replication worker's transaction truncated. */
static void
judge_replicated_truncate(void)
{
	GuardAttempt attempt;
	List	   *relations = changed_relations;
	ListCell   *lc;
	StringInfoData names;

	changed_relations = NIL;
	memset(&attempt, 0, sizeof(attempt));
	initStringInfo(&names);
	foreach(lc, relations)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel = RelationIdGetRelation(relid);
		bool		truncated;
		GuardTarget *target;

		if (!RelationIsValid(rel))
			continue;
		truncated = (rel->rd_rel->relkind == RELKIND_RELATION ||
					 rel->rd_rel->relkind == RELKIND_MATVIEW) &&
			rel->rd_createSubid == InvalidSubTransactionId &&
			GUARD_NEW_STORAGE_SUBID(rel) != InvalidSubTransactionId;
		RelationClose(rel);
		if (!truncated)
			continue;
		target = guard_target_relation(relid, 0, GUARD_ACTION_TRUNCATE);
		if (target == NULL)
			continue;
		target->empty = !storage_before_has_blocks(relid);
		attempt.targets = lappend(attempt.targets, target);
		appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", target->name);
	}
	if (attempt.targets == NIL)
		return;
	attempt.command = "TRUNCATE TABLE";
	attempt.statement = psprintf("TRUNCATE %s -- applied by subscription \"%s\"",
								 names.data,
								 MySubscription ? MySubscription->name : "?");
	guard_enforce(&attempt);
}

/*
 * The relcache callback is registered in logical replication workers only,
 * at the end of their first transaction: each reads its subscription in a
 * transaction of its own before it applies any change.  Other processes
 * find out once that they are not such a worker.
 */
static void
subscription_xact_callback(XactEvent event, void *arg)
{
	static bool looked = false;

	if (!looked)
	{
		looked = true;
		if (IsLogicalWorker())
			CacheRegisterRelcacheCallback(remember_relation, (Datum) 0);
		return;
	}
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		if (changed_relations != NIL && guard_policy_active())
			judge_replicated_truncate();
	}
	else
		changed_relations = NIL;
}

void
guard_subscription_init(void)
{
	RegisterXactCallback(subscription_xact_callback, NULL);
}
