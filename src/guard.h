/*-------------------------------------------------------------------------
 *
 * guard.h
 *		Declarations shared by guard's source files, grouped under the file
 *		that defines them.
 *
 * A statement flows one way through guard: a hook (utility.c, objaccess.c,
 * dml.c) notices it and describes what it would destroy as a GuardAttempt
 * (target.c builds the descriptions); policy.c alone decides what happens
 * to it; audit.c turns the decision into a record, queues it for the
 * writer (writer.c) and waits for the commit.  Nothing flows back up.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GUARD_H
#define GUARD_H

#include "postgres.h"

#include "access/attnum.h"
#include "nodes/nodes.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lockdefs.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

typedef enum GuardEnvironment
{
	GUARD_ENV_DEVELOPMENT,
	GUARD_ENV_STAGING,
	GUARD_ENV_PRODUCTION
} GuardEnvironment;

typedef enum GuardOnRefusal
{
	GUARD_ON_REFUSAL_DISCONNECT,
	GUARD_ON_REFUSAL_ERROR
} GuardOnRefusal;

typedef enum GuardVerdict
{
	GUARD_VERDICT_NONE,			/* nothing destructive once exemptions apply */
	GUARD_VERDICT_ALLOWED,
	GUARD_VERDICT_WARNED,
	GUARD_VERDICT_OVERRIDDEN,
	GUARD_VERDICT_BLOCKED
} GuardVerdict;

typedef enum GuardTargetKind
{
	GUARD_TARGET_TABLE,
	GUARD_TARGET_COLUMN,
	GUARD_TARGET_DATABASE,
	GUARD_TARGET_SETTING,		/* one of guard's settings */
	GUARD_TARGET_LABEL			/* the guard label of a table or schema */
} GuardTargetKind;

/*
 * What a statement does to a target.  The first four can be exempted by a
 * "guard" security label (see exemption.c); the bits of GuardOps are
 * indexed by them.
 */
typedef enum GuardAction
{
	GUARD_ACTION_DROP,
	GUARD_ACTION_TRUNCATE,
	GUARD_ACTION_DELETE,
	GUARD_ACTION_UPDATE,
	GUARD_ACTION_DROP_COLUMN,
	GUARD_ACTION_CHANGE_TYPE,	/* a column type change that alters values */
	GUARD_ACTION_DROP_DATABASE,
	GUARD_ACTION_CHANGE			/* a change to guard's settings or labels */
} GuardAction;

typedef uint8 GuardOps;

#define GUARD_OP(action)	((GuardOps) (1 << (action)))
#define GUARD_OPS_ALL		(GUARD_OP(GUARD_ACTION_DROP) | GUARD_OP(GUARD_ACTION_TRUNCATE) | \
							 GUARD_OP(GUARD_ACTION_DELETE) | GUARD_OP(GUARD_ACTION_UPDATE))

/*
 * What a change to one of guard's settings or labels does for one set of
 * sessions (for a setting) or one object (for a label): the value in force
 * before the statement and after it.  Whether that weakens protection is
 * the policy's to say.
 */
typedef struct GuardChange
{
	const char *scope;			/* whom it applies to, in words, or NULL */
	const char *before;			/* never NULL: a default is a value too */
	const char *after;
} GuardChange;

/*
 * One thing a statement would destroy or change.  The facts the policy needs are
 * captured when the target is described, because a dropped object can no
 * longer be looked up by the time the statement ends.
 */
typedef struct GuardTarget
{
	GuardTargetKind kind;
	GuardAction action;
	Oid			objid;			/* relation, or database */
	AttrNumber	attnum;			/* column number, for GUARD_TARGET_COLUMN */
	char	   *name;			/* qualified, quoted where SQL would quote */
	bool		temporary;		/* a temporary relation */
	bool		created_here;	/* created in the current transaction */
	GuardOps	exempt;			/* actions its labels (or its schema's) exempt */
	bool		empty;			/* it held no row, under the statement's lock */
	char		relkind;		/* for relations: pg_class.relkind */
	List	   *changes;		/* of GuardChange *, for settings and labels */
} GuardTarget;

/* A statement that would destroy something, as a hook saw it. */
typedef struct GuardAttempt
{
	const char *command;		/* command tag: DROP TABLE, DELETE, ... */
	const char *statement;		/* the text of this one statement */
	List	   *targets;		/* of GuardTarget * */
	uint64		rows;			/* rows it changed, when over guard.max_rows */
	/* For changes to guard's own settings and labels: */
	const char *old_value;
	const char *new_value;
} GuardAttempt;

/* What the policy decided about an attempt. */
typedef struct GuardDecision
{
	GuardVerdict verdict;
	GuardEnvironment environment;
	const char *reason;			/* the override's reason, or NULL */
	bool		by_permit;		/* the reason is a DROP DATABASE permit's */
	List	   *targets;		/* the targets that are not exempt */
	bool		record;			/* whether the audit keeps a row for it */
	bool		exempted;		/* some targets were exempt by label */
	const char *detail;			/* more to say in a refusal, or NULL */
	const char *hint;			/* what to do instead, when not the override */
} GuardDecision;

typedef enum GuardWriterState
{
	GUARD_WRITER_STOPPED,
	GUARD_WRITER_STARTING,
	GUARD_WRITER_NO_TABLE,		/* connected, but guard.audit is missing */
	GUARD_WRITER_READY
} GuardWriterState;

/* The text columns of an audit row, in the order the writer binds them. */
typedef enum GuardField
{
	GUARD_FIELD_DATABASE,
	GUARD_FIELD_LOGIN_ROLE,
	GUARD_FIELD_EFFECTIVE_ROLE,
	GUARD_FIELD_CLIENT_ADDR,
	GUARD_FIELD_APPLICATION_NAME,
	GUARD_FIELD_COMMAND,
	GUARD_FIELD_STATEMENT,
	GUARD_FIELD_ENVIRONMENT,
	GUARD_FIELD_VERDICT,
	GUARD_FIELD_REASON,
	GUARD_FIELD_OLD_VALUE,
	GUARD_FIELD_NEW_VALUE,
	GUARD_FIELD_OBJECTS,		/* names separated by '\0' */
	GUARD_NFIELDS
} GuardField;

/* One audit row as the backend knows it, text at full length. */
typedef struct GuardRow
{
	TimestampTz at;
	int32		backend_pid;
	int32		object_count;	/* objects destroyed, even if not all listed */
	const char *field[GUARD_NFIELDS];	/* NULL for SQL NULL; not OBJECTS */
	List	   *objects;		/* of char *, qualified names */
	bool		clipped;		/* some text was cut to fit a queue slot */
} GuardRow;

/* Most rows the writer takes from the queue at once. */
#define GUARD_BATCH_MAX		256

/* What guard.status() shows of the writer and the queue. */
typedef struct GuardQueueStatus
{
	GuardWriterState writer_state;
	pid_t		writer_pid;
	int			size;			/* slots */
	int			pending;		/* rows taken and not yet committed or failed */
	uint64		queued;
	uint64		written;
	uint64		fallback;
	uint64		failed;
} GuardQueueStatus;

/* guard.c: module entry and settings */
extern int	guard_environment;
extern char *guard_override;
extern char *guard_database;
extern int	guard_audit_timeout;
extern int	guard_audit_queue_size;
extern bool guard_audit_development;
extern int	guard_max_rows;
extern int	guard_recycle_retention;
extern int	guard_recycle_max_size;
extern int	guard_on_refusal;
extern bool guard_is_writer;
extern const char *guard_environment_name(GuardEnvironment environment);
extern int	guard_parse_environment(const char *value);
extern const char *guard_override_reason(void);

/* utility.c: the ProcessUtility hook */
extern void guard_utility_init(void);
extern bool guard_statement_collect(GuardTarget *target);
extern bool guard_describe_utility(Node *parsetree, GuardAttempt *attempt);

/* config.c: changes to guard's own settings */
extern bool guard_describe_setting_change(Node *parsetree, GuardAttempt *attempt);

/* session.c: the session after a refusal */
extern void guard_session_init(void);

/* subscription.c: what a logical replication worker truncates */
extern void guard_subscription_init(void);
extern void guard_session_refused(void);
extern void guard_session_check(Node *stmt);

/* objaccess.c: the object-access hook */
extern void guard_objaccess_init(void);
extern Oid	guard_lo_writer_called;

/* recyclebin.c: undo of overridden drops and truncations */
extern bool guard_recycle_drop(Node *parsetree, const GuardAttempt *attempt,
							   const GuardDecision *decision, List **kept);
extern void guard_recycle_drop_finish(List *kept, const GuardAttempt *attempt,
									  const GuardDecision *decision,
									  int64 audit_id);
typedef struct GuardBinTruncate GuardBinTruncate;
extern GuardBinTruncate *guard_recycle_truncate_begin(Node *parsetree,
													  const GuardAttempt *attempt,
													  const GuardDecision *decision);
extern void guard_recycle_truncating(Oid relid);
extern int	guard_recycle_purge_expired(const char *statement);
extern void guard_recycle_truncate_leave(GuardBinTruncate *bin);
extern void guard_recycle_truncate_finish(GuardBinTruncate *bin, int64 audit_id);

/* dml.c: DELETE and UPDATE without a condition, or past guard.max_rows */
extern void guard_dml_init(void);
extern List *guard_describe_plan(PlannedStmt *pstmt, const char *source);

/* target.c: describing what a statement would destroy */
extern GuardTarget *guard_target_relation(Oid relid, AttrNumber attnum,
										  GuardAction action);
extern GuardTarget *guard_target_modified(Oid relid, GuardAction action);
extern GuardTarget *guard_target_database(Oid dbid);
extern GuardTarget *guard_target_sequence(Oid relid);
extern List *guard_targets_in_schema(Oid nspid);
extern List *guard_targets_owned_by(Oid roleid);
extern List *guard_targets_of_extension(Oid extid);
extern bool guard_target_member(const GuardTarget *target, List *targets);
extern char *guard_statement_text(const char *source, int location, int len);
extern char *guard_targets_message(List *targets);
extern bool guard_target_check_rows(GuardTarget *target, LOCKMODE lockmode);
extern bool guard_relation_visibly_empty(Oid relid);
extern List *guard_targets_cascaded_from(Oid relid, GuardAction action, List *updated);
extern bool guard_type_change_loses(Oid relid, AttrNumber attnum,
									TypeName *type_name, Node *using, bool inh);

/* exemption.c: the "guard" security label provider */
#define GUARD_LABEL_PROVIDER "guard"
extern void guard_exemption_init(void);
extern GuardOps guard_exempt_ops(Oid relid, Oid nspid, bool is_partition);
extern GuardOps guard_label_ops(const char *label);
extern GuardTarget *guard_target_relabelled(Oid relid, Oid new_parent, Oid new_nspid);

/* policy.c: the rules */
#define GUARD_PRELOAD_SETTING "shared_preload_libraries"
extern bool guard_policy_active(void);
extern bool guard_may_override(void);
extern bool guard_target_may_lose(const GuardTarget *target);
extern bool guard_row_limit_set(void);
extern bool guard_rows_over_limit(uint64 rows);
extern bool guard_setting_protected(const char *name);
extern const char *guard_protected_setting(int i);
extern bool guard_reason_given(const char *reason);
extern void guard_check_setting_statement(Node *parsetree);
extern bool guard_check_setting_source(const char *name, GucSource source);
extern bool guard_check_override_value(const char *reason, GucSource source);
extern void guard_decide(const GuardAttempt *attempt, GuardDecision *decision);
extern void guard_decide_in(const GuardAttempt *attempt,
							GuardEnvironment environment, bool use_override,
							GuardDecision *decision);
extern void guard_act(const GuardAttempt *attempt, const GuardDecision *decision);
extern char *guard_refusal_message(const GuardAttempt *attempt,
								   const GuardDecision *decision);
extern void guard_enforce(const GuardAttempt *attempt);
extern void guard_refuse_early(const GuardAttempt *attempt, GuardDecision *decision);
extern void guard_end_session(void);
extern const char *guard_verdict_name(GuardVerdict verdict);
extern void guard_permit_drop_database(Oid dbid, const char *reason);
extern void guard_permit_alter_system(const char *setting, const char *reason);
extern void guard_record_allowed(const char *command, GuardTarget *target,
								 const char *statement, const char *reason);
extern void guard_record_prune(Oid audit_relid, const char *statement,
							   const char *cutoff, uint64 removed);

/* functions.c: set while guard.prune removes old audit rows */
extern bool guard_pruning;

/* audit.c: the record of a decision, and the log */
extern int64 guard_last_audit_id;
extern void guard_audit_record(const GuardAttempt *attempt,
							   const GuardDecision *decision);
extern Size guard_record_size(void);
extern void guard_record_pack(void *record, const GuardRow *row);
extern void guard_record_unpack(const void *record, GuardRow *row);
extern int	guard_record_encoding(const void *record);
extern void guard_audit_table_missing(char *failure, size_t failure_size);

/* queue.c: the audit queue in shared memory */
extern void guard_queue_init(void);
extern bool guard_queue_available(void);
extern bool guard_queue_put(const GuardRow *row, int64 *id, char *failure,
							size_t failure_size);
extern void guard_queue_count_fallback(void);
extern bool guard_queue_is_audit_table(Oid relid);
extern void guard_queue_fail_writing(const char *failure);
extern int	guard_queue_take(int *slots, int max);
extern void guard_queue_row(int slot, GuardRow *row, int *encoding);
extern void guard_queue_finish(const int *slots, const int64 *ids, int n,
							   const char *failure, bool *abandoned);
extern void guard_writer_publish(GuardWriterState state, Oid audit_relid);
extern void guard_writer_looked(void);
extern const char *guard_writer_state_name(GuardWriterState state);
extern void guard_queue_status(GuardQueueStatus *status);

/* The databases outside the audit database that have recycle bins. */
#define GUARD_BIN_DATABASES 64
extern void guard_bin_database_note(Oid dbid);
extern void guard_bin_database_forget(Oid dbid);
extern int	guard_bin_databases(Oid *dbs, uint64 *all);
extern void guard_bin_databases_visited(uint64 all);

/* writer.c: the background worker that drains the queue */
extern void guard_writer_register(void);
extern PGDLLEXPORT void guard_writer_main(Datum main_arg);

/* purger.c: the recycle bin's background purge */
extern void guard_purger_register(void);
extern PGDLLEXPORT void guard_purger_main(Datum main_arg);
extern PGDLLEXPORT void guard_purger_database_main(Datum main_arg);

#endif							/* GUARD_H */
