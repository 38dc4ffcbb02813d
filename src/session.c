/*-------------------------------------------------------------------------
 *
 * session.c
 *		The session after a refusal: with guard.on_refusal = disconnect, it
 *		runs nothing more.
 *
 * A client aimed at production by mistake is a script, an ORM helper or a
 * restore that usually goes on after an error: pg_restore --clean carries
 * on and appends rows, psql -f without ON_ERROR_STOP creates and fills
 * tables.  So when the policy refuses a statement of a client session, it
 * marks the session here.  The refusal's ERROR reaches the client as
 * usual, with its ReadyForQuery, so that its driver raises its ordinary
 * permission error with guard's words.  Then:
 *
 * - As soon as the session is out of any transaction, the FATAL that ends
 *   it follows that ReadyForQuery in the same write.  A pooler that hands
 *   server sessions from client to client (pgbouncer's transaction mode)
 *   sees the session close as it gets it back, before it can give it to
 *   another client; in session mode it closes the client with it.
 * - Inside a transaction block, ROLLBACK (and ROLLBACK TO) still runs, so
 *   that a driver can clean up after the error it just raised, and the
 *   session ends with the ROLLBACK's ReadyForQuery.  Any other statement,
 *   however it arrives (parsed, a prepared statement executed again, a
 *   utility statement, the next statement of a function that caught the
 *   error), ends the session with the FATAL instead of running.
 *
 * The first is done by wrapping the frontend protocol's putmessage, from the
 * refusal on: ReadyForQuery is the one message after which the backend
 * waits for its client, and its status byte says whether a transaction is
 * still open.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/libpq.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/tcopprot.h"

#include "compat.h"
#include "guard.h"

/* Saved hook values, to chain to. */
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;

/* Set when a statement of this session was refused and the session ends. */
static bool session_refused = false;

/* The protocol's methods before ours, and ours: a copy with one change. */
static const PQcommMethods *prev_comm_methods = NULL;
static PQcommMethods ending_comm_methods;

/*
 * putmessage, once a statement was refused: after a ReadyForQuery that
 * reports no open transaction ('I'), end the session.  The FATAL's own
 * message is flushed together with the ReadyForQuery still in the buffer.
 */
static int
ending_putmessage(char msgtype, const char *s, size_t len)
{
	int			result;

	result = prev_comm_methods->putmessage(msgtype, s, len);
	if (msgtype == 'Z' && len == 1 && s[0] == 'I' && result == 0)
	{
		PqCommMethods = prev_comm_methods;
		guard_end_session();
	}
	return result;
}

void
guard_session_refused(void)
{
	session_refused = true;

	/* Only a session talking to its client directly (not a parallel worker). */
	if (whereToSendOutput != DestRemote || PqCommMethods == &ending_comm_methods)
		return;
	prev_comm_methods = PqCommMethods;
	ending_comm_methods = *prev_comm_methods;
	ending_comm_methods.putmessage = ending_putmessage;
	PqCommMethods = &ending_comm_methods;
}

/* ROLLBACK (and ROLLBACK TO SAVEPOINT) undo; they may still run. */
static bool
is_rollback(Node *stmt)
{
	TransactionStmt *xact;

	if (stmt == NULL || !IsA(stmt, TransactionStmt))
		return false;
	xact = (TransactionStmt *) stmt;
	return xact->kind == TRANS_STMT_ROLLBACK ||
		xact->kind == TRANS_STMT_ROLLBACK_TO ||
		xact->kind == TRANS_STMT_ROLLBACK_PREPARED;
}

/*
 * Called by the hooks as a statement starts (stmt is its utility statement,
 * or NULL): ends the session if a refusal marked it.
 */
void
guard_session_check(Node *stmt)
{
	if (likely(!session_refused) || is_rollback(stmt))
		return;
	guard_end_session();
}

static void
guard_post_parse_analyze(ParseState *pstate, Query *query, GuardJumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	guard_session_check(query->commandType == CMD_UTILITY ? query->utilityStmt : NULL);
}

void
guard_session_init(void)
{
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = guard_post_parse_analyze;
}
