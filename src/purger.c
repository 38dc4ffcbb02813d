/*-------------------------------------------------------------------------
 *
 * purger.c
 *		The recycle bin's purger: a background worker that purges the
 *		expired entries of the audit database once a minute.
 *
 * It connects to the audit database and, in a transaction of its own every
 * GUARD_PURGE_INTERVAL, purges what guard.recycle_retention no longer
 * covers (recyclebin.c).  It records each purge as any session does,
 * through the queue to the writer, which stays oblivious of it.  An error
 * ends it; the postmaster starts it again a minute later.  It does not run
 * during recovery: a standby's bin is the primary's, replicated.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
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

/* One look: purge what has expired, if guard is installed here. */
static void
purge_once(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "guard: purging expired recycle bin entries");
	if (OidIsValid(get_extension_oid("guard", true)))
		guard_recycle_purge_expired("-- expired, purged by the guard purger");
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
guard_purger_main(Datum main_arg)
{
	uint32		wait_event = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(guard_database, NULL, 0);

	for (;;)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		purge_once();

		if (wait_event == 0)
			wait_event = GUARD_WAIT_EVENT("GuardPurgerIdle");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 GUARD_PURGE_INTERVAL, wait_event);
	}
}
