/*-------------------------------------------------------------------------
 *
 * purger.c
 *		The recycle bin's purger: a background worker that purges expired
 *		entries once a minute, in every database that has a bin.
 *
 * It connects to the audit database and, in a transaction of its own every
 * GUARD_PURGE_INTERVAL, purges what guard.recycle_retention no longer
 * covers (recyclebin.c).  A worker is connected to one database for life,
 * so for each other database that has a bin it starts a short-lived worker
 * connected there, and waits for it.  Which databases those are, shared
 * memory says (queue.c): a database is noted when a table is kept in it.
 * After the server starts, and when the list is full, the purger visits
 * every database that takes connections once, and notes those that still
 * have entries.  Every purge is recorded as any session records, through
 * the queue to the writer, which stays oblivious of it.  An error ends the
 * purger; the postmaster starts it again a minute later.  It does not run
 * during recovery: a standby's bin is the primary's, replicated.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "guard.h"

/* How often the purger looks, in ms. */
#define GUARD_PURGE_INTERVAL	60000L

void
guard_purger_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = GUARD_PURGE_INTERVAL / 1000;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "guard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "guard_purger_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "guard purger");
	snprintf(worker.bgw_type, BGW_MAXLEN, "guard purger");
	RegisterBackgroundWorker(&worker);
}

/*
 * One look: purge what has expired here.  In the audit database, only once
 * guard is installed (its keeps and purges are recorded).  Returns how
 * many entries are left.
 */
static int
purge_once(bool audit_database)
{
	int			remaining = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "guard: purging expired recycle bin entries");
	if (!audit_database || OidIsValid(get_extension_oid("guard", true)))
		remaining = guard_recycle_purge_expired("-- expired, purged by the guard purger");
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return remaining;
}

/*
 * The databases to visit but this one: those noted, or, when all is
 * nonzero, every database that takes connections.  Noted databases that
 * are gone are forgotten.
 */
static List *
databases_to_visit(const Oid *noted, int n, uint64 all)
{
	List	   *dbs = NIL;
	int			i;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (all != 0)
	{
		Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
		TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
		HeapTuple	tup;

		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

			/* datconnlimit -2 marks a database that a DROP left invalid. */
			if (db->oid != MyDatabaseId && db->datallowconn &&
				!db->datistemplate && db->datconnlimit != -2)
				dbs = lappend_oid(dbs, db->oid);
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	else
	{
		for (i = 0; i < n; i++)
		{
			if (noted[i] == MyDatabaseId)
				continue;
			if (SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(noted[i])))
				dbs = lappend_oid(dbs, noted[i]);
			else
				guard_bin_database_forget(noted[i]);
		}
	}
	CommitTransactionCommand();
	return dbs;
}

/*
 * Purge in database dbid, through a worker connected there; wait for it.
 * Returns false when no worker could be started (max_worker_processes).
 */
static bool
purge_in(Oid dbid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "guard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "guard_purger_database_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "guard purger for database %u", dbid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "guard purger");
	worker.bgw_main_arg = ObjectIdGetDatum(dbid);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return false;
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		(void) WaitForBackgroundWorkerShutdown(handle);
	return true;
}

/* Purge in every other database that has a bin. */
static void
purge_elsewhere(void)
{
	Oid			noted[GUARD_BIN_DATABASES];
	uint64		all;
	int			n = guard_bin_databases(noted, &all);
	ListCell   *lc;

	foreach(lc, databases_to_visit(noted, n, all))
	{
		CHECK_FOR_INTERRUPTS();
		if (!purge_in(lfirst_oid(lc)))
		{
			ereport(LOG,
					(errmsg("guard purger: no background worker slot to purge the recycle bin of database %u; trying again in a minute",
							lfirst_oid(lc)),
					 errhint("Raise \"max_worker_processes\".")));
			return;
		}
	}
	if (all != 0)
		guard_bin_databases_visited(all);
}

/* A worker for one database: purge there, note it if entries are left. */
void
guard_purger_database_main(Datum main_arg)
{
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	if (purge_once(false) > 0)
		guard_bin_database_note(MyDatabaseId);
}

void
guard_purger_main(Datum main_arg)
{
	uint32		wait_event = 0;
	int			i;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(guard_database, NULL, 0);

	/*
	 * The writer starts with it: give it a moment to be ready, so that the
	 * rows of the first purges go to the table, not to the log.
	 */
	for (i = 0; i < 100; i++)
	{
		GuardQueueStatus status;

		guard_queue_status(&status);
		if (status.writer_state == GUARD_WRITER_READY ||
			status.writer_state == GUARD_WRITER_NO_TABLE)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	for (;;)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		(void) purge_once(true);
		purge_elsewhere();

		if (wait_event == 0)
			wait_event = GUARD_WAIT_EVENT("GuardPurgerIdle");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 GUARD_PURGE_INTERVAL, wait_event);
	}
}
