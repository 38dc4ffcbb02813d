/*-------------------------------------------------------------------------
 *
 * policy.c
 *		The rules: what guard does with a statement that would destroy data.
 *
 * This is the only file that knows the rules.  The hooks describe an
 * attempt and hand it here; guard_decide() weighs it (exemptions, the
 * environment, the override) without side effects, so that a dry run can
 * call it too, and guard_act() records the decision and refuses or warns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "utils/elog.h"

#include "guard.h"

/*
 * Whether guard has anything to do at all.  Hooks ask this first, so that
 * a development server that records nothing, a standby (where PostgreSQL
 * refuses every write itself) and the audit writer pay nothing.
 */
bool
guard_policy_active(void)
{
	if (guard_is_writer)
		return false;
	if (guard_environment == GUARD_ENV_DEVELOPMENT && !guard_audit_development)
		return false;
	return !RecoveryInProgress();
}

const char *
guard_verdict_name(GuardVerdict verdict)
{
	switch (verdict)
	{
		case GUARD_VERDICT_NONE:
			return "none";
		case GUARD_VERDICT_ALLOWED:
			return "allowed";
		case GUARD_VERDICT_WARNED:
			return "warned";
		case GUARD_VERDICT_OVERRIDDEN:
			return "overridden";
		case GUARD_VERDICT_BLOCKED:
			return "blocked";
	}
	return "unknown";
}

/* Temporary tables, and tables this transaction created, lose nothing. */
static bool
target_is_exempt(const GuardTarget *target)
{
	return target->temporary || target->created_here;
}

void
guard_decide(const GuardAttempt *attempt, GuardDecision *decision)
{
	ListCell   *lc;

	decision->verdict = GUARD_VERDICT_NONE;
	decision->environment = (GuardEnvironment) guard_environment;
	decision->reason = NULL;
	decision->targets = NIL;
	decision->record = false;

	foreach(lc, attempt->targets)
	{
		GuardTarget *target = (GuardTarget *) lfirst(lc);

		if (!target_is_exempt(target))
			decision->targets = lappend(decision->targets, target);
	}
	if (decision->targets == NIL)
		return;

	switch (decision->environment)
	{
		case GUARD_ENV_PRODUCTION:
		case GUARD_ENV_STAGING:
			decision->reason = guard_override_reason();
			if (decision->reason != NULL)
				decision->verdict = GUARD_VERDICT_OVERRIDDEN;
			else if (decision->environment == GUARD_ENV_PRODUCTION)
				decision->verdict = GUARD_VERDICT_BLOCKED;
			else
				decision->verdict = GUARD_VERDICT_WARNED;
			break;
		case GUARD_ENV_DEVELOPMENT:
			decision->verdict = GUARD_VERDICT_ALLOWED;
			break;
	}

	decision->record = (decision->verdict != GUARD_VERDICT_ALLOWED ||
						guard_audit_development);
}

/*
 * Record a decision, then refuse or warn.  A refusal is raised only after
 * its record is committed or written to the log.
 */
void
guard_act(const GuardAttempt *attempt, const GuardDecision *decision)
{
	if (decision->verdict == GUARD_VERDICT_NONE)
		return;

	if (decision->record)
		guard_audit_record(attempt, decision);

	if (decision->verdict == GUARD_VERDICT_BLOCKED)
	{
		bool		database = false;
		ListCell   *lc;

		foreach(lc, decision->targets)
		{
			if (((GuardTarget *) lfirst(lc))->kind == GUARD_TARGET_DATABASE)
				database = true;
		}

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("guard: %s of %s refused in production",
						attempt->command,
						guard_targets_message(decision->targets)),
				 errdetail("The server is marked as production by \"guard.environment\"."),
				 database ?
				 errhint("DROP DATABASE cannot run inside a transaction block, so guard.override cannot allow it; see \"Dropping a database in production\" in guard's README.") :
				 errhint("If this is intended, run it in a transaction after SET LOCAL guard.override = '<reason>'.")));
	}
	else if (decision->verdict == GUARD_VERDICT_WARNED)
		ereport(WARNING,
				(errmsg("guard: %s of %s would be refused in production",
						attempt->command,
						guard_targets_message(decision->targets)),
				 errdetail("The server is marked as staging by \"guard.environment\".")));
}

void
guard_enforce(const GuardAttempt *attempt)
{
	GuardDecision decision;

	guard_decide(attempt, &decision);
	guard_act(attempt, &decision);
}
