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
 * permission error with guard's words; the next statement the session
 * tries, whatever it is and however it arrives (parsed, a prepared
 * statement executed again, a utility statement, the next statement of a
 * function that caught the error), ends the session with a FATAL instead.
 * ROLLBACK alone still runs, so that a driver can clean up after the
 * error it just raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "parser/analyze.h"

#include "compat.h"
#include "guard.h"

/* Saved hook values, to chain to. */
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;

/* Set when a statement of this session was refused and the session ends. */
static bool session_refused = false;

void
guard_session_refused(void)
{
	session_refused = true;
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
