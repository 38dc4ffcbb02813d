/*-------------------------------------------------------------------------
 *
 * queue.c
 *		The audit queue in shared memory, between the backends that record
 *		a decision and the writer that commits it.
 *
 * A backend takes a free slot, packs its record into it (record.c owns the
 * record's layout), appends the slot to the queue and waits, for at most
 * guard.audit_timeout, until the writer has committed it or given up on it.
 * When every slot is taken, it waits for one to be freed within the same
 * time.  The writer takes queued slots oldest first and finishes each with
 * the row's id or a failure.  A backend that stops waiting leaves its slot
 * to the writer, which frees it once done.
 *
 * Locking: GuardQueue->lock protects the slots' states, waiters, ids,
 * failures and links, the free list and the queue, the writer fields and
 * the count of pending slots.  A slot's record is written by the backend
 * that holds the slot as FILLING and read by the writer once it holds it
 * as WRITING; no one else touches it then, so neither needs the lock for
 * it.  The counters are atomics.  Free slots form a list and queued slots
 * a FIFO, both linked through the slots: finding a free slot, or the
 * oldest queued one, never scans the queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "guard.h"

typedef enum SlotState
{
	SLOT_FREE,
	SLOT_FILLING,				/* a backend is packing its record in */
	SLOT_QUEUED,				/* waiting for the writer */
	SLOT_WRITING,				/* the writer is inserting it */
	SLOT_DONE,					/* committed; id is set */
	SLOT_FAILED					/* could not be committed; failure says why */
} SlotState;

typedef struct GuardSlot
{
	SlotState	state;
	int			next;			/* next free or queued slot, or -1 */
	PGPROC	   *waiter;			/* the backend waiting, NULL once it gave up */
	int64		id;				/* guard.audit.id once committed */
	char		failure[128];	/* why it could not be committed */
} GuardSlot;

typedef struct GuardQueue
{
	LWLock	   *lock;
	int			nslots;
	Size		record_size;	/* of each record, after the slots */
	int			free_head;		/* free slots, a stack */
	int			queued_head;	/* queued slots, oldest first */
	int			queued_tail;
	int			pending;		/* slots taken and not yet finished */
	ConditionVariable slot_freed;
	ConditionVariable writer_looked;	/* the writer looked for guard.audit */
	pg_atomic_uint64 looks;		/* how many times it has looked */
	GuardWriterState writer_state;
	pid_t		writer_pid;
	Latch	   *writer_latch;
	Oid			audit_dbid;		/* where guard.audit is, once READY */
	Oid			audit_relid;
	pg_atomic_uint64 queued;	/* rows handed to the writer */
	pg_atomic_uint64 written;	/* rows committed by the writer */
	pg_atomic_uint64 fallback;	/* records that went to the log instead */
	pg_atomic_uint64 failed;	/* rows the writer could not insert */

	/*
	 * The databases outside the audit database whose recycle bins the
	 * purger visits (purger.c).  Until it has visited every database since
	 * the server started, or after the list overflowed, all_asked is ahead
	 * of all_done and it visits them all.
	 */
	uint64		bins_all_asked;
	uint64		bins_all_done;
	int			nbins;
	Oid			bins[GUARD_BIN_DATABASES];
	GuardSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} GuardQueue;

static GuardQueue *queue = NULL;

/* Saved hook values, to chain to. */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

const char *
guard_writer_state_name(GuardWriterState state)
{
	switch (state)
	{
		case GUARD_WRITER_STOPPED:
			return "stopped";
		case GUARD_WRITER_STARTING:
			return "starting";
		case GUARD_WRITER_NO_TABLE:
			return "no audit table";
		case GUARD_WRITER_READY:
			return "ready";
	}
	return "unknown";
}

static Size
slots_size(void)
{
	return MAXALIGN(add_size(offsetof(GuardQueue, slots),
							 mul_size(guard_audit_queue_size, sizeof(GuardSlot))));
}

static Size
queue_size(void)
{
	return add_size(slots_size(),
					mul_size(guard_audit_queue_size, MAXALIGN(guard_record_size())));
}

static void *
slot_record(int slot)
{
	return (char *) queue + slots_size() + (Size) slot * queue->record_size;
}

static void
guard_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(queue_size());
	RequestNamedLWLockTranche("guard", 1);
}

static void
guard_shmem_startup(void)
{
	bool		found;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	queue = ShmemInitStruct("guard", queue_size(), &found);
	if (!found)
	{
		memset(queue, 0, slots_size());
		queue->lock = &(GetNamedLWLockTranche("guard"))->lock;
		queue->nslots = guard_audit_queue_size;
		queue->record_size = MAXALIGN(guard_record_size());
		queue->writer_state = GUARD_WRITER_STOPPED;
		queue->queued_head = queue->queued_tail = -1;
		for (i = 0; i < queue->nslots; i++)
			queue->slots[i].next = (i + 1 < queue->nslots) ? i + 1 : -1;
		queue->free_head = 0;
		ConditionVariableInit(&queue->slot_freed);
		ConditionVariableInit(&queue->writer_looked);
		pg_atomic_init_u64(&queue->looks, 0);
		pg_atomic_init_u64(&queue->queued, 0);
		pg_atomic_init_u64(&queue->written, 0);
		pg_atomic_init_u64(&queue->fallback, 0);
		pg_atomic_init_u64(&queue->failed, 0);
		queue->bins_all_asked = 1;	/* after a start, every database */
	}
	LWLockRelease(AddinShmemInitLock);
}

void
guard_queue_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = guard_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = guard_shmem_startup;
}

/* Whether the queue exists: guard was preloaded. */
bool
guard_queue_available(void)
{
	return queue != NULL;
}

/* Put a slot back on the free list; the caller holds the lock. */
static void
free_slot(int slot)
{
	queue->slots[slot].state = SLOT_FREE;
	queue->slots[slot].waiter = NULL;
	queue->slots[slot].next = queue->free_head;
	queue->free_head = slot;
}

/*
 * Whether a query cancel, statement_timeout or a termination asks the
 * backend to stop waiting.  Interrupts are held while a record is being
 * queued, so that none can throw the record away in neither place: the
 * waits check for them here, give up, and the record goes to the log.
 */
static bool
wait_interrupted(void)
{
	return QueryCancelPending || ProcDiePending;
}

static uint32
commit_wait_event(void)
{
	static uint32 wait_event = 0;

	if (wait_event == 0)
		wait_event = GUARD_WAIT_EVENT("GuardAuditCommit");
	return wait_event;
}

/*
 * Whether this session holds a lock on guard.audit that blocks the
 * writer's INSERT: then waiting for the writer would only wait out the
 * timeout.  This happens when a cascade reaches guard's own table.
 */
static bool
audit_table_locked_here(Oid dbid, Oid relid)
{
	LOCKTAG		tag;
	LOCKMODE	mode;

	if (dbid != MyDatabaseId || !OidIsValid(relid))
		return false;

	SET_LOCKTAG_RELATION(tag, dbid, relid);
	for (mode = ShareLock; mode <= AccessExclusiveLock; mode++)
	{
		if (GUARD_LOCK_HELD_BY_ME(&tag, mode))
			return true;
	}
	return false;
}

/* For the writer: it has just looked for guard.audit. */
void
guard_writer_looked(void)
{
	pg_atomic_fetch_add_u64(&queue->looks, 1);
	ConditionVariableBroadcast(&queue->writer_looked);
}

/*
 * A writer without a table, or still starting, may not have looked since
 * the table was made (CREATE EXTENSION a moment ago): wake it and wait,
 * within the deadline, for its next look.  Returns false if it did not
 * look in time.
 */
static bool
await_writer_look(Latch *writer_latch, TimestampTz deadline)
{
	uint64		before = pg_atomic_read_u64(&queue->looks);
	bool		looked = false;

	if (writer_latch != NULL)
		SetLatch(writer_latch);
	for (;;)
	{
		long		remaining;

		if (pg_atomic_read_u64(&queue->looks) > before)
		{
			looked = true;
			break;
		}
		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0 || wait_interrupted())
			break;
		ConditionVariableTimedSleep(&queue->writer_looked, remaining,
									commit_wait_event());
	}
	ConditionVariableCancelSleep();
	return looked;
}

/*
 * Take a free slot as FILLING, waiting until the deadline for one if all
 * are taken.  Returns -1, with *failure set, when there is none or the
 * writer cannot take rows.
 */
static int
take_free_slot(TimestampTz deadline, char *failure, size_t failure_size)
{
	GuardWriterState state;
	Latch	   *writer_latch;
	bool		asked = false;
	int			slot = -1;

	for (;;)
	{
		long		remaining;

		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		state = queue->writer_state;
		writer_latch = queue->writer_latch;
		if (state == GUARD_WRITER_READY && queue->free_head >= 0)
		{
			slot = queue->free_head;
			queue->free_head = queue->slots[slot].next;
			queue->slots[slot].state = SLOT_FILLING;
			queue->slots[slot].next = -1;
			queue->slots[slot].waiter = MyProc;
			queue->slots[slot].id = 0;
			queue->slots[slot].failure[0] = '\0';
			queue->pending++;
		}
		LWLockRelease(queue->lock);

		if (slot >= 0)
			break;
		if ((state == GUARD_WRITER_NO_TABLE || state == GUARD_WRITER_STARTING) && !asked)
		{
			asked = true;
			if (await_writer_look(writer_latch, deadline))
				continue;
		}
		if (state == GUARD_WRITER_NO_TABLE)
		{
			guard_audit_table_missing(failure, failure_size);
			break;
		}
		if (state != GUARD_WRITER_READY)
		{
			snprintf(failure, failure_size, "the audit writer is %s",
					 guard_writer_state_name(state));
			break;
		}
		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
													deadline);
		if (remaining <= 0 || wait_interrupted())
		{
			if (remaining > 0)
				strlcpy(failure, "the wait for a free slot in the audit queue was cancelled",
						failure_size);
			else
				snprintf(failure, failure_size,
						 "the audit queue was full (%d rows) for guard.audit_timeout",
						 queue->nslots);
			break;
		}
		ConditionVariableTimedSleep(&queue->slot_freed, remaining,
									commit_wait_event());
	}
	ConditionVariableCancelSleep();
	return slot;
}

static bool queue_put(const GuardRow *row, int64 *id, char *failure,
					  size_t failure_size);

/*
 * Queue a row and wait for the writer to commit it.  Returns true with
 * *id set once it is committed; false with *failure set otherwise.
 * Interrupts are held meanwhile (see wait_interrupted).
 */
bool
guard_queue_put(const GuardRow *row, int64 *id, char *failure, size_t failure_size)
{
	bool		committed;

	HOLD_INTERRUPTS();
	committed = queue_put(row, id, failure, failure_size);
	RESUME_INTERRUPTS();
	return committed;
}

static bool
queue_put(const GuardRow *row, int64 *id, char *failure, size_t failure_size)
{
	TimestampTz deadline;
	Latch	   *writer_latch;
	bool		blocking;
	int			slot;

	if (queue == NULL)
	{
		strlcpy(failure, "guard's shared memory is not available", failure_size);
		return false;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   guard_audit_timeout);
	slot = take_free_slot(deadline, failure, failure_size);
	if (slot < 0)
		return false;

	guard_record_pack(slot_record(slot), row);

	/*
	 * A session that blocks the writer queues its row without waiting for
	 * it: the writer commits it if this session's lock goes away soon
	 * enough (the writer's lock_timeout is guard.audit_timeout).
	 */
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	blocking = audit_table_locked_here(queue->audit_dbid, queue->audit_relid);
	queue->slots[slot].state = SLOT_QUEUED;
	if (blocking)
		queue->slots[slot].waiter = NULL;
	if (queue->queued_tail >= 0)
		queue->slots[queue->queued_tail].next = slot;
	else
		queue->queued_head = slot;
	queue->queued_tail = slot;
	writer_latch = queue->writer_latch;
	LWLockRelease(queue->lock);
	pg_atomic_fetch_add_u64(&queue->queued, 1);
	if (writer_latch != NULL)
		SetLatch(writer_latch);

	if (blocking)
	{
		strlcpy(failure,
				"this session holds a lock on guard.audit that blocks the writer; the row stays queued and is committed only if that lock is released within guard.audit_timeout",
				failure_size);
		return false;
	}

	for (;;)
	{
		GuardSlot  *s = &queue->slots[slot];
		long		remaining;

		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		if (s->state == SLOT_DONE || s->state == SLOT_FAILED)
		{
			bool		done = (s->state == SLOT_DONE);

			*id = s->id;
			if (!done)
				strlcpy(failure, s->failure, failure_size);
			free_slot(slot);
			LWLockRelease(queue->lock);
			ConditionVariableSignal(&queue->slot_freed);
			return done;
		}

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
													deadline);
		if (remaining <= 0 || wait_interrupted())
		{
			/* Give the slot up; the writer frees it when it is done. */
			s->waiter = NULL;
			LWLockRelease(queue->lock);
			if (remaining > 0)
				strlcpy(failure, "the wait for the audit row was cancelled; the writer may still commit it",
						failure_size);
			else
				snprintf(failure, failure_size,
						 "the audit row was not committed within %d ms",
						 guard_audit_timeout);
			return false;
		}
		LWLockRelease(queue->lock);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 remaining, commit_wait_event());
		ResetLatch(MyLatch);
	}
}

/*
 * Whether relid is guard.audit, in this database: the one table whose
 * lock a refusal must not take, since its own row goes there.
 */
bool
guard_queue_is_audit_table(Oid relid)
{
	bool		result;

	/*
	 * Most statements change other tables: an unlocked read of the
	 * published relid (an aligned Oid, written whole) rules them out
	 * without the lock; a match is confirmed under it, with the database.
	 */
	if (queue == NULL || ((volatile GuardQueue *) queue)->audit_relid != relid)
		return false;
	LWLockAcquire(queue->lock, LW_SHARED);
	result = queue->audit_dbid == MyDatabaseId && queue->audit_relid == relid;
	LWLockRelease(queue->lock);
	return result;
}

/* Count a record that went to the log instead of the table. */
void
guard_queue_count_fallback(void)
{
	if (queue != NULL)
		pg_atomic_fetch_add_u64(&queue->fallback, 1);
}

/*
 * For the writer: move up to max queued slots, oldest first, to WRITING.
 * Returns how many were taken.
 */
int
guard_queue_take(int *slots, int max)
{
	int			n = 0;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	while (n < max && queue->queued_head >= 0)
	{
		int			slot = queue->queued_head;

		queue->queued_head = queue->slots[slot].next;
		if (queue->queued_head < 0)
			queue->queued_tail = -1;
		queue->slots[slot].next = -1;
		queue->slots[slot].state = SLOT_WRITING;
		slots[n++] = slot;
	}
	LWLockRelease(queue->lock);
	return n;
}

/* For the writer: the row of a slot it took, and its text's encoding. */
void
guard_queue_row(int slot, GuardRow *row, int *encoding)
{
	guard_record_unpack(slot_record(slot), row);
	*encoding = guard_record_encoding(slot_record(slot));
}

/*
 * For the writer: n slots are committed with these ids (failure NULL), or
 * could not be.  All are finished under one hold of the lock, so that a
 * backend woken early does not wait for the lock behind the others; the
 * waiting backends are woken after.  A slot nobody waits for any more is
 * freed, and abandoned[i] says so (abandoned may be NULL): its backend
 * gave up waiting and wrote the record to the log instead.
 */
void
guard_queue_finish(const int *slots, const int64 *ids, int n,
				   const char *failure, bool *abandoned)
{
	PGPROC	   *waiters[GUARD_BATCH_MAX];
	bool		freed = false;
	int			i;

	Assert(n <= GUARD_BATCH_MAX);
	pg_atomic_fetch_add_u64(failure == NULL ? &queue->written : &queue->failed, n);

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		GuardSlot  *s = &queue->slots[slots[i]];

		queue->pending--;
		waiters[i] = s->waiter;
		if (abandoned != NULL)
			abandoned[i] = (waiters[i] == NULL);
		if (waiters[i] == NULL)
		{
			free_slot(slots[i]);
			freed = true;
			continue;
		}
		s->id = ids != NULL ? ids[i] : 0;
		if (failure != NULL)
			strlcpy(s->failure, failure, sizeof(s->failure));
		s->state = failure == NULL ? SLOT_DONE : SLOT_FAILED;
	}
	LWLockRelease(queue->lock);

	for (i = 0; i < n; i++)
	{
		if (waiters[i] != NULL)
			SetLatch(&waiters[i]->procLatch);
	}
	if (freed)
		ConditionVariableBroadcast(&queue->slot_freed);
}

/*
 * For the writer, after an error it recovered from, or as it stops: the
 * slots it took and had not finished fail, so that their backends log
 * their records now instead of waiting for rows that were rolled back.
 */
void
guard_queue_fail_writing(const char *failure)
{
	int			i;

	for (i = 0; i < queue->nslots; i++)
	{
		bool		writing;

		LWLockAcquire(queue->lock, LW_SHARED);
		writing = (queue->slots[i].state == SLOT_WRITING);
		LWLockRelease(queue->lock);
		if (writing)
			guard_queue_finish(&i, NULL, 1, failure, NULL);
	}
}

/*
 * For the writer: publish its state, and the audit table it writes to
 * while READY.  When it stops, every row it has not committed fails at
 * once, so that no backend waits for a writer that is gone.
 */
void
guard_writer_publish(GuardWriterState state, Oid audit_relid)
{
	int			pending[GUARD_BATCH_MAX];
	int			n;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->writer_state = state;
	queue->writer_pid = (state == GUARD_WRITER_STOPPED) ? 0 : MyProcPid;
	queue->writer_latch = (state == GUARD_WRITER_STOPPED) ? NULL : MyLatch;
	queue->audit_dbid = OidIsValid(audit_relid) ? MyDatabaseId : InvalidOid;
	queue->audit_relid = audit_relid;

	/* Wake anyone waiting for a slot, so that it sees the new state. */
	LWLockRelease(queue->lock);
	ConditionVariableBroadcast(&queue->slot_freed);
	if (state != GUARD_WRITER_STOPPED)
		return;

	/* The slots the writer was writing when it stopped, then the queue. */
	guard_queue_fail_writing("the audit writer stopped");
	while ((n = guard_queue_take(pending, GUARD_BATCH_MAX)) > 0)
		guard_queue_finish(pending, NULL, n, "the audit writer stopped", NULL);
}

/*
 * A database that has a recycle bin entry now: the purger visits it (a
 * full list makes it visit every database).
 */
void
guard_bin_database_note(Oid dbid)
{
	int			i;

	if (queue == NULL)
		return;
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < queue->nbins && queue->bins[i] != dbid; i++)
		;
	if (i == queue->nbins)
	{
		if (queue->nbins < GUARD_BIN_DATABASES)
			queue->bins[queue->nbins++] = dbid;
		else
			queue->bins_all_asked++;
	}
	LWLockRelease(queue->lock);
}

/* A database that is gone: the purger stops visiting it. */
void
guard_bin_database_forget(Oid dbid)
{
	int			i;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < queue->nbins; i++)
	{
		if (queue->bins[i] == dbid)
		{
			queue->bins[i] = queue->bins[--queue->nbins];
			break;
		}
	}
	LWLockRelease(queue->lock);
}

/*
 * For the purger: the databases to visit, into dbs (GUARD_BIN_DATABASES
 * long); their number.  *all is nonzero when it must visit every database
 * instead, and is what guard_bin_databases_visited takes once it has.
 */
int
guard_bin_databases(Oid *dbs, uint64 *all)
{
	int			n;

	LWLockAcquire(queue->lock, LW_SHARED);
	n = queue->nbins;
	memcpy(dbs, queue->bins, sizeof(Oid) * n);
	*all = queue->bins_all_asked != queue->bins_all_done ? queue->bins_all_asked : 0;
	LWLockRelease(queue->lock);
	return n;
}

void
guard_bin_databases_visited(uint64 all)
{
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->bins_all_done = Max(queue->bins_all_done, all);
	LWLockRelease(queue->lock);
}

/* What guard.status() shows of the writer and the queue. */
void
guard_queue_status(GuardQueueStatus *status)
{
	memset(status, 0, sizeof(GuardQueueStatus));
	status->writer_state = GUARD_WRITER_STOPPED;
	if (queue == NULL)
		return;

	LWLockAcquire(queue->lock, LW_SHARED);
	status->writer_state = queue->writer_state;
	status->writer_pid = queue->writer_pid;
	status->pending = queue->pending;
	LWLockRelease(queue->lock);
	status->size = queue->nslots;
	status->queued = pg_atomic_read_u64(&queue->queued);
	status->written = pg_atomic_read_u64(&queue->written);
	status->fallback = pg_atomic_read_u64(&queue->fallback);
	status->failed = pg_atomic_read_u64(&queue->failed);
}
