/*-------------------------------------------------------------------------
 *
 * exemption.c
 *		Exemptions for routine destructive work: the "guard" security label
 *		provider.
 *
 * Production systems empty ETL staging tables every night and drop
 * per-day partitions on a schedule.  A superuser marks such a table, a
 * partitioned table (for its partitions) or a schema with the operations
 * that are routine there:
 *
 *		SECURITY LABEL FOR guard ON TABLE etl.stage IS 'truncate';
 *		SECURITY LABEL FOR guard ON SCHEMA etl IS 'truncate,delete';
 *		SECURITY LABEL FOR guard ON TABLE events IS 'drop';
 *
 * A security label is PostgreSQL's own way to attach a mark to an object:
 * it lives in pg_seclabel, so pg_dump keeps it and physical replication
 * carries it, and it goes away with the object.  Exempted statements run
 * and are recorded as "allowed".  Widening an exemption weakens protection,
 * so in production it needs the override like any destructive statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/table.h"
#include "catalog/objectaddress.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "commands/seclabel.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "guard.h"

/* Indexed by GuardAction, for the actions a label can exempt. */
static const char *const op_names[] = {"drop", "truncate", "delete", "update"};

/*
 * Parse a label: operation names separated by commas.  Returns false, with
 * *bad set to the first word that is not one, for an invalid label.
 */
static bool
parse_ops(const char *label, GuardOps *ops, char **bad)
{
	char	   *copy = pstrdup(label);
	char	   *word;
	char	   *save;

	*ops = 0;
	*bad = NULL;
	for (word = strtok_r(copy, ",", &save); word != NULL;
		 word = strtok_r(NULL, ",", &save))
	{
		char	   *end;
		int			i;

		while (isspace((unsigned char) *word))
			word++;
		end = word + strlen(word);
		while (end > word && isspace((unsigned char) end[-1]))
			*--end = '\0';

		for (i = 0; i < lengthof(op_names); i++)
		{
			if (pg_strcasecmp(word, op_names[i]) == 0)
				break;
		}
		if (i == lengthof(op_names))
		{
			*bad = word;
			return false;
		}
		*ops |= GUARD_OP(i);
	}
	if (*ops == 0 && *bad == NULL)
		*bad = "";
	return *ops != 0;
}

/* The canonical text of a set of operations, "drop,truncate". */
static char *
ops_string(GuardOps ops)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < lengthof(op_names); i++)
	{
		if (ops & GUARD_OP(i))
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? "," : "", op_names[i]);
	}
	return buf.data;
}

/*
 * The labels this session has read, by object: pg_seclabel has no syscache,
 * and a refusal or a dry run looks up a table's label and its schema's.
 * Any change of a guard label goes through guard_object_relabel, which
 * sends an invalidation for the object (relcache for a table, catcache for
 * a schema); dropping a table or a schema sends one too.  Any such
 * invalidation empties the cache, which labels rarely change.
 */
typedef struct LabelKey
{
	Oid			classid;
	Oid			objid;
} LabelKey;

typedef struct LabelEntry
{
	LabelKey	key;
	GuardOps	ops;
} LabelEntry;

static HTAB *label_cache = NULL;

static void
forget_labels(void)
{
	if (label_cache != NULL)
	{
		hash_destroy(label_cache);
		label_cache = NULL;
	}
}

static void
forget_labels_relcache(Datum arg, Oid relid)
{
	forget_labels();
}

static void
forget_labels_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	forget_labels();
}

static GuardOps
label_ops(Oid classid, Oid objid)
{
	ObjectAddress object;
	LabelKey	key;
	LabelEntry *entry;
	GuardOps	ops;
	bool		found;

	if (label_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(LabelKey);
		ctl.entrysize = sizeof(LabelEntry);
		ctl.hcxt = CacheMemoryContext;
		label_cache = hash_create("guard labels", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.classid = classid;
	key.objid = objid;
	entry = (LabelEntry *) hash_search(label_cache, &key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->ops;

	/* The lookup may take in an invalidation that empties the cache. */
	object.classId = classid;
	object.objectId = objid;
	object.objectSubId = 0;
	ops = guard_label_ops(GetSecurityLabel(&object, GUARD_LABEL_PROVIDER));
	if (label_cache != NULL)
	{
		entry = (LabelEntry *) hash_search(label_cache, &key, HASH_ENTER, &found);
		entry->ops = ops;
	}
	return ops;
}

/* Tell every session, this one included, that an object's label changes. */
static void
invalidate_label(const ObjectAddress *object)
{
	if (object->classId == RelationRelationId)
		CacheInvalidateRelcacheByRelid(object->objectId);
	else
	{
		Relation	rel = table_open(NamespaceRelationId, AccessShareLock);
		HeapTuple	tuple = SearchSysCacheCopy1(NAMESPACEOID,
												ObjectIdGetDatum(object->objectId));

		if (HeapTupleIsValid(tuple))
			CacheInvalidateHeapTuple(rel, tuple, NULL);
		table_close(rel, AccessShareLock);
	}
}

/* The operations a label's text exempts; none for an empty or bad label. */
GuardOps
guard_label_ops(const char *label)
{
	GuardOps	ops;
	char	   *bad;

	if (label == NULL || !parse_ops(label, &ops, &bad))
		return 0;
	return ops;
}

/*
 * The operations exempt on a relation: by its own label, its partitioned
 * ancestors' labels and its schema's label.
 */
GuardOps
guard_exempt_ops(Oid relid, Oid nspid, bool is_partition)
{
	GuardOps	ops = label_ops(RelationRelationId, relid);

	if (is_partition)
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
			ops |= label_ops(RelationRelationId, lfirst_oid(lc));
	}
	return ops | label_ops(NamespaceRelationId, nspid);
}

/*
 * Describe a table moving under other labels: attached as a partition of
 * new_parent, or moved to schema new_nspid (InvalidOid: unchanged).  The
 * operations exempt on it before and after are what the policy compares:
 * moving a protected table under an exemption widens it like labelling
 * it.  NULL when nothing changes.
 */
GuardTarget *
guard_target_relabelled(Oid relid, Oid new_parent, Oid new_nspid)
{
	GuardTarget *target = guard_target_relation(relid, 0, GUARD_ACTION_CHANGE);
	GuardOps	before;
	GuardOps	after;
	GuardChange *change;
	Oid			nspid;

	if (target == NULL || target->temporary)
		return NULL;
	nspid = get_rel_namespace(relid);
	before = guard_exempt_ops(relid, nspid, get_rel_relispartition(relid));
	after = label_ops(RelationRelationId, relid) |
		label_ops(NamespaceRelationId, OidIsValid(new_nspid) ? new_nspid : nspid);
	/* The new parent's own labels and its ancestors', not its schema's. */
	if (OidIsValid(new_parent))
		after |= guard_exempt_ops(new_parent, InvalidOid,
								  get_rel_relispartition(new_parent));
	else if (get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
			after |= label_ops(RelationRelationId, lfirst_oid(lc));
	}
	if (after == before)
		return NULL;

	change = (GuardChange *) palloc0(sizeof(GuardChange));
	change->before = ops_string(before);
	change->after = ops_string(after);
	target->kind = GUARD_TARGET_LABEL;
	target->exempt = 0;
	target->changes = list_make1(change);
	return target;
}

/*
 * The provider's check of SECURITY LABEL FOR guard: superusers only, on
 * tables and schemas, with a valid label.  A change that exempts more than
 * before goes to the policy like a destructive statement.
 */
static void
guard_object_relabel(const ObjectAddress *object, const char *seclabel)
{
	GuardOps	old_ops;
	GuardOps	new_ops = 0;
	char	   *bad;
	GuardAttempt attempt;
	GuardTarget *target;
	GuardChange *change;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may set security labels for guard")));

	if (object->classId == RelationRelationId && object->objectSubId == 0)
	{
		char		relkind = get_rel_relkind(object->objectId);

		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
			relkind != RELKIND_FOREIGN_TABLE && relkind != RELKIND_MATVIEW)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("guard labels apply to tables and schemas only")));
		target = guard_target_relation(object->objectId, 0, GUARD_ACTION_CHANGE);
	}
	else if (object->classId == NamespaceRelationId)
	{
		target = (GuardTarget *) palloc0(sizeof(GuardTarget));
		target->objid = object->objectId;
		target->name = get_namespace_name(object->objectId);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("guard labels apply to tables and schemas only")));

	if (seclabel != NULL && !parse_ops(seclabel, &new_ops, &bad))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid guard label \"%s\"", seclabel),
				 new_ops == 0 && *bad == '\0' ?
				 errdetail("A guard label names at least one operation.") :
				 errdetail("\"%s\" is not an operation guard can exempt.", bad),
				 errhint("A guard label lists, separated by commas, some of: drop, truncate, delete, update.")));

	old_ops = label_ops(object->classId, object->objectId);
	invalidate_label(object);
	if (target == NULL)
		return;

	/* The policy judges the change; a temporary table's label is recorded. */
	change = (GuardChange *) palloc0(sizeof(GuardChange));
	change->before = ops_string(old_ops);
	change->after = ops_string(new_ops);
	target->kind = GUARD_TARGET_LABEL;
	target->action = GUARD_ACTION_CHANGE;
	target->temporary = false;
	target->exempt = 0;
	target->changes = list_make1(change);

	memset(&attempt, 0, sizeof(attempt));
	attempt.command = "SECURITY LABEL";
	attempt.statement = debug_query_string;
	attempt.targets = list_make1(target);
	attempt.old_value = old_ops ? change->before : NULL;
	attempt.new_value = new_ops ? change->after : NULL;
	guard_enforce(&attempt);
}

void
guard_exemption_init(void)
{
	register_label_provider(GUARD_LABEL_PROVIDER, guard_object_relabel);
	CacheRegisterRelcacheCallback(forget_labels_relcache, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, forget_labels_syscache, (Datum) 0);
}
