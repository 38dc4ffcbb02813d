/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL versions guard compiles
 *		against (15 to 19).  No other file tests PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GUARD_COMPAT_H
#define GUARD_COMPAT_H

#include "postgres.h"

#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "executor/instrument.h"
#include "parser/analyze.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/wait_event.h"

/*
 * get_database_oid() and get_database_name() are declared by
 * catalog/pg_database.h and utils/lsyscache.h since 19; before, by
 * commands/dbcommands.h.
 */
#if PG_VERSION_NUM >= 190000
#include "catalog/pg_database.h"
#include "utils/lsyscache.h"
#else
#include "commands/dbcommands.h"
#endif

#if PG_VERSION_NUM < 150000
#error "guard needs PostgreSQL 15 or later"
#endif

/*
 * A GUC's value and its "extra" belong to the GUC module, which allocates
 * them with guc_malloc() since 16 and with plain malloc() before; a check
 * hook that replaces or frees one must use the same allocator.  LOG: a
 * check hook reports running out of memory by returning false.
 */
#if PG_VERSION_NUM >= 160000
#define guard_guc_malloc(size) guc_malloc(LOG, (size))
#define guard_guc_strdup(str) guc_strdup(LOG, (str))
#define guard_guc_free(ptr) guc_free(ptr)
#else
#define guard_guc_malloc(size) malloc(size)
#define guard_guc_strdup(str) strdup(str)
#define guard_guc_free(ptr) free(ptr)
#endif

/* The local transaction id moved into PGPROC.vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_MY_LXID (MyProc->vxid.lxid)
#else
#define GUARD_MY_LXID (MyProc->lxid)
#endif

/*
 * Index entries for a tuple just inserted, as a plain INSERT makes them.
 * 16 added onlySummarizing; 19 put the booleans into flags.
 */
#if PG_VERSION_NUM >= 190000
#define GUARD_INSERT_INDEX_TUPLES(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (estate), 0, (slot), NIL, NULL)
#elif PG_VERSION_NUM >= 160000
#define GUARD_INSERT_INDEX_TUPLES(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define GUARD_INSERT_INDEX_TUPLES(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/* A ResultRelInfo's CHECK constraint states, renamed in 18. */
#if PG_VERSION_NUM >= 180000
#define GUARD_RI_CHECK_EXPRS ri_CheckConstraintExprs
#else
#define GUARD_RI_CHECK_EXPRS ri_ConstraintExprs
#endif

/* LockHeldByMe() gained an "orstronger" argument in 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_LOCK_HELD_BY_ME(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define GUARD_LOCK_HELD_BY_ME(tag, mode) LockHeldByMe((tag), (mode))
#endif

/* Custom wait events have names of their own since 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_WAIT_EVENT(name) WaitEventExtensionNew(name)
#else
#define GUARD_WAIT_EVENT(name) PG_WAIT_EXTENSION
#endif

/*
 * Whether an Append or MergeAppend prunes partitions at run time: its own
 * PartitionPruneInfo until 17, an index into the plan's list of them since
 * 18.
 */
#if PG_VERSION_NUM >= 180000
#define guard_plan_prunes(append) ((append)->part_prune_index >= 0)
#else
#define guard_plan_prunes(append) ((append)->part_prune_info != NULL)
#endif

/*
 * Whether a MERGE action is a WHEN MATCHED one: a flag until 16, one of
 * three kinds since 17 (NOT MATCHED BY SOURCE is new).
 */
#if PG_VERSION_NUM >= 170000
#define guard_merge_action_matched(action) ((action)->matchKind == MERGE_WHEN_MATCHED)
#else
#define guard_merge_action_matched(action) ((action)->matched)
#endif

/*
 * A plan node's run-time counters: Instrumentation until 18, its
 * NodeInstrumentation part since 19.  The tuple counts keep their names.
 */
#if PG_VERSION_NUM >= 190000
typedef NodeInstrumentation GuardNodeInstrumentation;
#else
typedef Instrumentation GuardNodeInstrumentation;
#endif

/* A plan node's row counts, allocated on their own (InstrAllocNode in 19). */
#if PG_VERSION_NUM >= 190000
#define guard_instr_alloc_rows() InstrAllocNode(INSTRUMENT_ROWS, false)
#else
#define guard_instr_alloc_rows() InstrAlloc(1, INSTRUMENT_ROWS, false)
#endif

/* pg_plan_query() takes the EXPLAIN state, if any, since 19. */
#if PG_VERSION_NUM >= 190000
#define guard_plan_query(query, text, options, params) \
	pg_plan_query((query), (text), (options), (params), NULL)
#else
#define guard_plan_query(query, text, options, params) \
	pg_plan_query((query), (text), (options), (params))
#endif

/* table_beginscan() takes the caller's scan flags since 19. */
#if PG_VERSION_NUM >= 190000
#define guard_table_beginscan(rel, snapshot) table_beginscan((rel), (snapshot), 0, NULL, SO_NONE)
#else
#define guard_table_beginscan(rel, snapshot) table_beginscan((rel), (snapshot), 0, NULL)
#endif

/* The post-parse-analysis hook's jumble state is const since 19. */
#if PG_VERSION_NUM >= 190000
typedef const JumbleState GuardJumbleState;
#else
typedef JumbleState GuardJumbleState;
#endif

/*
 * Whether a relation's storage, by tablespace and file number, has a block
 * of its main fork: the storage a TRUNCATE replaced stays on disk until
 * its transaction commits.  Storage is named by a RelFileLocator since 16
 * and opened for a ProcNumber since 17; a new relation's storage was
 * flagged in the relcache as "new relfilelocator" since 16.
 */
#if PG_VERSION_NUM >= 160000
#define GUARD_NEW_STORAGE_SUBID(rel) ((rel)->rd_firstRelfilelocatorSubid)
#else
#define GUARD_NEW_STORAGE_SUBID(rel) ((rel)->rd_firstRelfilenodeSubid)
#endif

static inline bool
guard_storage_has_blocks(Oid spcoid, Oid dboid, Oid filenumber)
{
	SMgrRelation srel;

#if PG_VERSION_NUM >= 160000
	RelFileLocator locator;

	locator.spcOid = spcoid;
	locator.dbOid = dboid;
	locator.relNumber = filenumber;
#if PG_VERSION_NUM >= 170000
	srel = smgropen(locator, INVALID_PROC_NUMBER);
#else
	srel = smgropen(locator, InvalidBackendId);
#endif
#else
	RelFileNode locator;

	locator.spcNode = spcoid;
	locator.dbNode = dboid;
	locator.relNode = filenumber;
	srel = smgropen(locator, InvalidBackendId);
#endif
	return smgrexists(srel, MAIN_FORKNUM) && smgrnblocks(srel, MAIN_FORKNUM) > 0;
}

/*
 * A relation's storage, as the recycle bin hands it from a truncated table
 * to the table that keeps its rows: a RelFileNode until 15, a
 * RelFileLocator since 16, whose file number and relcache flag for "new in
 * this subtransaction" changed names with it.
 */
#if PG_VERSION_NUM >= 160000
typedef RelFileLocator GuardStorage;
#define GUARD_REL_STORAGE(rel) ((rel)->rd_locator)
#define GUARD_STORAGE_NUMBER(storage) ((storage).relNumber)
#define GUARD_STORAGE_NEW_HERE(rel) ((rel)->rd_newRelfilelocatorSubid)
#else
typedef RelFileNode GuardStorage;
#define GUARD_REL_STORAGE(rel) ((rel)->rd_node)
#define GUARD_STORAGE_NUMBER(storage) ((storage).relNode)
#define GUARD_STORAGE_NEW_HERE(rel) ((rel)->rd_newRelfilenodeSubid)
#endif

/* make_new_heap() is declared by commands/repack.h since 19. */
#if PG_VERSION_NUM >= 190000
#include "commands/repack.h"
#else
#include "commands/cluster.h"
#endif

/*
 * Give a pg_class row the size statistics of another (what the planner and
 * autovacuum know of the storage it now has); relallfrozen is new in 18.
 */
static inline void
guard_copy_class_stats(Form_pg_class to, const FormData_pg_class *from)
{
	to->relpages = from->relpages;
	to->reltuples = from->reltuples;
	to->relallvisible = from->relallvisible;
#if PG_VERSION_NUM >= 180000
	to->relallfrozen = from->relallfrozen;
#endif
}

/* Whether the current user owns a relation (object_ownercheck since 16). */
#if PG_VERSION_NUM >= 160000
#define guard_owns_relation(relid) \
	object_ownercheck(RelationRelationId, (relid), GetUserId())
#else
#define guard_owns_relation(relid) pg_class_ownercheck((relid), GetUserId())
#endif

/* Whether the current user owns a schema. */
#if PG_VERSION_NUM >= 160000
#define guard_owns_schema(nspid) \
	object_ownercheck(NamespaceRelationId, (nspid), GetUserId())
#else
#define guard_owns_schema(nspid) pg_namespace_ownercheck((nspid), GetUserId())
#endif

#endif							/* GUARD_COMPAT_H */
