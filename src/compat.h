/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL versions guard compiles
 *		against (13 to 18).  No other file tests PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GUARD_COMPAT_H
#define GUARD_COMPAT_H

#include "postgres.h"

#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 130000
#error "guard needs PostgreSQL 13 or later"
#endif

/*
 * ProcessUtility gained readOnlyTree in 14.  The hook is declared through
 * these macros so that its body is the same everywhere.
 */
#if PG_VERSION_NUM >= 140000
#define GUARD_UTILITY_PARAMS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define GUARD_UTILITY_ARGS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define GUARD_UTILITY_PARAMS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define GUARD_UTILITY_ARGS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * Shared memory is requested from shmem_request_hook since 15; before, from
 * _PG_init itself.
 */
#if PG_VERSION_NUM >= 150000
#define GUARD_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/* GRANT SET ON PARAMETER exists since 15; before, superusers only. */
#if PG_VERSION_NUM >= 150000
#define GUARD_MAY_SET(name) \
	(superuser() || pg_parameter_aclcheck((name), GetUserId(), ACL_SET) == ACLCHECK_OK)
#else
#define GUARD_MAY_SET(name) superuser()
#endif

/* The local transaction id moved into PGPROC.vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_MY_LXID (MyProc->vxid.lxid)
#else
#define GUARD_MY_LXID (MyProc->lxid)
#endif

/*
 * ModifyTable has one subplan since 14 (the rows to change, for every
 * result relation at once); before, one per result relation.
 */
#if PG_VERSION_NUM >= 140000
#define GUARD_MODIFY_NSUBPLANS(mt) 1
#define GUARD_MODIFY_SUBPLAN(mt, i) outerPlan(mt)
#else
#define GUARD_MODIFY_NSUBPLANS(mt) list_length((mt)->plans)
#define GUARD_MODIFY_SUBPLAN(mt, i) ((Plan *) list_nth((mt)->plans, (i)))
#endif

/* raw_parser() takes a mode since 14. */
#if PG_VERSION_NUM >= 140000
#define GUARD_RAW_PARSE(str) raw_parser((str), RAW_PARSE_DEFAULT)
#else
#define GUARD_RAW_PARSE(str) raw_parser(str)
#endif

/* pg_analyze_and_rewrite() was renamed in 15. */
#if PG_VERSION_NUM >= 150000
#define GUARD_ANALYZE_AND_REWRITE(raw, str) \
	pg_analyze_and_rewrite_fixedparams((raw), (str), NULL, 0, NULL)
#else
#define GUARD_ANALYZE_AND_REWRITE(raw, str) \
	pg_analyze_and_rewrite((raw), (str), NULL, 0, NULL)
#endif

/* LockHeldByMe() gained an "orstronger" argument in 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_LOCK_HELD_BY_ME(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define GUARD_LOCK_HELD_BY_ME(tag, mode) LockHeldByMe((tag), (mode))
#endif

/* The same for ModifyTableState: its input plan states. */
#if PG_VERSION_NUM >= 140000
#define GUARD_MODIFY_NSUBSTATES(mtstate) 1
#define GUARD_MODIFY_SUBSTATE(mtstate, i) outerPlanState(mtstate)
#else
#define GUARD_MODIFY_NSUBSTATES(mtstate) ((mtstate)->mt_nplans)
#define GUARD_MODIFY_SUBSTATE(mtstate, i) ((mtstate)->mt_plans[(i)])
#endif

/* Custom wait events have names of their own since 17. */
#if PG_VERSION_NUM >= 170000
#define GUARD_WAIT_EVENT(name) WaitEventExtensionNew(name)
#else
#define GUARD_WAIT_EVENT(name) PG_WAIT_EXTENSION
#endif

#endif							/* GUARD_COMPAT_H */
