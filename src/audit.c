/*-------------------------------------------------------------------------
 *
 * audit.c
 *		Audit records: the shared queue, the wait for the writer, and the
 *		server log.
 *
 * A refused statement aborts its transaction, so its audit row cannot be
 * inserted there.  Instead the backend copies the row into a slot of a
 * fixed-size queue in shared memory, wakes the writer (writer.c), which
 * commits it in a transaction of its own, and waits for that commit for
 * at most guard.audit_timeout before it raises the refusal.  When the row
 * cannot be committed in time (no writer, no audit table, queue full,
 * writer stuck or blocked by a lock this very session holds), the full
 * record goes to the server log under the prefix "guard audit fallback:".
 * Every committed row is logged too, under "guard audit:".  So an attempt
 * is always in the table or in the log.
 *
 * Locking: see GuardShared in guard.h.  A backend that gives up waiting
 * leaves its slot to the writer, which frees it once done with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "common/ip.h"
#include "commands/dbcommands.h"
#include "lib/stringinfo.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "guard.h"

/* Longest text kept in a slot for these fields; the log has them whole. */
#define GUARD_REASON_MAX	1024
#define GUARD_OBJECTS_MAX	3072

GuardShared *guard_shared = NULL;

/* Saved hook values, to chain to. */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static const char *const field_names[GUARD_NFIELDS] = {
	"database", "login_role", "effective_role", "client_addr",
	"application_name", "command", "statement", "environment", "verdict",
	"reason", "old_value", "new_value", "objects"
};

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
shared_size(void)
{
	return add_size(offsetof(GuardShared, slots),
					mul_size(guard_audit_queue_size, sizeof(GuardSlot)));
}

static void
guard_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("guard", 1);
}

static void
guard_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	guard_shared = ShmemInitStruct("guard", shared_size(), &found);
	if (!found)
	{
		memset(guard_shared, 0, shared_size());
		guard_shared->lock = &(GetNamedLWLockTranche("guard"))->lock;
		guard_shared->nslots = guard_audit_queue_size;
		guard_shared->writer_state = GUARD_WRITER_STOPPED;
		guard_shared->next_seq = 1;
		pg_atomic_init_u64(&guard_shared->queued, 0);
		pg_atomic_init_u64(&guard_shared->written, 0);
		pg_atomic_init_u64(&guard_shared->fallback, 0);
		pg_atomic_init_u64(&guard_shared->failed, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
guard_audit_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = guard_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = guard_shmem_startup;
}

/* The client's address, or NULL for a Unix socket or no client. */
static char *
client_addr(void)
{
	Port	   *port = MyProcPort;
	char		host[NI_MAXHOST];

	if (port == NULL)
		return NULL;
	if (port->raddr.addr.ss_family != AF_INET &&
		port->raddr.addr.ss_family != AF_INET6)
		return NULL;

	host[0] = '\0';
	if (pg_getnameinfo_all(&port->raddr.addr, port->raddr.salen,
						   host, sizeof(host), NULL, 0,
						   NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return NULL;
	clean_ipv6_addr(port->raddr.addr.ss_family, host);
	return pstrdup(host);
}

static void
build_row(const GuardAttempt *attempt, const GuardDecision *decision,
		  GuardRow *row)
{
	ListCell   *lc;

	memset(row, 0, sizeof(GuardRow));
	row->at = GetCurrentTimestamp();
	row->backend_pid = MyProcPid;
	row->field[GUARD_FIELD_DATABASE] = get_database_name(MyDatabaseId);
	row->field[GUARD_FIELD_LOGIN_ROLE] = GetUserNameFromId(GetSessionUserId(), true);
	row->field[GUARD_FIELD_EFFECTIVE_ROLE] = GetUserNameFromId(GetUserId(), true);
	row->field[GUARD_FIELD_CLIENT_ADDR] = client_addr();
	row->field[GUARD_FIELD_APPLICATION_NAME] = application_name;
	row->field[GUARD_FIELD_COMMAND] = attempt->command;
	row->field[GUARD_FIELD_STATEMENT] = attempt->statement;
	row->field[GUARD_FIELD_ENVIRONMENT] = guard_environment_name(decision->environment);
	row->field[GUARD_FIELD_VERDICT] = guard_verdict_name(decision->verdict);
	row->field[GUARD_FIELD_REASON] = decision->reason;
	row->field[GUARD_FIELD_OLD_VALUE] = attempt->old_value;
	row->field[GUARD_FIELD_NEW_VALUE] = attempt->new_value;

	foreach(lc, decision->targets)
		row->objects = lappend(row->objects, ((GuardTarget *) lfirst(lc))->name);
	row->object_count = list_length(row->objects);
}

/* Copy at most limit bytes of str into the record, on a character boundary. */
static void
pack_text(GuardRecord *record, int *used, GuardField field, const char *str,
		  int limit)
{
	int			len;

	if (str == NULL)
	{
		record->offset[field] = -1;
		record->length[field] = 0;
		return;
	}

	len = strlen(str);
	limit = Min(limit, GUARD_RECORD_TEXT - *used);
	if (len > limit)
	{
		len = pg_mbcliplen(str, len, limit);
		record->clipped = true;
	}
	memcpy(record->text + *used, str, len);
	record->offset[field] = *used;
	record->length[field] = len;
	*used += len;
}

/*
 * Pack a row into a queue slot's record.  The short fields go first; the
 * object names (whole names only) and the statement share what is left.
 */
static void
pack_record(GuardRecord *record, const GuardRow *row)
{
	int			used = 0;
	int			start;
	int			field;
	ListCell   *lc;

	record->at = row->at;
	record->backend_pid = row->backend_pid;
	record->encoding = GetDatabaseEncoding();
	record->object_count = row->object_count;
	record->clipped = false;

	for (field = 0; field < GUARD_NFIELDS; field++)
	{
		if (field == GUARD_FIELD_STATEMENT || field == GUARD_FIELD_OBJECTS)
			continue;
		pack_text(record, &used, field, row->field[field],
				  field == GUARD_FIELD_REASON ? GUARD_REASON_MAX : NAMEDATALEN * 2);
	}

	start = used;
	foreach(lc, row->objects)
	{
		const char *name = (const char *) lfirst(lc);
		int			len = strlen(name) + 1;

		if (used - start + len > GUARD_OBJECTS_MAX)
		{
			record->clipped = true;
			break;
		}
		memcpy(record->text + used, name, len);
		used += len;
	}
	record->offset[GUARD_FIELD_OBJECTS] = start;
	record->length[GUARD_FIELD_OBJECTS] = used - start;

	pack_text(record, &used, GUARD_FIELD_STATEMENT,
			  row->field[GUARD_FIELD_STATEMENT], GUARD_RECORD_TEXT);
}

/* The reverse of pack_record, into palloc'd memory. */
void
guard_record_unpack(const GuardRecord *record, GuardRow *row)
{
	int			field;
	const char *p;
	const char *end;

	memset(row, 0, sizeof(GuardRow));
	row->at = record->at;
	row->backend_pid = record->backend_pid;
	row->object_count = record->object_count;
	row->clipped = record->clipped;

	for (field = 0; field < GUARD_NFIELDS; field++)
	{
		if (field == GUARD_FIELD_OBJECTS || record->offset[field] < 0)
			continue;
		row->field[field] = pnstrdup(record->text + record->offset[field],
									 record->length[field]);
	}

	p = record->text + record->offset[GUARD_FIELD_OBJECTS];
	end = p + record->length[GUARD_FIELD_OBJECTS];
	while (p < end)
	{
		row->objects = lappend(row->objects, pstrdup(p));
		p += strlen(p) + 1;
	}
}

static void
append_json_text(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/*
 * Write a row to the server log as one line of JSON: "guard audit:" for a
 * row the writer committed (with its id), "guard audit fallback:" with the
 * reason for one that is only here.
 */
static void
log_row(const GuardRow *row, int64 id, const char *failure)
{
	StringInfoData buf;
	ListCell   *lc;
	int			field;
	bool		first = true;

	initStringInfo(&buf);
	if (failure == NULL)
		appendStringInfo(&buf, "{\"id\":" INT64_FORMAT, id);
	else
		appendStringInfoString(&buf, "{\"id\":null");
	append_json_text(&buf, "at", timestamptz_to_str(row->at));
	appendStringInfo(&buf, ",\"backend_pid\":%d", row->backend_pid);
	for (field = 0; field < GUARD_NFIELDS; field++)
	{
		if (field != GUARD_FIELD_OBJECTS)
			append_json_text(&buf, field_names[field], row->field[field]);
	}
	appendStringInfoString(&buf, ",\"objects\":[");
	foreach(lc, row->objects)
	{
		if (!first)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, (const char *) lfirst(lc));
		first = false;
	}
	appendStringInfo(&buf, "],\"object_count\":%d", row->object_count);
	if (failure != NULL)
		append_json_text(&buf, "fallback", failure);
	appendStringInfoChar(&buf, '}');

	ereport(LOG_SERVER_ONLY,
			(errmsg_internal("%s %s",
							 failure == NULL ? "guard audit:" : "guard audit fallback:",
							 buf.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	pfree(buf.data);
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

/*
 * Queue a row and wait for the writer to commit it.  Returns true with
 * *id set once it is committed; false with *failure set otherwise.
 */
static bool
queue_and_wait(const GuardRow *row, int64 *id, char *failure, size_t failure_size)
{
	GuardShared *shared = guard_shared;
	GuardSlot  *slot = NULL;
	GuardWriterState state;
	Latch	   *writer_latch;
	TimestampTz deadline;
	bool		blocking;
	Oid			audit_dbid;
	Oid			audit_relid;
	int			i;

	if (shared == NULL)
	{
		strlcpy(failure, "guard's shared memory is not available", failure_size);
		return false;
	}

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	state = shared->writer_state;
	audit_dbid = shared->audit_dbid;
	audit_relid = shared->audit_relid;
	if (state == GUARD_WRITER_READY)
	{
		for (i = 0; i < shared->nslots; i++)
		{
			if (shared->slots[i].state == GUARD_SLOT_FREE)
			{
				slot = &shared->slots[i];
				slot->state = GUARD_SLOT_FILLING;
				slot->waiter = MyProc;
				slot->seq = shared->next_seq++;
				slot->id = 0;
				slot->failure[0] = '\0';
				break;
			}
		}
	}
	LWLockRelease(shared->lock);

	if (state == GUARD_WRITER_NO_TABLE)
	{
		snprintf(failure, failure_size,
				 "the audit table guard.audit does not exist in database \"%s\"",
				 guard_database);
		return false;
	}
	if (state != GUARD_WRITER_READY)
	{
		snprintf(failure, failure_size, "the audit writer is %s",
				 guard_writer_state_name(state));
		return false;
	}
	if (slot == NULL)
	{
		snprintf(failure, failure_size, "the audit queue is full (%d rows)",
				 shared->nslots);
		return false;
	}

	pack_record(&slot->record, row);
	blocking = audit_table_locked_here(audit_dbid, audit_relid);

	/*
	 * A session that blocks the writer queues its row without waiting for
	 * it: the writer commits it if this session's lock goes away soon
	 * enough (the writer's lock_timeout is guard.audit_timeout).
	 */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot->state = GUARD_SLOT_QUEUED;
	if (blocking)
		slot->waiter = NULL;
	writer_latch = shared->writer_latch;
	LWLockRelease(shared->lock);
	pg_atomic_fetch_add_u64(&shared->queued, 1);
	if (writer_latch != NULL)
		SetLatch(writer_latch);

	if (blocking)
	{
		strlcpy(failure,
				"this session holds a lock on guard.audit that blocks the writer; the row stays queued and is committed only if that lock is released within guard.audit_timeout",
				failure_size);
		return false;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   guard_audit_timeout);
	for (;;)
	{
		long		remaining;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (slot->state == GUARD_SLOT_DONE || slot->state == GUARD_SLOT_FAILED)
		{
			bool		done = (slot->state == GUARD_SLOT_DONE);

			*id = slot->id;
			if (!done)
				strlcpy(failure, slot->failure, failure_size);
			slot->state = GUARD_SLOT_FREE;
			slot->waiter = NULL;
			LWLockRelease(shared->lock);
			return done;
		}

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
													deadline);
		if (remaining <= 0 || ProcDiePending)
		{
			/* Give the slot up; the writer frees it when it is done. */
			slot->waiter = NULL;
			LWLockRelease(shared->lock);
			snprintf(failure, failure_size,
					 "the audit row was not committed within %d ms",
					 guard_audit_timeout);
			return false;
		}
		LWLockRelease(shared->lock);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 remaining, commit_wait_event());
		ResetLatch(MyLatch);
	}
}

/*
 * Record a decision: committed to guard.audit by the writer, or written
 * whole to the server log.  Returns only when it is one or the other.
 */
void
guard_audit_record(const GuardAttempt *attempt, const GuardDecision *decision)
{
	GuardRow	row;
	char		failure[256];
	int64		id = 0;

	build_row(attempt, decision, &row);
	if (queue_and_wait(&row, &id, failure, sizeof(failure)))
		log_row(&row, id, NULL);
	else
	{
		if (guard_shared != NULL)
			pg_atomic_fetch_add_u64(&guard_shared->fallback, 1);
		log_row(&row, 0, failure);
	}
}

static int
compare_seq(const void *a, const void *b)
{
	uint64		sa = (*(GuardSlot *const *) a)->seq;
	uint64		sb = (*(GuardSlot *const *) b)->seq;

	return (sa > sb) - (sa < sb);
}

/*
 * For the writer: move up to max queued slots, oldest first, to WRITING.
 * Returns how many were taken.
 */
int
guard_queue_take(GuardSlot **slots, int max)
{
	GuardShared *shared = guard_shared;
	GuardSlot **queued;
	int			nqueued = 0;
	int			i;

	queued = (GuardSlot **) palloc(sizeof(GuardSlot *) * shared->nslots);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < shared->nslots; i++)
	{
		if (shared->slots[i].state == GUARD_SLOT_QUEUED)
			queued[nqueued++] = &shared->slots[i];
	}
	if (nqueued > 1)
		qsort(queued, nqueued, sizeof(GuardSlot *), compare_seq);
	nqueued = Min(nqueued, max);
	for (i = 0; i < nqueued; i++)
	{
		queued[i]->state = GUARD_SLOT_WRITING;
		slots[i] = queued[i];
	}
	LWLockRelease(shared->lock);
	pfree(queued);
	return nqueued;
}

/*
 * For the writer: a slot is committed with this id (failure NULL), or
 * could not be.  The waiting backend is woken; a slot nobody waits for any
 * more is freed.
 */
void
guard_queue_finish(GuardSlot *slot, int64 id, const char *failure)
{
	GuardShared *shared = guard_shared;
	PGPROC	   *waiter;

	if (failure == NULL)
		pg_atomic_fetch_add_u64(&shared->written, 1);
	else
		pg_atomic_fetch_add_u64(&shared->failed, 1);

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	waiter = slot->waiter;
	if (waiter == NULL)
		slot->state = GUARD_SLOT_FREE;
	else
	{
		slot->id = id;
		if (failure != NULL)
			strlcpy(slot->failure, failure, sizeof(slot->failure));
		slot->state = failure == NULL ? GUARD_SLOT_DONE : GUARD_SLOT_FAILED;
	}
	LWLockRelease(shared->lock);

	if (waiter != NULL)
		SetLatch(&waiter->procLatch);
}

/*
 * For the writer: publish its state, and the audit table it writes to
 * while READY.  When it stops, every row it has not
 * committed fails at once, so that no backend waits for a writer that is
 * gone.
 */
void
guard_writer_publish(GuardWriterState state, Oid audit_relid)
{
	GuardShared *shared = guard_shared;
	int			i;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->writer_state = state;
	shared->writer_pid = (state == GUARD_WRITER_STOPPED) ? 0 : MyProcPid;
	shared->writer_latch = (state == GUARD_WRITER_STOPPED) ? NULL : MyLatch;
	shared->audit_dbid = OidIsValid(audit_relid) ? MyDatabaseId : InvalidOid;
	shared->audit_relid = audit_relid;
	LWLockRelease(shared->lock);

	if (state != GUARD_WRITER_STOPPED)
		return;

	for (i = 0; i < shared->nslots; i++)
	{
		GuardSlot  *slot = &shared->slots[i];
		bool		pending;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		pending = (slot->state == GUARD_SLOT_QUEUED ||
				   slot->state == GUARD_SLOT_WRITING);
		if (pending)
			slot->state = GUARD_SLOT_WRITING;
		LWLockRelease(shared->lock);
		if (pending)
			guard_queue_finish(slot, 0, "the audit writer stopped");
	}
}
