/*-------------------------------------------------------------------------
 *
 * audit.c
 *		The record of a decision: building it, packing it for the queue,
 *		and writing it to the server log.
 *
 * A refused statement aborts its transaction, so its audit row cannot be
 * inserted there.  Instead the row is handed to the queue (queue.c), which
 * the writer (writer.c) drains into guard.audit in a transaction of its
 * own, and the backend waits for that commit for at most
 * guard.audit_timeout before it raises the refusal.  When the row cannot
 * be committed in time, the full record goes to the server log under the
 * prefix "guard audit fallback:".  Every committed row is logged too,
 * under "guard audit:".  So an attempt is always in the table or in the
 * log.
 *
 * A record in the queue is a fixed-size copy of the row, its long text
 * clipped to fit; its layout is known to this file alone.
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
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "guard.h"

/* Longest text kept in a slot for these fields; the log has them whole. */
#define GUARD_REASON_MAX	1024
#define GUARD_OBJECTS_MAX	3072

static const char *const field_names[GUARD_NFIELDS] = {
	"database", "login_role", "effective_role", "client_addr",
	"application_name", "command", "statement", "environment", "verdict",
	"reason", "old_value", "new_value", "objects"
};

/* Text kept of a row in a queue slot; the log has it whole. */
#define GUARD_RECORD_TEXT	8192

/* One audit row in a form that fits a queue slot; long text is clipped. */
typedef struct GuardRecord
{
	TimestampTz at;
	int32		backend_pid;
	int32		encoding;		/* of the text, the database's encoding */
	int32		object_count;	/* objects destroyed, even if not all fit */
	int16		offset[GUARD_NFIELDS];	/* -1 for NULL */
	int16		length[GUARD_NFIELDS];
	bool		clipped;		/* some text did not fit */
	char		text[GUARD_RECORD_TEXT];
} GuardRecord;

/* The size of a record, for the queue's slots. */
Size
guard_record_size(void)
{
	return sizeof(GuardRecord);
}

/* The failure of a row that has no table to go to. */
void
guard_audit_table_missing(char *failure, size_t failure_size)
{
	snprintf(failure, failure_size,
			 "the audit table guard.audit does not exist in database \"%s\"",
			 guard_database);
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

/*
 * What every row of a session names: its database and its client never
 * change, and role names only with pg_authid, whose invalidation forgets
 * them.  Looked up once, not for every refusal.
 */
static char *session_database = NULL;
static char *session_client = NULL;
static bool session_known = false;
static Oid	named_role[2] = {InvalidOid, InvalidOid};
static char *role_name_of[2];

static void
forget_role_names(Datum arg, int cacheid, uint32 hashvalue)
{
	named_role[0] = named_role[1] = InvalidOid;
}

/* The name of roleid, kept in place which (0: login, 1: effective). */
static const char *
role_name(int which, Oid roleid)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(AUTHOID, forget_role_names, (Datum) 0);
		registered = true;
	}
	if (named_role[which] != roleid)
	{
		char	   *name = GetUserNameFromId(roleid, true);

		if (role_name_of[which] != NULL)
			pfree(role_name_of[which]);
		role_name_of[which] = name != NULL ?
			MemoryContextStrdup(TopMemoryContext, name) : NULL;
		named_role[which] = roleid;
	}
	return role_name_of[which];
}

static void
build_row(const GuardAttempt *attempt, const GuardDecision *decision,
		  GuardRow *row)
{
	ListCell   *lc;

	memset(row, 0, sizeof(GuardRow));
	row->at = GetCurrentTimestamp();
	row->backend_pid = MyProcPid;
	if (!session_known)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		session_database = get_database_name(MyDatabaseId);
		session_client = client_addr();
		MemoryContextSwitchTo(oldcxt);
		session_known = session_database != NULL;
	}
	row->field[GUARD_FIELD_DATABASE] = session_database;
	row->field[GUARD_FIELD_LOGIN_ROLE] = role_name(0, GetSessionUserId());
	row->field[GUARD_FIELD_EFFECTIVE_ROLE] = role_name(1, GetUserId());
	row->field[GUARD_FIELD_CLIENT_ADDR] = session_client;
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
void
guard_record_pack(void *slot_record, const GuardRow *row)
{
	GuardRecord *record = (GuardRecord *) slot_record;
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

/* The reverse of guard_record_pack, into palloc'd memory. */
void
guard_record_unpack(const void *slot_record, GuardRow *row)
{
	const GuardRecord *record = (const GuardRecord *) slot_record;
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
	appendStringInfoString(buf, ",\"");
	appendStringInfoString(buf, key);
	appendStringInfoString(buf, "\":");
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
		appendStringInfo(&buf, "guard audit: {\"id\":" INT64_FORMAT, id);
	else
		appendStringInfoString(&buf, "guard audit fallback: {\"id\":null");
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
			(errmsg_internal("%s", buf.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	pfree(buf.data);
}

/* The encoding of a packed record's text. */
int
guard_record_encoding(const void *slot_record)
{
	return ((const GuardRecord *) slot_record)->encoding;
}

/* The id of the last row this session recorded in the table; 0: in the log. */
int64		guard_last_audit_id = 0;

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
	guard_last_audit_id = 0;
	if (guard_queue_put(&row, &id, failure, sizeof(failure)))
	{
		guard_last_audit_id = id;
		log_row(&row, id, NULL);
	}
	else
	{
		guard_queue_count_fallback();
		log_row(&row, 0, failure);
	}
}
