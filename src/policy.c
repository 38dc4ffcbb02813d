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
 * DROP DATABASE cannot run inside a transaction block, so no SET LOCAL
 * guard.override can reach it.  Its override is a permit instead: one
 * database, this session, the next few minutes, used once (see
 * guard.permit_drop_database in functions.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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

/* Whether guard.max_rows limits anything: the executor counts rows if so. */
bool
guard_row_limit_set(void)
{
	return guard_max_rows > 0;
}

/* Whether a DELETE or UPDATE that changed this many rows is past the limit. */
bool
guard_rows_over_limit(uint64 rows)
{
	return guard_max_rows > 0 && rows > (uint64) guard_max_rows;
}

/* Whether the current role may set guard.override, or permit a drop. */
bool
guard_may_override(void)
{
	return superuser() ||
		pg_parameter_aclcheck("guard.override", GetUserId(), ACL_SET) == ACLCHECK_OK;
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

/*
 * The settings that weaken protection when lowered: no session may set
 * them, and changing them where they are stored is judged by the policy.
 */
static const char *const protected_settings[] = {"guard.environment", "guard.max_rows"};

bool
guard_setting_protected(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(protected_settings); i++)
	{
		if (pg_strcasecmp(name, protected_settings[i]) == 0)
			return true;
	}
	return false;
}

/* The i-th protected setting, or NULL past the last. */
const char *
guard_protected_setting(int i)
{
	return i < lengthof(protected_settings) ? protected_settings[i] : NULL;
}

/* Whether a reason (of an override or a permit) says anything. */
bool
guard_reason_given(const char *reason)
{
	const char *p;

	for (p = reason; *p != '\0'; p++)
	{
		if (!isspace((unsigned char) *p))
			return true;
	}
	return false;
}

/*
 * Settings that weaken protection when lowered are never taken from a
 * session: not from SET, set_config(), a function's SET clause or a
 * client's startup options, superusers included.
 */
bool
guard_check_setting_source(const char *name, GucSource source)
{
	/* A parallel worker restores its leader's value, however it was set. */
	if (InitializingParallelWorker)
		return true;

	if (source == PGC_S_CLIENT || source == PGC_S_SESSION)
	{
		GUC_check_errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM);
		GUC_check_errmsg("parameter \"%s\" cannot be set from a session", name);
		GUC_check_errdetail("It is set in the server configuration, with ALTER SYSTEM, or with ALTER DATABASE or ALTER ROLE ... SET.");
		return false;
	}
	return true;
}

/*
 * guard.override is taken only from SET LOCAL (or set_config(..., true))
 * inside a transaction block, and only with a reason.  For its check hook.
 */
bool
guard_check_override_value(const char *reason, GucSource source)
{
	if (source != PGC_S_SESSION || !IsTransactionBlock())
	{
		GUC_check_errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM);
		GUC_check_errmsg("parameter \"guard.override\" can only be set inside a transaction block");
		GUC_check_errdetail("An override is honoured for the transaction that sets it and for no other; it cannot be stored in the configuration, with ALTER DATABASE or ALTER ROLE, or sent as a startup option.");
		GUC_check_errhint("Run BEGIN; SET LOCAL guard.override = '<reason>'; then the statement, then COMMIT.");
		return false;
	}
	if (!guard_reason_given(reason))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("guard.override needs a reason");
		GUC_check_errdetail("The reason is recorded in the audit table with every statement it allows.");
		return false;
	}
	return true;
}

/*
 * guard.environment cannot be set from a function's SET clause, but the
 * value is validated with the same source as ALTER DATABASE ... SET, which
 * is allowed; and SET guard.override without LOCAL would outlive the
 * transaction.  Both are refused here, in every environment.
 */
static void
check_function_options(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		VariableSetStmt *set;

		if (strcmp(def->defname, "set") != 0 || !IsA(def->arg, VariableSetStmt))
			continue;
		set = (VariableSetStmt *) def->arg;
		if (set->name != NULL &&
			(guard_setting_protected(set->name) ||
			 pg_strcasecmp(set->name, "guard.override") == 0))
			ereport(ERROR,
					(errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
					 errmsg("parameter \"%s\" cannot be set in a function's SET clause",
							set->name)));
	}
}

void
guard_check_setting_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_VariableSetStmt:
			{
				VariableSetStmt *set = (VariableSetStmt *) parsetree;

				if ((set->kind == VAR_SET_VALUE || set->kind == VAR_SET_CURRENT) &&
					!set->is_local && set->name != NULL &&
					pg_strcasecmp(set->name, "guard.override") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
							 errmsg("parameter \"guard.override\" can only be set with SET LOCAL"),
							 errdetail("An override is honoured for the transaction that sets it and for no other."),
							 errhint("Run BEGIN; SET LOCAL guard.override = '<reason>'; then the statement, then COMMIT.")));
				break;
			}
		case T_CreateFunctionStmt:
			check_function_options(((CreateFunctionStmt *) parsetree)->options);
			break;
		case T_AlterFunctionStmt:
			check_function_options(((AlterFunctionStmt *) parsetree)->actions);
			break;
		default:
			break;
	}
}

/*
 * Permits: the override for the two statements that cannot run in a
 * transaction block, where SET LOCAL guard.override would be.  A permit
 * allows one DROP DATABASE of one database, or one ALTER SYSTEM that
 * weakens one setting, in this session, for five minutes.
 */
#define GUARD_PERMIT_MS (5 * 60 * 1000)

static Oid	permit_dbid = InvalidOid;	/* for DROP DATABASE */
static char *permit_setting = NULL; /* for ALTER SYSTEM */
static char *permit_reason = NULL;
static TimestampTz permit_until = 0;

static void
forget_permit(void)
{
	if (permit_reason != NULL)
		pfree(permit_reason);
	if (permit_setting != NULL)
		pfree(permit_setting);
	permit_reason = NULL;
	permit_setting = NULL;
	permit_dbid = InvalidOid;
}

static void
grant_permit(const char *what, Oid dbid, const char *setting, const char *reason)
{
	if (!guard_may_override())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to permit %s", what),
				 errdetail("Only roles that may set \"guard.override\" may permit it.")));
	if (!guard_reason_given(reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a permit for %s needs a reason", what),
				 errdetail("The reason is recorded in the audit table with the %s it allows.", what)));

	forget_permit();
	permit_reason = MemoryContextStrdup(TopMemoryContext, reason);
	permit_dbid = dbid;
	if (setting != NULL)
		permit_setting = MemoryContextStrdup(TopMemoryContext, setting);
	permit_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   GUARD_PERMIT_MS);
}

/*
 * Permit this session one DROP DATABASE of a database, with a reason: for
 * roles that may set the override, which cannot reach DROP DATABASE.
 */
void
guard_permit_drop_database(Oid dbid, const char *reason)
{
	grant_permit("DROP DATABASE", dbid, NULL, reason);
}

/* Whether guard judges changes to a setting made by ALTER SYSTEM. */
static bool
judged_setting(const char *name)
{
	return pg_strcasecmp(name, "guard.environment") == 0 ||
		pg_strcasecmp(name, "guard.max_rows") == 0 ||
		pg_strcasecmp(name, GUARD_PRELOAD_SETTING) == 0;
}

/*
 * Permit this session one ALTER SYSTEM that weakens one setting (SET,
 * RESET, or RESET ALL where that is the only one it weakens), with a
 * reason.
 */
void
guard_permit_alter_system(const char *setting, const char *reason)
{
	if (!judged_setting(setting))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ALTER SYSTEM of \"%s\" needs no permit", setting),
				 errdetail("guard judges ALTER SYSTEM of \"guard.environment\", \"guard.max_rows\" and \"%s\" only.",
						   GUARD_PRELOAD_SETTING)));
	grant_permit("ALTER SYSTEM", InvalidOid, setting, reason);
}

/* The permit's reason if it covers the attempt and every target. */
static const char *
permit_for(const GuardAttempt *attempt, List *targets)
{
	ListCell   *lc;
	bool		system = strcmp(attempt->command, "ALTER SYSTEM") == 0;

	if (permit_reason == NULL || GetCurrentTimestamp() > permit_until ||
		system != (permit_setting != NULL))
		return NULL;
	foreach(lc, targets)
	{
		GuardTarget *target = (GuardTarget *) lfirst(lc);

		if (system ? (target->kind != GUARD_TARGET_SETTING ||
					  pg_strcasecmp(target->name, permit_setting) != 0) :
			(target->kind != GUARD_TARGET_DATABASE || target->objid != permit_dbid))
			return NULL;
	}
	return permit_reason;
}

/* Temporary tables, and tables this transaction created, lose nothing. */
static bool
target_loses_nothing(const GuardTarget *target)
{
	return target->temporary || target->created_here;
}

/* For a hook, before work that only matters if a target may lose data. */
bool
guard_target_may_lose(const GuardTarget *target)
{
	return !target_loses_nothing(target);
}

/* A label exempts this action on this target: routine work, recorded. */
static bool
target_is_exempt(const GuardTarget *target)
{
	return (target->exempt & GUARD_OP(target->action)) != 0;
}

/* An environment's rank; a value that is no environment name is production. */
static int
environment_rank(const char *value)
{
	int			env = guard_parse_environment(value);

	return env < 0 ? GUARD_ENV_PRODUCTION : env;
}

/* Whether a list of libraries to preload names guard. */
static bool
lists_guard(const char *libraries)
{
	char	   *copy = pstrdup(libraries);
	char	   *item;
	char	   *save;

	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
	{
		char	   *end;
		char	   *base;

		while (isspace((unsigned char) *item) || *item == '"')
			item++;
		end = item + strlen(item);
		while (end > item && (isspace((unsigned char) end[-1]) || end[-1] == '"'))
			*--end = '\0';
		base = strrchr(item, '/');
		base = base ? base + 1 : item;
		if (pg_strcasecmp(base, "guard") == 0 || pg_strcasecmp(base, "guard" DLSUFFIX) == 0)
			return true;
	}
	return false;
}

/*
 * Whether a change to one of guard's settings or labels lets more through
 * than before: a lower environment, a higher row limit or none, a label
 * that exempts more.  A label on a table created in this transaction
 * weakens nothing: the table holds nothing older (a migration that creates
 * a staging table with its label, a restore in one transaction).  Returns
 * the words for a refusal, or NULL.
 */
static char *
change_weakens(const GuardTarget *target, const GuardChange *change)
{
	if (target->kind == GUARD_TARGET_LABEL)
	{
		if (target->created_here ||
			(guard_label_ops(change->after) & ~guard_label_ops(change->before)) == 0)
			return NULL;
		return psprintf("The statement would exempt %s from protection.",
						change->after);
	}

	if (pg_strcasecmp(target->name, "guard.environment") == 0)
	{
		if (environment_rank(change->after) >= environment_rank(change->before))
			return NULL;
	}
	else if (pg_strcasecmp(target->name, "guard.max_rows") == 0)
	{
		long		before = strtol(change->before, NULL, 10);
		long		after = strtol(change->after, NULL, 10);

		if (before <= 0 || (after > 0 && after <= before))
			return NULL;
	}
	else if (pg_strcasecmp(target->name, GUARD_PRELOAD_SETTING) == 0)
	{
		if (!lists_guard(change->before) || lists_guard(change->after))
			return NULL;
		return psprintf("The statement would take guard out of \"%s\" (from \"%s\" to \"%s\"): after the next restart nothing would be refused or recorded.",
						GUARD_PRELOAD_SETTING, change->before, change->after);
	}
	else
		return NULL;

	return psprintf("The statement would weaken it from \"%s\" to \"%s\" for %s.",
					change->before, change->after, change->scope);
}

/*
 * The words of the first change of a target that weakens protection, or
 * NULL.  A change that lowers guard.environment is judged in the
 * environment it lowers, which *environment is raised to: from a session
 * in a development database, unmarking a production one is a production
 * matter.
 */
static char *
target_weakens(const GuardTarget *target, GuardEnvironment *environment)
{
	ListCell   *lc;

	foreach(lc, target->changes)
	{
		GuardChange *change = (GuardChange *) lfirst(lc);
		char	   *words = change_weakens(target, change);

		if (words == NULL)
			continue;
		if (target->kind == GUARD_TARGET_SETTING &&
			pg_strcasecmp(target->name, "guard.environment") == 0)
			*environment = Max(*environment, environment_rank(change->before));
		return words;
	}
	return NULL;
}

void
guard_decide(const GuardAttempt *attempt, GuardDecision *decision)
{
	guard_decide_in(attempt, (GuardEnvironment) guard_environment, true,
					decision);
}

/*
 * The decision in a given environment, with or without this session's
 * override and permit: the dry run asks what production would do.
 */
void
guard_decide_in(const GuardAttempt *attempt, GuardEnvironment environment,
				bool use_override, GuardDecision *decision)
{
	List	   *allowed = NIL;
	bool		held_no_rows = false;
	ListCell   *lc;

	decision->verdict = GUARD_VERDICT_NONE;
	decision->environment = environment;
	decision->reason = NULL;
	decision->by_permit = false;
	decision->targets = NIL;
	decision->record = false;
	decision->exempted = false;
	decision->detail = NULL;
	decision->hint = NULL;
	if (attempt->rows > 0)
		decision->detail = psprintf("It would change " UINT64_FORMAT " rows, more than \"guard.max_rows\" (%d).",
									attempt->rows, guard_max_rows);

	foreach(lc, attempt->targets)
	{
		GuardTarget *target = (GuardTarget *) lfirst(lc);

		if (target->action == GUARD_ACTION_CHANGE)
		{
			char	   *weakening = target_weakens(target, &decision->environment);

			if (weakening == NULL)
				allowed = lappend(allowed, target);
			else
			{
				decision->targets = lappend(decision->targets, target);
				decision->detail = weakening;
			}
		}
		else if (target_loses_nothing(target))
			continue;
		else if (target->empty && target->relkind == RELKIND_SEQUENCE)
			continue;			/* never used: no value, not even a record */
		else if (target->empty && target->action != GUARD_ACTION_CHANGE_TYPE)
		{
			/* Decide on data: a table that holds no row has none to lose. */
			allowed = lappend(allowed, target);
			held_no_rows = true;
		}
		else if (target_is_exempt(target))
		{
			allowed = lappend(allowed, target);
			decision->exempted = true;
		}
		else
		{
			decision->targets = lappend(decision->targets, target);
			if (target->action == GUARD_ACTION_CHANGE_TYPE)
				decision->detail = "The type change would alter values the column holds.";
			else if (target->kind == GUARD_TARGET_TABLE &&
					 guard_queue_is_audit_table(target->objid))
				decision->detail = "guard.audit is the record of every attempt: only guard.prune() removes its rows without the override.";
		}
	}

	/*
	 * Exempt work, what destroys no row, and harmless changes to guard
	 * itself: always recorded.
	 */
	if (decision->targets == NIL)
	{
		if (allowed != NIL)
		{
			decision->verdict = GUARD_VERDICT_ALLOWED;
			decision->targets = allowed;
			decision->record = true;
			if (held_no_rows)
				decision->reason = "the table held no rows";
		}
		return;
	}

	switch (decision->environment)
	{
		case GUARD_ENV_PRODUCTION:
		case GUARD_ENV_STAGING:
			decision->reason = use_override ? guard_override_reason() : NULL;
			if (decision->reason == NULL && use_override)
			{
				decision->reason = permit_for(attempt, decision->targets);
				decision->by_permit = (decision->reason != NULL);
			}
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

	/* Weakening guard itself leaves a trace in every environment. */
	decision->record = (decision->verdict != GUARD_VERDICT_ALLOWED ||
						guard_audit_development ||
						attempt->old_value != NULL || attempt->new_value != NULL);
}

/* The words of a refusal: the error's message, and the dry run's. */
char *
guard_refusal_message(const GuardAttempt *attempt, const GuardDecision *decision)
{
	return psprintf("guard: %s of %s refused in production", attempt->command,
					guard_targets_message(decision->targets));
}

/*
 * A hint for a well-known tool whose own work tables guard refuses to
 * empty or drop until the DBA has done the tool's one-time set-up: pg_repack
 * copies a table into its schema "repack" and drops the copy and its log
 * there at the end (see "Beside other extensions" in the README).
 */
static const char *
tool_hint(const GuardDecision *decision)
{
	ListCell   *lc;

	foreach(lc, decision->targets)
	{
		GuardTarget *target = (GuardTarget *) lfirst(lc);

		/* Described while it existed: the name is schema-qualified. */
		if (target->kind != GUARD_TARGET_TABLE ||
			strncmp(target->name, "repack.", strlen("repack.")) != 0)
			return NULL;
	}
	/* Looked up last: pg_extension has no cache. */
	if (decision->targets == NIL ||
		!OidIsValid(get_extension_oid("pg_repack", true)))
		return NULL;
	return "pg_repack empties and drops its work tables in schema repack when it finishes, which guard refuses in production until its one-time set-up, with the override: SECURITY LABEL FOR guard ON SCHEMA repack IS 'drop,delete'. If a pg_repack run was stopped half-way, remove what it left: DROP EXTENSION pg_repack CASCADE under the override, then CREATE EXTENSION pg_repack.";
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

	/*
	 * A cancel or statement_timeout that arrives while the record is being
	 * written ends the wait for it (see queue.c), and is then answered by
	 * the refusal itself: the client gets guard's words, and the session
	 * its end, not a cancel that would skip them.
	 */
	HOLD_INTERRUPTS();
	if (decision->record)
		guard_audit_record(attempt, decision);

	/* A permit is good for one statement. */
	if (decision->by_permit)
		forget_permit();

	if (decision->verdict == GUARD_VERDICT_BLOCKED)
	{
		bool		database = false;
		const char *tool = tool_hint(decision);
		ListCell   *lc;

		/*
		 * A client session ends after its refusal, if so configured; a
		 * background worker (pg_cron's, a subscription's) gets the ERROR
		 * only.
		 */
		if (guard_on_refusal == GUARD_ON_REFUSAL_DISCONNECT && MyBackendType == B_BACKEND)
			guard_session_refused();

		foreach(lc, decision->targets)
		{
			if (((GuardTarget *) lfirst(lc))->kind == GUARD_TARGET_DATABASE)
				database = true;
		}

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s", guard_refusal_message(attempt, decision)),
				 decision->detail ?
				 errdetail("The server is marked as production by \"guard.environment\". %s",
						   decision->detail) :
				 errdetail("The server is marked as production by \"guard.environment\"."),
				 decision->hint ? errhint("%s", decision->hint) :
				 tool ? errhint("%s", tool) :
				 database ?
				 errhint("If this is intended, first run SELECT guard.permit_drop_database('<database>', '<reason>') in the database \"%s\", in the same session.",
						 guard_database) :
				 strcmp(attempt->command, "ALTER SYSTEM") == 0 ?
				 errhint("If this is intended, first run SELECT guard.permit_alter_system('%s', '<reason>') in the database \"%s\", in the same session.",
						 ((GuardTarget *) linitial(decision->targets))->name, guard_database) :
				 errhint("If this is intended, run it in a transaction after SET LOCAL guard.override = '<reason>'.")));
	}
	else if (decision->verdict == GUARD_VERDICT_WARNED)
		ereport(WARNING,
				(errmsg("guard: %s of %s would be refused in production",
						attempt->command,
						guard_targets_message(decision->targets)),
				 decision->detail ?
				 errdetail("The server is marked as staging by \"guard.environment\". %s",
						   decision->detail) :
				 errdetail("The server is marked as staging by \"guard.environment\".")));
	RESUME_INTERRUPTS();
}

/*
 * guard.prune removed audit rows: it records itself, who ran it (the
 * row's roles), the cut-off and how many rows, as an allowed DELETE of
 * guard.audit.  Its row is written by the writer in a transaction of its
 * own, so it stays even if the prune's transaction rolls back.
 */
void
guard_record_prune(Oid audit_relid, const char *statement, const char *cutoff,
				   uint64 removed)
{
	GuardTarget *target = guard_target_relation(audit_relid, 0, GUARD_ACTION_DELETE);

	if (target != NULL)
		guard_record_allowed("guard.prune", target, statement,
							 psprintf("removed " UINT64_FORMAT " rows recorded before %s",
									  removed, cutoff));
}

/*
 * Record what guard itself did, as allowed, with what it did as the
 * reason: guard.prune, and the recycle bin's keeps, undos and purges.
 */
void
guard_record_allowed(const char *command, GuardTarget *target,
					 const char *statement, const char *reason)
{
	GuardAttempt attempt;
	GuardDecision decision;

	memset(&attempt, 0, sizeof(attempt));
	attempt.command = command;
	attempt.statement = statement;
	attempt.targets = list_make1(target);
	memset(&decision, 0, sizeof(decision));
	decision.verdict = GUARD_VERDICT_ALLOWED;
	decision.environment = (GuardEnvironment) guard_environment;
	decision.targets = attempt.targets;
	decision.record = true;
	decision.reason = reason;
	guard_act(&attempt, &decision);
}

/*
 * Decide, and act now only on a refusal: the caller acts on anything else
 * (records it) once the statement has succeeded, or decides again then
 * with what it found meanwhile.
 */
void
guard_refuse_early(const GuardAttempt *attempt, GuardDecision *decision)
{
	guard_decide(attempt, decision);
	if (decision->verdict == GUARD_VERDICT_BLOCKED)
		guard_act(attempt, decision);
}

/* End a session that a refusal marked (see session.c), in guard's words. */
void
guard_end_session(void)
{
	ereport(FATAL,
			(errcode(ERRCODE_ADMIN_SHUTDOWN),
			 errmsg("guard: this session ends after its refused statement"),
			 errdetail("\"guard.on_refusal\" is \"disconnect\": a session runs nothing more after a statement refused in production, so that a script or a restore that ignores errors stops at its first refusal."),
			 errhint("Check which server the client is connected to. To keep sessions open after a refusal, set \"guard.on_refusal\" to \"error\" in the server configuration.")));
}

void
guard_enforce(const GuardAttempt *attempt)
{
	GuardDecision decision;

	guard_decide(attempt, &decision);
	guard_act(attempt, &decision);
}
