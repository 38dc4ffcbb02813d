/*-------------------------------------------------------------------------
 *
 * functions.c
 *		SQL-callable functions of the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "compat.h"
#include "guard.h"

PG_FUNCTION_INFO_V1(guard_install_check);
PG_FUNCTION_INFO_V1(guard_status);
PG_FUNCTION_INFO_V1(guard_permit_drop_database_sql);

/* Called by the extension script: the audit table lives in one database. */
Datum
guard_install_check(PG_FUNCTION_ARGS)
{
	char	   *dbname = get_database_name(MyDatabaseId);

	if (dbname == NULL || strcmp(dbname, guard_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"guard\" can only be created in database \"%s\"",
						guard_database),
				 errdetail("The extension holds the audit table, which lives in the database named by \"guard.database\"; "
						   "the protection itself covers every database without it."),
				 errhint("Run CREATE EXTENSION guard in database \"%s\", or set \"guard.database\" and restart the server.",
						 guard_database)));
	PG_RETURN_VOID();
}

/* One row: the environment, the writer and the queue. */
Datum
guard_status(PG_FUNCTION_ARGS)
{
	GuardShared *shared = guard_shared;
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10];
	GuardWriterState state = GUARD_WRITER_STOPPED;
	pid_t		pid = 0;
	int			pending = 0;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));

	if (shared != NULL)
	{
		LWLockAcquire(shared->lock, LW_SHARED);
		state = shared->writer_state;
		pid = shared->writer_pid;
		for (i = 0; i < shared->nslots; i++)
		{
			GuardSlotState s = shared->slots[i].state;

			if (s == GUARD_SLOT_FILLING || s == GUARD_SLOT_QUEUED ||
				s == GUARD_SLOT_WRITING)
				pending++;
		}
		LWLockRelease(shared->lock);
	}

	values[0] = CStringGetTextDatum(guard_environment_name(guard_environment));
	values[1] = BoolGetDatum(shared != NULL);
	values[2] = CStringGetTextDatum(guard_writer_state_name(state));
	values[3] = Int32GetDatum((int32) pid);
	nulls[3] = (pid == 0);
	values[4] = Int32GetDatum(shared ? shared->nslots : 0);
	values[5] = Int32GetDatum(pending);
	values[6] = Int64GetDatum(shared ? (int64) pg_atomic_read_u64(&shared->queued) : 0);
	values[7] = Int64GetDatum(shared ? (int64) pg_atomic_read_u64(&shared->written) : 0);
	values[8] = Int64GetDatum(shared ? (int64) pg_atomic_read_u64(&shared->fallback) : 0);
	values[9] = Int64GetDatum(shared ? (int64) pg_atomic_read_u64(&shared->failed) : 0);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * Permit this session one DROP DATABASE of the given database in
 * production, with a reason, for the next five minutes: the override for
 * the one destructive statement that cannot run in a transaction block.
 */
Datum
guard_permit_drop_database_sql(PG_FUNCTION_ARGS)
{
	Name		dbname = PG_GETARG_NAME(0);
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			dbid;
	const char *p;

	if (!GUARD_MAY_SET("guard.override"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to permit DROP DATABASE"),
				 errdetail("Only roles that may set \"guard.override\" may permit it.")));

	for (p = reason; *p != '\0' && isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a DROP DATABASE permit needs a reason"),
				 errdetail("The reason is recorded in the audit table with the DROP DATABASE it allows.")));

	dbid = get_database_oid(NameStr(*dbname), false);
	guard_permit_drop_database(dbid, reason);

	ereport(LOG,
			(errmsg("guard: DROP DATABASE of \"%s\" permitted for this session: %s",
					NameStr(*dbname), reason)));
	ereport(NOTICE,
			(errmsg("DROP DATABASE of \"%s\" is permitted once in this session for the next 5 minutes",
					NameStr(*dbname))));
	PG_RETURN_VOID();
}
