/*-------------------------------------------------------------------------
 *
 * recyclebin.c
 *		Undo: what an overridden DROP TABLE, DROP SCHEMA, DROP OWNED, DROP
 *		EXTENSION or TRUNCATE lets through is kept, not destroyed, and
 *		guard.undrop puts it back.
 *
 * Kept: what the override lets through in production (and, as a rehearsal,
 * what staging warns about), while guard.recycle_retention is not 0.
 *
 * - DROP TABLE: the table moves, whole, into a schema of its own,
 *   guard_bin_<oid> (its OID when it was dropped), as ALTER TABLE ... SET
 *   SCHEMA moves it: rows, columns, indexes, constraints, defaults, owned
 *   sequences, triggers, policies, grants, comments, row type, and its
 *   partitions.  Under CASCADE, the views on it and the tables that inherit
 *   from it go with it, and the foreign keys of other tables are dropped
 *   and recreated on undo.  A partition or child dropped alone is detached
 *   first, and attached again on undo.
 * - DROP SCHEMA: the schema itself is renamed guard_bin_<oid>, with all
 *   that is in it.
 * - DROP OWNED: the roles' tables are kept as DROP TABLE ... CASCADE would
 *   keep them, given to the bootstrap superuser meanwhile; the statement
 *   then drops the rest, and the undo gives them back to their owner.
 * - DROP EXTENSION: the extension's tables that hold rows leave it and are
 *   kept the same way; they come back as tables of their own.
 * - TRUNCATE: the table's old storage, which PostgreSQL would unlink at
 *   commit, is given to a table in a bin schema (see below).
 *
 * Nothing is copied: a keep costs a few catalog updates, whatever the size,
 * and the space stays in use until the entry is purged.  The bin schema's
 * comment holds, as JSON, what the entry was, when, who, the override's
 * reason and audit row, and when it expires; guard.recyclebin reads it.  A
 * schema is ordinary catalog data: it replicates, survives a restart, a
 * crash and a promotion, and pg_dump keeps it.  A drop over which something
 * else depends, or whose tables use what the statement drops (a trigger's
 * function that DROP OWNED drops), is not kept: it runs, with a WARNING
 * that says so.
 *
 * Expired entries are purged once a minute by the purger (purger.c), in
 * every database that has a bin, when the next entry is kept, and by
 * guard.purge.  Every keep, undo and purge is an audit row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/objectaccess.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_rewrite.h"
#include "catalog/storage.h"
#include "commands/comment.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guard.h"

#define BIN_PREFIX "guard_bin_"

/* Settings (guard.c defines them). */
int			guard_recycle_retention = 7 * 24 * 60;	/* minutes; 0 keeps nothing */
int			guard_recycle_max_size = 0;	/* MB; 0: no cap */

/* A relation of a kept table: the table itself or one of its partitions. */
typedef struct BinMember
{
	Oid			relid;
	char	   *schema;			/* where it was */
	char	   *name;
	char	   *kept;			/* its name in the bin, if not name */
	bool		follows;		/* kept with the table named before it */
	char	   *parent;			/* a partition's or child's parent, qualified */
	char	   *bound;			/* a partition's bound; NULL for a child */
	char	   *owner;			/* given back to on undo (DROP OWNED) */
} BinMember;

/*
 * A foreign key of another table that references a kept table: dropped
 * with it, as CASCADE does, and recreated by guard.undrop.
 */
typedef struct KeptForeignKey
{
	Oid			conoid;
	char	   *table;			/* qualified */
	char	   *name;
	char	   *definition;		/* every name in it qualified */
} KeptForeignKey;

/* A sequence that TRUNCATE ... RESTART IDENTITY reset, and its value. */
typedef struct KeptSequence
{
	char	   *name;			/* qualified */
	int64		last_value;
} KeptSequence;

/*
 * A table that an overridden TRUNCATE empties: its storage as it was,
 * noted when PostgreSQL checks the table, and handed to a table in the bin
 * once the TRUNCATE has given the table new storage.
 */
typedef struct KeptStorage
{
	Oid			relid;
	FormData_pg_class heap;		/* its pg_class row as it was */
	GuardStorage heap_file;
	TupleDesc	desc;			/* the layout of its rows */
	FormData_pg_class toast;	/* its TOAST table's, if it has one */
	GuardStorage toast_file;
	Oid			toast_index;
	GuardStorage toast_index_file;
} KeptStorage;

/* An overridden TRUNCATE, while it runs (see guard_recycle_truncate_begin). */
struct GuardBinTruncate
{
	struct GuardBinTruncate *outer; /* the statement that ran this one */
	MemoryContext cxt;			/* lives as long as the statement */
	const GuardAttempt *attempt;
	const GuardDecision *decision;
	bool		restart_seqs;
	char	   *table;			/* the first table it names, qualified */
	bool		full;			/* over the cap in staging: keep no more */
	int64		size;			/* the bin's, with what is kept so far */
	List	   *kept;			/* of KeptStorage * */
	List	   *sequences;		/* of KeptSequence * */
};

static GuardBinTruncate *truncating = NULL;

static bool
is_bin_schema(const char *nspname)
{
	return strncmp(nspname, BIN_PREFIX, strlen(BIN_PREFIX)) == 0;
}

/* A set of object addresses, for walks over dependencies. */
static HTAB *
address_set(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(ObjectAddress);
	ctl.entrysize = sizeof(ObjectAddress);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("guard recycle bin walk", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Add addr to set; false if it was there. */
static bool
address_add(HTAB *set, List **order, const ObjectAddress *addr)
{
	ObjectAddress key = {addr->classId, addr->objectId, 0};
	bool		found;
	ObjectAddress *entry = hash_search(set, &key, HASH_ENTER, &found);

	if (!found)
		*order = lappend(*order, entry);
	return !found;
}

static bool
address_has(HTAB *set, const ObjectAddress *addr)
{
	ObjectAddress key = {addr->classId, addr->objectId, 0};

	return hash_search(set, &key, HASH_FIND, NULL) != NULL;
}

/* The view or materialized view whose query a rewrite rule is, if any. */
static Oid
rule_view(Oid ruleoid)
{
	Relation	rel = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			view = InvalidOid;

	ScanKeyInit(&key, Anum_pg_rewrite_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ruleoid));
	scan = systable_beginscan(rel, RewriteOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_rewrite rule = (Form_pg_rewrite) GETSTRUCT(tup);
		char		relkind = get_rel_relkind(rule->ev_class);

		if (rule->ev_type == '0' + CMD_SELECT &&
			(relkind == RELKIND_VIEW || relkind == RELKIND_MATVIEW))
			view = rule->ev_class;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return view;
}

static BinMember *
bin_member_of(Oid relid, bool follows)
{
	BinMember  *m = palloc0(sizeof(BinMember));

	m->relid = relid;
	m->schema = get_namespace_name(get_rel_namespace(relid));
	m->name = get_rel_name(relid);
	m->follows = follows;
	return m;
}

/* The object addresses of members, for walk_dependents. */
static List *
member_addresses(List *members)
{
	List	   *roots = NIL;
	ListCell   *lc;

	foreach(lc, members)
	{
		ObjectAddress *addr = palloc(sizeof(ObjectAddress));

		ObjectAddressSet(*addr, RelationRelationId, ((BinMember *) lfirst(lc))->relid);
		roots = lappend(roots, addr);
	}
	return roots;
}

/* The constraint a partition's constraint is part of, at the top. */
static Oid
root_constraint(Oid conoid)
{
	while (OidIsValid(conoid))
	{
		HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
		Oid			parent;

		if (!HeapTupleIsValid(tup))
			return InvalidOid;
		parent = ((Form_pg_constraint) GETSTRUCT(tup))->conparentid;
		ReleaseSysCache(tup);
		if (!OidIsValid(parent))
			return conoid;
		conoid = parent;
	}
	return InvalidOid;
}

/*
 * Settings under which a definition reads the same whatever the session
 * that runs it later (as pg_dump sets them): every name qualified, dates
 * in ISO.  Returns the GUC nest level to end with AtEOXact_GUC.
 */
static int
definition_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("datestyle", "ISO", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* A constraint's definition, under definition_settings. */
static char *
constraint_definition(Oid conoid)
{
	int			nestlevel = definition_settings();
	char	   *def;

	def = TextDatumGetCString(DirectFunctionCall1(pg_get_constraintdef,
												  ObjectIdGetDatum(conoid)));
	AtEOXact_GUC(true, nestlevel);
	return def;
}

/*
 * Note a foreign key of another table, to drop and recreate; once, though
 * it is seen through the table it references and through that key's index.
 */
static void
note_foreign_key(List **fkeys, Oid conoid, Form_pg_constraint con)
{
	KeptForeignKey *fk;
	ListCell   *lc;

	foreach(lc, *fkeys)
	{
		if (((KeptForeignKey *) lfirst(lc))->conoid == conoid)
			return;
	}
	fk = palloc(sizeof(KeptForeignKey));
	fk->conoid = conoid;
	fk->table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(con->conrelid)),
										   get_rel_name(con->conrelid));
	fk->name = pstrdup(NameStr(con->conname));
	fk->definition = constraint_definition(conoid);
	*fkeys = lappend(*fkeys, fk);
}

/*
 * Walk what would go with roots (ObjectAddress *), following automatic,
 * internal and partition dependencies as a drop does, and what else
 * depends on it: what a drop without CASCADE refuses to drop, and one with
 * CASCADE drops too.  For DROP SCHEMA, schemas lists the schemas dropped:
 * what is in them goes with them.
 *
 * Views and materialized views outside schemas that depend on what goes,
 * and tables that inherit from it, are added to *views, to be kept with
 * it, and so is what depends on them;
 * the foreign keys of other tables that reference it are added to *fkeys,
 * to be dropped and recreated on undo.  Returns false when something else
 * depends on it; *any says whether anything does.
 */
static bool
walk_dependents(List *roots, List *schemas, List **views, List **fkeys,
				bool *any)
{
	HTAB	   *set = address_set();
	List	   *order = NIL;
	List	   *normal = NIL;
	Relation	depRel = table_open(DependRelationId, AccessShareLock);
	ListCell   *lc;
	int			i;

	*any = false;
	foreach(lc, roots)
		address_add(set, &order, (ObjectAddress *) lfirst(lc));

	/* order grows as it is walked. */
	for (i = 0; i < list_length(order); i++)
	{
		ObjectAddress *ref = (ObjectAddress *) list_nth(order, i);
		bool		in_schema = ref->classId == NamespaceRelationId &&
			list_member_oid(schemas, ref->objectId);
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(ref->classId));
		ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(ref->objectId));
		scan = systable_beginscan(depRel, DependReferenceIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
			ObjectAddress addr = {dep->classid, dep->objid, 0};
			Oid			follower;

			if (dep->deptype == DEPENDENCY_EXTENSION ||
				dep->deptype == DEPENDENCY_AUTO_EXTENSION)
				continue;
			if (dep->deptype != DEPENDENCY_NORMAL || in_schema)
			{
				address_add(set, &order, &addr);
				continue;
			}
			if (address_has(set, &addr))
				continue;
			*any = true;

			/*
			 * A view on it goes with it, and so does a table that inherits
			 * from it (an inheritance child depends on its parent, normally),
			 * and what depends on those.
			 */
			if (dep->classid == RewriteRelationId)
				follower = rule_view(dep->objid);
			else if (dep->classid == RelationRelationId && dep->objsubid == 0 &&
					 ref->classId == RelationRelationId &&
					 get_rel_relkind(dep->objid) == RELKIND_RELATION &&
					 has_superclass(dep->objid))
				follower = dep->objid;
			else
				follower = InvalidOid;
			if (OidIsValid(follower) &&
				!list_member_oid(schemas, get_rel_namespace(follower)))
			{
				ObjectAddress va;

				ObjectAddressSet(va, RelationRelationId, follower);
				if (address_add(set, &order, &va))
				{
					LockRelationOid(follower, AccessExclusiveLock);
					*views = lappend(*views, bin_member_of(follower, true));
				}
			}
			normal = lappend(normal, palloc(sizeof(ObjectAddress)));
			*(ObjectAddress *) llast(normal) = addr;
		}
		systable_endscan(scan);
	}
	table_close(depRel, AccessShareLock);

	/* What is left outside: foreign keys of other tables, or not kept. */
	foreach(lc, normal)
	{
		ObjectAddress *addr = (ObjectAddress *) lfirst(lc);
		HeapTuple	tup;
		Form_pg_constraint con;
		Oid			parent;

		if (address_has(set, addr))
			continue;
		if (addr->classId != ConstraintRelationId)
			return false;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(addr->objectId));
		if (!HeapTupleIsValid(tup))
			return false;
		con = (Form_pg_constraint) GETSTRUCT(tup);
		parent = con->conparentid;
		if (con->contype != CONSTRAINT_FOREIGN)
		{
			ReleaseSysCache(tup);
			return false;
		}
		if (!OidIsValid(parent))
			note_foreign_key(fkeys, addr->objectId, con);
		ReleaseSysCache(tup);

		/* A partition's part of a foreign key goes with the whole key. */
		if (OidIsValid(parent))
		{
			Oid			root = root_constraint(parent);
			ListCell   *nc;
			bool		found = false;

			foreach(nc, normal)
			{
				ObjectAddress *other = (ObjectAddress *) lfirst(nc);

				found |= other->classId == ConstraintRelationId && other->objectId == root;
			}
			if (!found)
				return false;
		}
	}
	return true;
}

/*
 * Append "key": value to a JSON object being built, after a comma unless
 * it is the object's first field; nothing when value is NULL.
 */
static void
json_field(StringInfo buf, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (buf->len > 0 && buf->data[buf->len - 1] != '{')
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	escape_json(buf, value);
}

/* Append "key": [{"schema": ..., "name": ..., ...}, ...] of members. */
static void
json_members(StringInfo buf, const char *key, List *members)
{
	ListCell   *lc;

	appendStringInfo(buf, ", \"%s\": [", key);
	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);

		appendStringInfoString(buf, foreach_current_index(lc) > 0 ? ", {" : "{");
		json_field(buf, "schema", m->schema);
		json_field(buf, "name", m->name);
		json_field(buf, "kept", m->kept);
		json_field(buf, "parent", m->parent);
		json_field(buf, "bound", m->bound);
		json_field(buf, "owner", m->owner);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

/*
 * The JSON text of an entry: the comment of its schema.  table is the
 * table it is known by (the first member's name when NULL); sequences, the
 * values that a TRUNCATE ... RESTART IDENTITY reset; fkeys, the foreign
 * keys of other tables that a drop took with it.  The object is left open
 * for the caller to add to, and close.
 */
static void
entry_json(StringInfo buf, const char *command, const char *table,
		   List *members, List *sequences, List *fkeys,
		   const GuardDecision *decision, int64 audit_id, TimestampTz at,
		   TimestampTz expires)
{
	BinMember  *top = (BinMember *) linitial(members);
	ListCell   *lc;

	appendStringInfoChar(buf, '{');
	json_field(buf, "table", table != NULL ? table :
			   quote_qualified_identifier(top->schema, top->name));
	json_field(buf, "relname", top->kept != NULL ? top->kept : top->name);
	json_field(buf, "command", command);
	json_field(buf, "at", timestamptz_to_str(at));
	json_field(buf, "expires", timestamptz_to_str(expires));
	json_field(buf, "role", GetUserNameFromId(GetSessionUserId(), false));
	if (decision->reason != NULL)
		json_field(buf, "reason", decision->reason);
	else
		appendStringInfoString(buf, ", \"reason\": null");
	json_field(buf, "environment", guard_environment_name(decision->environment));
	if (audit_id > 0)
		appendStringInfo(buf, ", \"audit_id\": " INT64_FORMAT, audit_id);
	json_members(buf, "members", members);
	if (fkeys != NIL)
	{
		appendStringInfoString(buf, ", \"foreign_keys\": [");
		foreach(lc, fkeys)
		{
			KeptForeignKey *fk = (KeptForeignKey *) lfirst(lc);

			appendStringInfoString(buf, foreach_current_index(lc) > 0 ? ", {" : "{");
			json_field(buf, "table", fk->table);
			json_field(buf, "name", fk->name);
			json_field(buf, "definition", fk->definition);
			appendStringInfoChar(buf, '}');
		}
		appendStringInfoChar(buf, ']');
	}
	if (sequences != NIL)
	{
		appendStringInfoString(buf, ", \"sequences\": [");
		foreach(lc, sequences)
		{
			KeptSequence *seq = (KeptSequence *) lfirst(lc);

			appendStringInfoString(buf, foreach_current_index(lc) > 0 ? ", {" : "{");
			json_field(buf, "name", seq->name);
			appendStringInfo(buf, ", \"last_value\": " INT64_FORMAT "}", seq->last_value);
		}
		appendStringInfoChar(buf, ']');
	}
}

/* A text field of a JSON object, or NULL. */
static char *
container_text(JsonbContainer *container, const char *key)
{
	JsonbValue *val = getKeyJsonValueFromContainer(container, key, strlen(key), NULL);

	if (val == NULL || val->type != jbvString)
		return NULL;
	return pnstrdup(val->val.string.val, val->val.string.len);
}

static Jsonb *
entry_jsonb(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* A text field of an entry's JSON, or NULL. */
static char *
entry_field(const char *json, const char *key)
{
	if (json == NULL)
		return NULL;
	return container_text(&entry_jsonb(json)->root, key);
}

/*
 * ", for the statement recorded as id N": what an undo's or a purge's audit
 * row says of the override's own row, from the entry; "" without one.
 */
static const char *
for_statement(const char *json)
{
	JsonbValue *val = getKeyJsonValueFromContainer(&entry_jsonb(json)->root,
												   "audit_id", strlen("audit_id"), NULL);

	if (val == NULL || val->type != jbvNumeric)
		return "";
	return psprintf(", for the statement recorded as id %s",
					DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(val->val.numeric))));
}

/* The objects of an array of an entry's JSON (JsonbContainer *). */
static List *
entry_array(const char *json, const char *key)
{
	Jsonb	   *jb = entry_jsonb(json);
	JsonbValue *array = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);
	List	   *items = NIL;
	JsonbValue *item;
	uint32		i;

	if (array == NULL || array->type != jbvBinary)
		return NIL;
	for (i = 0; (item = getIthJsonbValueFromContainer(array->val.binary.data, i)) != NULL; i++)
	{
		if (item->type == jbvBinary)
			items = lappend(items, item->val.binary.data);
	}
	return items;
}


static char *
schema_comment(Oid nspid)
{
	return GetComment(nspid, NamespaceRelationId, 0);
}

/* A kept table, described under the name it had (for purges). */
static GuardTarget *
kept_target(Oid relid, const char *json)
{
	GuardTarget *target = guard_target_relation(relid, 0, GUARD_ACTION_DROP);
	char	   *table = entry_field(json, "table");

	if (target != NULL && table != NULL)
		target->name = table;
	return target;
}

/* Move a relation, with what goes with it, into another schema. */
static void
move_relation(Oid relid, Oid nspid)
{
	Relation	rel = relation_open(relid, NoLock);
	ObjectAddresses *moved = new_object_addresses();

	AlterTableNamespaceInternal(rel, RelationGetNamespace(rel), nspid, moved);
	free_object_addresses(moved);
	relation_close(rel, NoLock);
	CommandCounterIncrement();
}

/* Drop the foreign keys of other tables that a kept drop takes with it. */
static void
drop_foreign_keys(List *fkeys)
{
	ListCell   *lc;

	foreach(lc, fkeys)
	{
		ObjectAddress constraint;

		ObjectAddressSet(constraint, ConstraintRelationId,
						 ((KeptForeignKey *) lfirst(lc))->conoid);
		performDeletion(&constraint, DROP_RESTRICT,
						PERFORM_DELETION_INTERNAL | PERFORM_DELETION_QUIETLY);
		CommandCounterIncrement();
	}
}

/* When an entry kept at "at" expires. */
static TimestampTz
expiry(TimestampTz at)
{
	return TimestampTzPlusMilliseconds(at, (int64) guard_recycle_retention * 60 * 1000);
}

/*
 * The guard.keep audit row of an entry: what ("kept", "rows kept", "schema
 * kept") went where, until when, for the statement recorded as audit_id.
 */
static void
record_keep(GuardTarget *target, const char *statement, const char *what,
			const char *nspname, TimestampTz expires, int64 audit_id)
{
	/* The purger visits this database's bin from now on. */
	guard_bin_database_note(MyDatabaseId);
	if (target == NULL)
		return;
	guard_record_allowed("guard.keep", target, statement,
						 audit_id > 0 ?
						 psprintf("%s as %s until %s, for the statement recorded as id " INT64_FORMAT,
								  what, nspname, timestamptz_to_str(expires), audit_id) :
						 psprintf("%s as %s until %s", what, nspname,
								  timestamptz_to_str(expires)));
}

/* Drop a bin schema and what it holds. */
static void
drop_bin(Oid nspid)
{
	ObjectAddress object;

	ObjectAddressSet(object, NamespaceRelationId, nspid);
	performDeletion(&object, DROP_CASCADE,
					PERFORM_DELETION_INTERNAL | PERFORM_DELETION_QUIETLY);
	CommandCounterIncrement();
}

/* The kept table of a bin schema: the relation named first in its entry. */
static Oid
bin_table(Oid nspid, const char *json)
{
	char	   *relname = entry_field(json, "relname");

	return relname == NULL ? InvalidOid : get_relname_relid(relname, nspid);
}

/*
 * Purge the expired entries of this database, recorded with statement:
 * when a table is kept, and once a minute by the purger.  Returns how many
 * entries are left.
 */
int
guard_recycle_purge_expired(const char *statement)
{
	Relation	rel = table_open(NamespaceRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	List	   *expired = NIL;
	int			remaining = 0;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_namespace nsp = (Form_pg_namespace) GETSTRUCT(tup);
		char	   *expires;

		if (!is_bin_schema(NameStr(nsp->nspname)))
			continue;
		expires = entry_field(schema_comment(nsp->oid), "expires");
		if (expires != NULL &&
			DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
													CStringGetDatum(expires),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1))) <= now)
			expired = lappend_oid(expired, nsp->oid);
		else
			remaining++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	foreach(lc, expired)
	{
		Oid			nspid = lfirst_oid(lc);
		char	   *json = schema_comment(nspid);
		Oid			relid = bin_table(nspid, json);

		GuardTarget *target = OidIsValid(relid) ? kept_target(relid, json) : NULL;

		if (target != NULL)
			guard_record_allowed("guard.purge", target, statement,
								 psprintf("expired: kept until %s%s",
										  entry_field(json, "expires"), for_statement(json)));
		drop_bin(nspid);
	}
	return remaining;
}

/*
 * The space the tables and materialized views of one schema take, or of
 * every bin schema when nspid is InvalidOid, in bytes.
 */
static int64
schema_size(Oid nspid)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	int64		size = 0;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
		char	   *nspname;

		if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_MATVIEW)
			continue;
		if (OidIsValid(nspid) && cls->relnamespace != nspid)
			continue;
		nspname = get_namespace_name(cls->relnamespace);
		if (nspname != NULL && (OidIsValid(nspid) || is_bin_schema(nspname)))
			size += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
													  ObjectIdGetDatum(cls->oid)));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return size;
}

/* The parents of an inheritance child or a partition. */
static List *
parents_of(Oid relid)
{
	Relation	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *parents = NIL;

	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tup))->inhparent);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return parents;
}

/* A partition's bound, as ATTACH PARTITION takes it (definition_settings). */
static char *
partition_bound(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Datum		bound;
	bool		isnull;
	char	   *def = NULL;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	bound = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relpartbound, &isnull);
	if (!isnull)
	{
		int			nestlevel = definition_settings();

		def = TextDatumGetCString(DirectFunctionCall2(pg_get_expr, bound,
													  ObjectIdGetDatum(relid)));
		AtEOXact_GUC(true, nestlevel);
	}
	ReleaseSysCache(tup);
	return def;
}

/*
 * The relations of a DROP TABLE that can be kept: each named table, then
 * its partitions, then the views and tables that go with them (see
 * walk_dependents); and in *fkeys, the
 * foreign keys of other tables that reference them.  NIL when the
 * statement is not one the bin keeps; then *why says why, when it is
 * worth a WARNING.
 */
static List *
keepable(DropStmt *stmt, List **fkeys, const char **why)
{
	List	   *members = NIL;
	List	   *roots = NIL;
	List	   *views = NIL;
	ListCell   *lc;
	bool		any;

	*why = NULL;
	*fkeys = NIL;
	foreach(lc, stmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		char		relkind;
		ListCell   *pc;
		List	   *tables;
		BinMember  *named;

		if (!OidIsValid(relid))
		{
			if (stmt->missing_ok)
				continue;
			return NIL;			/* DROP TABLE says it does not exist */
		}
		relkind = get_rel_relkind(relid);
		if ((relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE) ||
			get_rel_persistence(relid) == RELPERSISTENCE_TEMP ||
			!guard_owns_relation(relid) ||
			IsCatalogRelationOid(relid) ||
			IsCatalogNamespace(get_rel_namespace(relid)) ||
			OidIsValid(getExtensionOfObject(RelationRelationId, relid)) ||
			is_bin_schema(get_namespace_name(get_rel_namespace(relid))))
			return NIL;			/* DROP TABLE says what is wrong, or drops it */
		LockRelationOid(relid, AccessExclusiveLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			return NIL;			/* dropped meanwhile: DROP TABLE says so */
		tables = relkind == RELKIND_PARTITIONED_TABLE ?
			find_all_inheritors(relid, AccessExclusiveLock, NULL) :
			list_make1_oid(relid);
		foreach(pc, tables)
			members = lappend(members, bin_member_of(lfirst_oid(pc),
													 foreach_current_index(pc) > 0));

		/*
		 * A partition or an inheritance child dropped alone is detached
		 * from its parent when it is kept, and attached again on undo.
		 */
		named = (BinMember *) list_nth(members, list_length(members) - list_length(tables));
		if (get_rel_relispartition(relid) || has_superclass(relid))
		{
			List	   *parents = parents_of(relid);
			Oid			parent;

			if (list_length(parents) != 1)
			{
				*why = "an inheritance child of several parents is not kept";
				return NIL;
			}
			parent = linitial_oid(parents);
			named->parent = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
													   get_rel_name(parent));
			if (get_rel_relispartition(relid))
				named->bound = partition_bound(relid);
		}
	}
	if (members == NIL)
		return NIL;
	roots = member_addresses(members);
	if (walk_dependents(roots, NIL, &views, fkeys, &any))
		members = list_concat(members, views);
	else
	{
		*why = stmt->behavior == DROP_CASCADE ?
			"something other than a view, an inheriting table or a foreign key depends on it" :
			NULL;
		return NIL;
	}
	if (any && stmt->behavior != DROP_CASCADE)
		return NIL;				/* PostgreSQL refuses the drop */
	return members;
}

/* The WARNING of a statement that runs but whose tables are not kept. */
static void
warn_not_kept(const GuardAttempt *attempt, const char *why)
{
	ereport(WARNING,
			(errmsg("guard: the tables of this %s are not kept in the recycle bin",
					attempt->command),
			 errdetail("It runs, and cannot be undone: %s.", why)));
}

/* Run a statement of the bin's own, through SPI. */
static void
bin_execute(const char *sql)
{
	SPI_connect();
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "guard: could not run \"%s\"", sql);
	SPI_finish();
}

/*
 * Detach each partition or child dropped alone from its parent, in a
 * subtransaction; false, with a WARNING, when PostgreSQL refuses it.
 */
static bool
detach_members(List *members, const GuardAttempt *attempt)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ListCell   *lc;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		foreach(lc, members)
		{
			BinMember  *m = (BinMember *) lfirst(lc);
			char	   *table = quote_qualified_identifier(m->schema, m->name);

			if (m->parent == NULL)
				continue;
			bin_execute(m->bound != NULL ?
						psprintf("ALTER TABLE %s DETACH PARTITION %s", m->parent, table) :
						psprintf("ALTER TABLE %s NO INHERIT %s", table, m->parent));
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		warn_not_kept(attempt, psprintf("detaching it from its parent failed: %s",
										edata->message));
		return false;
	}
	PG_END_TRY();
	return true;
}

/*
 * A kept table, moved into its bin: what its entry says once the
 * statement's own audit row is known (record_bin).
 */
typedef struct BinKeep
{
	Oid			nspid;
	List	   *members;
	List	   *fkeys;
	GuardTarget *target;		/* the table described where it was */
	TimestampTz at;
} BinKeep;

/*
 * Move one named table, its partitions and the views on them into their
 * bin schema; drop the foreign keys of other tables that reference them.
 */
static BinKeep *
move_to_bin(List *members, List *fkeys)
{
	BinMember  *top = (BinMember *) linitial(members);
	BinKeep    *keep = palloc0(sizeof(BinKeep));
	char		nspname[NAMEDATALEN];
	ListCell   *lc;

	keep->members = members;
	keep->fkeys = fkeys;
	keep->at = GetCurrentTimestamp();
	keep->target = guard_target_relation(top->relid, 0, GUARD_ACTION_DROP);

	snprintf(nspname, sizeof(nspname), BIN_PREFIX "%u", top->relid);
	keep->nspid = NamespaceCreate(nspname, BOOTSTRAP_SUPERUSERID, false);
	CommandCounterIncrement();
	drop_foreign_keys(fkeys);
	foreach(lc, members)
		move_relation(((BinMember *) lfirst(lc))->relid, keep->nspid);
	return keep;
}

/* Write a kept table's entry, and its guard.keep audit row. */
static void
record_bin(BinKeep *keep, const GuardAttempt *attempt,
		   const GuardDecision *decision, int64 audit_id)
{
	StringInfoData json;
	TimestampTz expires = expiry(keep->at);

	initStringInfo(&json);
	entry_json(&json, attempt->command, NULL, keep->members, NIL, keep->fkeys,
			   decision, audit_id, keep->at, expires);
	appendStringInfoChar(&json, '}');
	CreateComments(keep->nspid, NamespaceRelationId, 0, json.data);
	CommandCounterIncrement();

	record_keep(keep->target, attempt->statement, "kept",
				get_namespace_name(keep->nspid), expires, audit_id);
}

/*
 * The groups that the members of a drop go into the bin by: one per table
 * named, its partitions following it; what depends on the tables keeps
 * them together: views and foreign keys of other tables go into one bin
 * with all of them.  Each group is moved; the list of BinKeep is returned.
 */
static List *
move_groups(List *members, List *fkeys)
{
	List	   *keeps = NIL;
	bool		together = fkeys != NIL;
	ListCell   *lc;

	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);

		/* A view or an inheritance child that goes with them. */
		together |= m->follows && !get_rel_relispartition(m->relid);
	}
	while (members != NIL)
	{
		BinMember  *top = (BinMember *) linitial(members);
		List	   *group = list_make1(top);

		members = list_delete_first(members);
		while (members != NIL &&
			   (together || ((BinMember *) linitial(members))->follows))
		{
			group = lappend(group, linitial(members));
			members = list_delete_first(members);
		}
		keeps = lappend(keeps, move_to_bin(group, fkeys));
		fkeys = NIL;
	}
	return keeps;
}

/* Whether the bin keeps what a statement so decided lets through. */
static bool
bin_keeps(const GuardDecision *decision)
{
	return guard_recycle_retention > 0 &&
		(decision->verdict == GUARD_VERDICT_OVERRIDDEN ||
		 (decision->verdict == GUARD_VERDICT_WARNED &&
		  decision->environment == GUARD_ENV_STAGING));
}

/*
 * Whether the bin, holding size bytes with what a statement would add,
 * would go over guard.recycle_max_size.  Over it, the statement is refused
 * in production (this raises); in staging it runs with a WARNING, and true
 * says to keep nothing more of it.
 */
static bool
over_cap(int64 size, const GuardAttempt *attempt, const GuardDecision *decision)
{
	int64		cap = (int64) guard_recycle_max_size * 1024 * 1024;
	GuardDecision full;

	if (guard_recycle_max_size <= 0 || size <= cap)
		return false;

	full = *decision;
	full.detail = psprintf("The recycle bin of this database would hold %s, more than \"guard.recycle_max_size\" (%s), and a table the override lets through is kept, not destroyed.",
						   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(size)))),
						   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(cap)))));
	if (decision->environment == GUARD_ENV_PRODUCTION)
	{
		full.verdict = GUARD_VERDICT_BLOCKED;
		full.hint = "Make room with guard.purge (SELECT * FROM guard.recyclebin lists what is kept), or raise \"guard.recycle_max_size\".";
		guard_act(attempt, &full);	/* raises */
	}
	ereport(WARNING,
			(errmsg("guard: the tables of this %s are not kept in the recycle bin",
					attempt->command),
			 errdetail("%s", full.detail)));
	return true;
}

/* over_cap, for the bin with members added to it. */
static bool
members_over_cap(List *members, const GuardAttempt *attempt,
				 const GuardDecision *decision)
{
	int64		size;
	ListCell   *lc;

	if (guard_recycle_max_size <= 0)
		return false;
	size = schema_size(InvalidOid);
	foreach(lc, members)
		size += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
												  ObjectIdGetDatum(((BinMember *) lfirst(lc))->relid)));
	return over_cap(size, attempt, decision);
}

/*
 * DROP SCHEMA ... CASCADE, kept: instead of dropping a schema and what is in
 * it, guard renames it guard_bin_<oid>.  Everything in it stays as it is
 * (tables, views, sequences, types, functions), and the undo renames it
 * back.  What outside it depends on what is in it goes as CASCADE would
 * take it: views move into the bin too, foreign keys of other tables are
 * dropped and recreated on undo; anything else means it is not kept.
 */



/* Whether an extension is installed in a schema. */
static bool
schema_has_extension(Oid nspid)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	bool		found = false;

	while (!found && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		found = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace == nspid;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Rename a schema, as ALTER SCHEMA ... RENAME does, without its checks. */
static void
rename_schema(Oid nspid, const char *newname)
{
	Relation	rel = table_open(NamespaceRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(NAMESPACEOID, ObjectIdGetDatum(nspid));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nspid);
	namestrcpy(&((Form_pg_namespace) GETSTRUCT(tup))->nspname, newname);
	CatalogTupleUpdate(rel, &tup->t_self, tup);
	heap_freetuple(tup);
	table_close(rel, RowExclusiveLock);
	InvokeObjectPostAlterHook(NamespaceRelationId, nspid, 0);
	CommandCounterIncrement();
}

/* The first table (or else view) of a schema, to describe it by. */
static Oid
schema_first_relation(Oid nspid)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	Oid			table = InvalidOid;
	Oid			other = InvalidOid;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

		if (cls->relnamespace != nspid)
			continue;
		if ((cls->relkind == RELKIND_RELATION || cls->relkind == RELKIND_PARTITIONED_TABLE) &&
			(!OidIsValid(table) || cls->oid < table))
			table = cls->oid;
		else if ((cls->relkind == RELKIND_VIEW || cls->relkind == RELKIND_MATVIEW) &&
				 (!OidIsValid(other) || cls->oid < other))
			other = cls->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return OidIsValid(table) ? table : other;
}

/*
 * Keep the schemas of an overridden DROP SCHEMA.  Returns true when it did,
 * and recorded the statement; false when the statement must run.
 */
static bool
keep_schemas(DropStmt *stmt, const GuardAttempt *attempt,
			 const GuardDecision *decision)
{
	List	   *schemas = NIL;
	List	   *views = NIL;
	List	   *fkeys = NIL;
	const char *why = NULL;
	ListCell   *lc;
	int64		audit_id;
	int64		size = 0;

	foreach(lc, stmt->objects)
	{
		char	   *name = strVal(lfirst(lc));
		Oid			nspid = get_namespace_oid(name, true);

		if (!OidIsValid(nspid))
		{
			if (stmt->missing_ok)
				continue;
			return false;		/* DROP SCHEMA says it does not exist */
		}
		if (IsCatalogNamespace(nspid) || IsToastNamespace(nspid) ||
			isAnyTempNamespace(nspid) || is_bin_schema(name) ||
			!guard_owns_schema(nspid) ||
			OidIsValid(getExtensionOfObject(NamespaceRelationId, nspid)))
			return false;		/* DROP SCHEMA says what is wrong, or drops it */
		if (schema_has_extension(nspid))
		{
			why = "an extension is installed in it";
			break;
		}
		LockDatabaseObject(NamespaceRelationId, nspid, 0, AccessExclusiveLock);
		if (!SearchSysCacheExists1(NAMESPACEOID, ObjectIdGetDatum(nspid)))
			return false;		/* dropped meanwhile */
		if (!OidIsValid(schema_first_relation(nspid)))
			return false;		/* no table, no view: no rows to keep */
		schemas = lappend_oid(schemas, nspid);
	}
	if (why == NULL && schemas != NIL)
	{
		List	   *roots = NIL;
		bool		any;

		foreach(lc, schemas)
		{
			ObjectAddress *addr = palloc(sizeof(ObjectAddress));

			ObjectAddressSet(*addr, NamespaceRelationId, lfirst_oid(lc));
			roots = lappend(roots, addr);
		}
		if (!walk_dependents(roots, schemas, &views, &fkeys, &any))
			why = "something outside the schema other than a view, an inheriting table or a foreign key depends on what is in it";
	}
	if (why != NULL || schemas == NIL)
	{
		if (why != NULL && stmt->behavior == DROP_CASCADE)
			warn_not_kept(attempt, why);
		return false;
	}

	if (guard_recycle_max_size > 0)
	{
		size = schema_size(InvalidOid);
		foreach(lc, schemas)
			size += schema_size(lfirst_oid(lc));
		if (over_cap(size, attempt, decision))
			return false;
	}

	guard_recycle_purge_expired(debug_query_string);

	/* The statement's own row first: the keep points at it. */
	guard_enforce(attempt);
	audit_id = guard_last_audit_id;

	foreach(lc, schemas)
	{
		Oid			nspid = lfirst_oid(lc);
		char	   *name = get_namespace_name(nspid);
		char		nspname[NAMEDATALEN];
		char	   *comment = schema_comment(nspid);
		TimestampTz at = GetCurrentTimestamp();
		TimestampTz expires = expiry(at);
		List	   *moved = foreach_current_index(lc) == 0 ? views : NIL;
		ListCell   *vc;
		Oid			first;
		GuardTarget *target;
		StringInfoData json;

		/* The foreign keys of other tables go, as CASCADE takes them. */
		if (foreach_current_index(lc) == 0)
			drop_foreign_keys(fkeys);

		snprintf(nspname, sizeof(nspname), BIN_PREFIX "%u", nspid);
		rename_schema(nspid, nspname);
		foreach(vc, moved)
		{
			BinMember  *m = (BinMember *) lfirst(vc);

			if (OidIsValid(get_relname_relid(m->name, nspid)))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_TABLE),
						 errmsg("guard: cannot keep %s with schema \"%s\": the schema has a relation of that name",
								quote_qualified_identifier(m->schema, m->name), name),
						 errhint("Drop it first, or set \"guard.recycle_retention\" to 0 for this drop.")));
			move_relation(m->relid, nspid);
		}

		/*
		 * The entry: named by the schema, described by its first relation;
		 * the views moved into it and the schema's own comment go into it,
		 * to come back.
		 */
		first = schema_first_relation(nspid);
		initStringInfo(&json);
		entry_json(&json, attempt->command, quote_identifier(name),
				   list_make1(bin_member_of(first, false)), NIL,
				   foreach_current_index(lc) == 0 ? fkeys : NIL,
				   decision, audit_id, at, expires);
		json_field(&json, "schema", name);
		json_field(&json, "comment", comment);
		json_members(&json, "views", moved);
		appendStringInfoChar(&json, '}');
		CreateComments(nspid, NamespaceRelationId, 0, json.data);
		CommandCounterIncrement();

		target = OidIsValid(first) ? guard_target_relation(first, 0, GUARD_ACTION_DROP) : NULL;
		if (target != NULL)
			target->name = pstrdup(quote_identifier(name));
		record_keep(target, attempt->statement, "schema kept", nspname,
					expires, audit_id);
	}
	return true;
}

/* A relation's pg_class row, copied. */
static FormData_pg_class
class_row(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	FormData_pg_class row;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	row = *(Form_pg_class) GETSTRUCT(tup);
	ReleaseSysCache(tup);
	return row;
}

/* An array of oids, for SPI. */
static Datum
oid_array(List *oids)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(list_length(oids), 1));
	ListCell   *lc;

	foreach(lc, oids)
		datums[foreach_current_index(lc)] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(datums, list_length(oids), OIDOID,
										   sizeof(Oid), true, TYPALIGN_INT));
}

/*
 * Run a catalog query of two oid arrays, $1 and $2, at most limit rows (0:
 * all), in an SPI connection that the caller finishes; what names what it
 * looks at, for the error.
 */
static void
select_over_oids(const char *sql, List *first, List *second, long limit,
				 const char *what)
{
	Oid			argtypes[2] = {OIDARRAYOID, OIDARRAYOID};
	Datum		values[2];

	values[0] = oid_array(first);
	values[1] = oid_array(second);
	SPI_connect();
	if (SPI_execute_with_args(sql, 2, argtypes, values, NULL, true, limit) != SPI_OK_SELECT)
		elog(ERROR, "guard: could not look at %s", what);
}

/*
 * SQL: "part", the relations of the array $1 and every object made of them,
 * found by following the automatic and internal dependencies to them.
 */
#define PARTS_OF_RELATIONS \
	"WITH RECURSIVE part(classid, objid) AS (" \
	" SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, r" \
	" FROM pg_catalog.unnest($1) r" \
	" UNION" \
	" SELECT d.classid, d.objid FROM pg_catalog.pg_depend d" \
	" JOIN part p ON d.refclassid = p.classid AND d.refobjid = p.objid" \
	" WHERE d.deptype IN ('a', 'i'))"

/*
 * What the relations to keep use, outside themselves, that the statement
 * drops: the description of the first such object, or NULL.  A column's
 * type, a default's function or sequence, a trigger's function, a check's
 * function: if the statement drops it, it takes the use with it (or fails,
 * without CASCADE), so the relations are not kept.  What each relation is
 * made of is found by following automatic and internal dependencies to it;
 * what that uses, by their normal dependencies.  dropped is SQL that holds
 * for an object (d.refclassid, d.refobjid) the statement drops, given $2.
 */
static char *
used_and_dropped(List *relids, const char *dropped, List *oids)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *found = NULL;
	char	   *sql;

	sql = psprintf(PARTS_OF_RELATIONS
				   " SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0)"
				   " FROM part p JOIN pg_catalog.pg_depend d"
				   " ON d.classid = p.classid AND d.objid = p.objid"
				   " WHERE d.deptype = 'n'"
				   " AND NOT EXISTS (SELECT FROM part q"
				   " WHERE q.classid = d.refclassid AND q.objid = d.refobjid)"
				   " AND %s LIMIT 1", dropped);
	select_over_oids(sql, relids, oids, 1, "what the kept tables use");
	if (SPI_processed > 0)
		found = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return found;
}

/* The tables the roles own in this database that a DROP OWNED would drop. */
static List *
owned_tables(List *roles)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	List	   *tables = NIL;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

		if ((cls->relkind == RELKIND_RELATION || cls->relkind == RELKIND_PARTITIONED_TABLE) &&
			cls->relpersistence != RELPERSISTENCE_TEMP &&
			list_member_oid(roles, cls->relowner) &&
			!IsCatalogNamespace(cls->relnamespace) &&
			!isAnyTempNamespace(cls->relnamespace) &&
			!is_bin_schema(get_namespace_name(cls->relnamespace)) &&
			!OidIsValid(getExtensionOfObject(RelationRelationId, cls->oid)))
			tables = lappend_oid(tables, cls->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	list_sort(tables, list_oid_cmp);	/* oldest first: the entry's name */
	return tables;
}

/*
 * DROP OWNED BY, kept.  The tables that the roles own in this database are
 * kept as DROP TABLE ... CASCADE would keep them, and given to the
 * bootstrap superuser, so that DROP OWNED, which then runs and drops what
 * else the roles own, does not find them; the undo gives each back to its
 * owner.  Returns the kept tables (BinKeep), whose entries
 * guard_recycle_drop_finish writes once the statement is recorded; NIL
 * when nothing is kept.
 */
static List *
keep_owned(DropOwnedStmt *stmt, const GuardAttempt *attempt,
		   const GuardDecision *decision)
{
	List	   *roles = NIL;
	List	   *tables;
	List	   *relids = NIL;
	List	   *members;
	List	   *fkeys;
	DropStmt   *drop = makeNode(DropStmt);
	const char *why = NULL;
	char	   *used;
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		Oid			roleid = get_rolespec_oid((RoleSpec *) lfirst(lc), true);

		if (!OidIsValid(roleid))
			return NIL;			/* DROP OWNED says so */
		roles = lappend_oid(roles, roleid);
	}
	tables = owned_tables(roles);

	/* Each table named but for partitions and children of another. */
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);
		ListCell   *pc;
		bool		follows = false;

		foreach(pc, parents_of(relid))
			follows |= list_member_oid(tables, lfirst_oid(pc));
		if (!follows)
			drop->objects = lappend(drop->objects,
									list_make2(makeString(get_namespace_name(get_rel_namespace(relid))),
											   makeString(get_rel_name(relid))));
	}
	if (drop->objects == NIL)
		return NIL;
	drop->removeType = OBJECT_TABLE;
	drop->behavior = DROP_CASCADE;
	members = keepable(drop, &fkeys, &why);
	if (members != NIL && stmt->behavior != DROP_CASCADE)
	{
		/*
		 * Without CASCADE, DROP OWNED fails on what other roles have that
		 * depends on these tables: let it say so.
		 */
		foreach(lc, members)
		{
			if (!list_member_oid(roles, class_row(((BinMember *) lfirst(lc))->relid).relowner))
				return NIL;
		}
		foreach(lc, fkeys)
		{
			HeapTuple	tup = SearchSysCache1(CONSTROID,
											  ObjectIdGetDatum(((KeptForeignKey *) lfirst(lc))->conoid));
			Oid			conrelid;

			if (!HeapTupleIsValid(tup))
				return NIL;
			conrelid = ((Form_pg_constraint) GETSTRUCT(tup))->conrelid;
			ReleaseSysCache(tup);
			if (!list_member_oid(roles, class_row(conrelid).relowner))
				return NIL;
		}
	}
	if (members != NIL)
	{
		foreach(lc, members)
			relids = lappend_oid(relids, ((BinMember *) lfirst(lc))->relid);
		used = used_and_dropped(relids,
								"EXISTS (SELECT FROM pg_catalog.pg_shdepend s"
								" WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database"
								" WHERE datname = pg_catalog.current_database())"
								" AND s.classid = d.refclassid AND s.objid = d.refobjid"
								" AND s.deptype = 'o' AND s.refobjid = ANY ($2))",
								roles);
		if (used != NULL)
		{
			why = psprintf("they use %s, which it drops", used);
			members = NIL;
		}
	}
	if (members == NIL)
	{
		if (why != NULL)
			warn_not_kept(attempt, why);
		return NIL;
	}

	if (members_over_cap(members, attempt, decision))
		return NIL;
	if (!detach_members(members, attempt))
		return NIL;
	guard_recycle_purge_expired(debug_query_string);

	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		Oid			owner = class_row(m->relid).relowner;

		if (!list_member_oid(roles, owner))
			continue;
		m->owner = GetUserNameFromId(owner, false);
		ATExecChangeOwner(m->relid, BOOTSTRAP_SUPERUSERID, true, AccessExclusiveLock);
		CommandCounterIncrement();
	}
	return move_groups(members, fkeys);
}

/*
 * The sequences of the extensions that the defaults of these tables take
 * their values from (an extension's table often has a serial of its own
 * that is a member, not owned by the column).
 */
static List *
member_sequences(List *relids, List *exts)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *seqs = NIL;
	uint64		i;

	select_over_oids("SELECT DISTINCT d.refobjid FROM pg_catalog.pg_attrdef a"
					 " JOIN pg_catalog.pg_depend d"
					 " ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass"
					 " AND d.objid = a.oid AND d.deptype = 'n'"
					 " AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					 " JOIN pg_catalog.pg_depend e"
					 " ON e.classid = d.refclassid AND e.objid = d.refobjid"
					 " AND e.deptype = 'e' AND e.refobjid = ANY ($2)"
					 " WHERE a.adrelid = ANY ($1)",
					 relids, exts, 0, "the sequences of the kept tables");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			seq = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1,
														 &isnull));
		MemoryContext old = MemoryContextSwitchTo(cxt);

		if (get_rel_relkind(seq) == RELKIND_SEQUENCE)
			seqs = lappend_oid(seqs, seq);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return seqs;
}

/*
 * Take relations, and every object made of them (found by following the
 * automatic and internal dependencies to them), out of the extensions.
 */
static void
leave_extensions(List *relids, List *exts)
{
	uint64		i;

	select_over_oids(PARTS_OF_RELATIONS
					 " SELECT DISTINCT e.classid, e.objid, e.refobjid"
					 " FROM part p JOIN pg_catalog.pg_depend e"
					 " ON e.classid = p.classid AND e.objid = p.objid"
					 " WHERE e.deptype = 'e' AND e.refobjid = ANY ($2)",
					 relids, exts, 0, "what the kept tables are made of");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		deleteDependencyRecordsForSpecific(DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull)),
										   DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull)),
										   DEPENDENCY_EXTENSION, ExtensionRelationId,
										   DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull)));
	}
	SPI_finish();
	CommandCounterIncrement();
}

/*
 * DROP EXTENSION, kept: the extension's tables that hold rows (a job list,
 * a partition configuration) leave the extension and are kept as a DROP
 * TABLE would keep them, with the sequences their defaults use; the
 * statement then runs and drops the rest.  They come back as tables of
 * their own, not members of an extension.  Returns the kept tables
 * (BinKeep), as keep_owned does.
 */
static List *
keep_extension_tables(DropStmt *stmt, const GuardAttempt *attempt,
					  const GuardDecision *decision)
{
	List	   *exts = NIL;
	List	   *members = NIL;
	List	   *roots = NIL;
	List	   *relids = NIL;
	List	   *views = NIL;
	List	   *fkeys = NIL;
	const char *why = NULL;
	char	   *used;
	bool		any;
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Oid			extid = get_extension_oid(strVal(lfirst(lc)), true);

		if (!OidIsValid(extid))
			return NIL;			/* DROP EXTENSION says so */
		if (strcmp(strVal(lfirst(lc)), "guard") == 0)
		{
			/* The bin, guard.undrop and the audit table go with it. */
			warn_not_kept(attempt, "the recycle bin is part of extension \"guard\"");
			return NIL;
		}
		exts = lappend_oid(exts, extid);
	}
	foreach(lc, attempt->targets)
	{
		GuardTarget *target = (GuardTarget *) lfirst(lc);

		if (target->kind != GUARD_TARGET_TABLE || target->empty ||
			target->temporary ||
			(target->relkind != RELKIND_RELATION &&
			 target->relkind != RELKIND_PARTITIONED_TABLE) ||
			!list_member_oid(exts, getExtensionOfObject(RelationRelationId, target->objid)) ||
			get_rel_relispartition(target->objid))
			continue;
		LockRelationOid(target->objid, AccessExclusiveLock);
		if (target->relkind == RELKIND_PARTITIONED_TABLE)
		{
			ListCell   *pc;

			foreach(pc, find_all_inheritors(target->objid, AccessExclusiveLock, NULL))
				members = lappend(members, bin_member_of(lfirst_oid(pc),
														 foreach_current_index(pc) > 0));
		}
		else
			members = lappend(members, bin_member_of(target->objid, false));
	}
	if (members == NIL)
		return NIL;
	roots = member_addresses(members);

	/* What outside the extension depends on them goes as CASCADE takes it. */
	if (!walk_dependents(roots, NIL, &views, &fkeys, &any))
		why = "something other than a view, an inheriting table or a foreign key depends on them";
	else if (any && stmt->behavior != DROP_CASCADE)
		return NIL;				/* DROP EXTENSION says what depends on it */
	else
	{
		members = list_concat(members, views);
		foreach(lc, members)
			relids = lappend_oid(relids, ((BinMember *) lfirst(lc))->relid);
		foreach(lc, member_sequences(relids, exts))
		{
			members = lappend(members, bin_member_of(lfirst_oid(lc), true));
			relids = lappend_oid(relids, lfirst_oid(lc));
		}
		used = used_and_dropped(relids,
								"EXISTS (SELECT FROM pg_catalog.pg_depend e"
								" WHERE e.classid = d.refclassid AND e.objid = d.refobjid"
								" AND e.deptype = 'e' AND e.refobjid = ANY ($2))",
								exts);
		if (used != NULL)
			why = psprintf("they use %s, which it drops", used);
	}
	if (why != NULL)
	{
		warn_not_kept(attempt, why);
		return NIL;
	}

	if (members_over_cap(members, attempt, decision))
		return NIL;
	guard_recycle_purge_expired(debug_query_string);

	/*
	 * They leave the extension, with what they are made of that is a
	 * member too: their owned sequences, and their row types where the
	 * server makes those members (17 does).
	 */
	leave_extensions(relids, exts);
	return move_groups(members, fkeys);
}

/*
 * For guard_ProcessUtility, once the policy has decided: keep the tables of
 * an overridden DROP TABLE or DROP SCHEMA instead of dropping them.
 * Returns true when it did, and recorded the statement; false when the
 * statement must run.  DROP OWNED runs: its tables are kept first, and
 * *kept says what guard_recycle_drop_finish records once it has run.
 */
bool
guard_recycle_drop(Node *parsetree, const GuardAttempt *attempt,
				   const GuardDecision *decision, List **kept)
{
	DropStmt   *stmt = (DropStmt *) parsetree;
	List	   *members;
	List	   *fkeys;
	const char *why;
	ListCell   *lc;
	int64		audit_id;

	*kept = NIL;
	if (!bin_keeps(decision) || IsA(parsetree, TruncateStmt))
		return false;
	if (IsA(parsetree, DropStmt) && stmt->removeType == OBJECT_SCHEMA)
		return keep_schemas(stmt, attempt, decision);
	if (IsA(parsetree, DropOwnedStmt))
	{
		*kept = keep_owned((DropOwnedStmt *) parsetree, attempt, decision);
		return false;
	}
	if (IsA(parsetree, DropStmt) && stmt->removeType == OBJECT_EXTENSION)
	{
		*kept = keep_extension_tables(stmt, attempt, decision);
		return false;
	}

	if (IsA(parsetree, DropStmt) && stmt->removeType == OBJECT_TABLE)
		members = keepable(stmt, &fkeys, &why);
	else
	{
		members = NIL;
		fkeys = NIL;
		why = NULL;
		foreach(lc, decision->targets)
		{
			GuardTarget *target = (GuardTarget *) lfirst(lc);

			if (target->kind == GUARD_TARGET_TABLE &&
				target->action == GUARD_ACTION_DROP)
				why = psprintf("the recycle bin keeps what DROP TABLE, DROP SCHEMA, DROP OWNED, DROP EXTENSION and TRUNCATE remove, not what %s does", attempt->command);
		}
	}
	if (members == NIL)
	{
		if (why != NULL)
			warn_not_kept(attempt, why);
		return false;
	}

	if (members_over_cap(members, attempt, decision))
		return false;

	if (!detach_members(members, attempt))
		return false;

	guard_recycle_purge_expired(debug_query_string);

	/* The statement's own row first: the keep points at it. */
	guard_enforce(attempt);
	audit_id = guard_last_audit_id;

	foreach(lc, move_groups(members, fkeys))
		record_bin((BinKeep *) lfirst(lc), attempt, decision, audit_id);
	return true;
}

/*
 * For guard_ProcessUtility, once a statement that kept tables and then ran
 * (DROP OWNED) is recorded as audit_id: write their entries.
 */
void
guard_recycle_drop_finish(List *kept, const GuardAttempt *attempt,
						  const GuardDecision *decision, int64 audit_id)
{
	ListCell   *lc;

	foreach(lc, kept)
		record_bin((BinKeep *) lfirst(lc), attempt, decision, audit_id);
}

/*
 * TRUNCATE, kept in O(1).  PostgreSQL empties a table by giving it new
 * storage and unlinking the old when the transaction commits; the bin
 * keeps the old instead.  While the statement runs, each table it is about
 * to empty is noted with its storage as it was (guard_recycle_truncating,
 * from the object-access hook).  Once it has run, a table in the bin is
 * made with the same layout (make_new_heap, as CLUSTER does), and is given
 * that storage: its pg_class row points at the old file, whose unlink is
 * cancelled, and at the old TOAST table, whose OID the old rows' TOAST
 * pointers name.  The truncated table gets the new table's empty TOAST
 * table in exchange.  Nothing is copied, whatever the table's size.
 */

/*
 * For guard_ProcessUtility, before an overridden TRUNCATE runs: note what
 * it empties from now on.  Returns NULL when the bin keeps nothing of it;
 * otherwise the caller must call guard_recycle_truncate_leave however the
 * statement ends, and guard_recycle_truncate_finish when it has run.
 */
GuardBinTruncate *
guard_recycle_truncate_begin(Node *parsetree, const GuardAttempt *attempt,
							 const GuardDecision *decision)
{
	TruncateStmt *stmt = (TruncateStmt *) parsetree;
	GuardBinTruncate *bin;
	Oid			relid;

	if (!IsA(parsetree, TruncateStmt) || !bin_keeps(decision))
		return NULL;

	bin = palloc0(sizeof(GuardBinTruncate));
	bin->outer = truncating;
	bin->cxt = CurrentMemoryContext;
	bin->attempt = attempt;
	bin->decision = decision;
	bin->restart_seqs = stmt->restart_seqs;
	relid = RangeVarGetRelid(linitial_node(RangeVar, stmt->relations), NoLock, true);
	if (OidIsValid(relid))
		bin->table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid));
	bin->size = guard_recycle_max_size > 0 ? schema_size(InvalidOid) : 0;
	truncating = bin;
	return bin;
}

void
guard_recycle_truncate_leave(GuardBinTruncate *bin)
{
	truncating = bin->outer;
}

/* The last value of a sequence, or false when it was never called. */
static bool
sequence_value(Oid seqid, int64 *value)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqid);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	if (fcinfo->isnull)
		return false;
	*value = DatumGetInt64(result);
	return true;
}

/*
 * Called by the object-access hook as PostgreSQL checks each table a
 * TRUNCATE is about to empty: note its storage as it is.
 */
void
guard_recycle_truncating(Oid relid)
{
	GuardBinTruncate *bin = truncating;
	Relation	rel;
	KeptStorage *ks;
	MemoryContext oldcxt;
	ListCell   *lc;

	if (bin == NULL || bin->full || get_rel_relkind(relid) != RELKIND_RELATION)
		return;

	/*
	 * A table the statement names is checked before TRUNCATE locks it; take
	 * its lock now (TRUNCATE takes the same), so that what is noted stays
	 * true until the statement runs.
	 */
	LockRelationOid(relid, AccessExclusiveLock);
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		return;					/* dropped meanwhile: TRUNCATE says so */

	/*
	 * Rows written by this transaction only, into a table it created or
	 * gave new storage (which TRUNCATE then empties in place), and a table
	 * without a block hold nothing to keep.
	 */
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ||
		IsCatalogRelation(rel) ||
		is_bin_schema(get_namespace_name(RelationGetNamespace(rel))) ||
		rel->rd_createSubid != InvalidSubTransactionId ||
		GUARD_STORAGE_NEW_HERE(rel) != InvalidSubTransactionId ||
		RelationGetNumberOfBlocks(rel) == 0)
	{
		relation_close(rel, NoLock);
		return;
	}

	/* Checked again after a retry of its name's lookup: noted once. */
	foreach(lc, bin->kept)
	{
		if (((KeptStorage *) lfirst(lc))->relid == relid)
		{
			relation_close(rel, NoLock);
			return;
		}
	}

	bin->size += DatumGetInt64(DirectFunctionCall1(pg_table_size,
												   ObjectIdGetDatum(relid)));
	if (over_cap(bin->size, bin->attempt, bin->decision))
	{
		bin->full = true;
		relation_close(rel, NoLock);
		return;
	}

	oldcxt = MemoryContextSwitchTo(bin->cxt);
	ks = palloc0(sizeof(KeptStorage));
	ks->relid = relid;
	memcpy(&ks->heap, rel->rd_rel, CLASS_TUPLE_SIZE);
	ks->heap_file = GUARD_REL_STORAGE(rel);
	ks->desc = CreateTupleDescCopy(RelationGetDescr(rel));
	if (OidIsValid(rel->rd_rel->reltoastrelid))
	{
		Relation	toast = relation_open(rel->rd_rel->reltoastrelid,
										  AccessExclusiveLock);
		List	   *indexes = RelationGetIndexList(toast);
		Relation	index;

		memcpy(&ks->toast, toast->rd_rel, CLASS_TUPLE_SIZE);
		ks->toast_file = GUARD_REL_STORAGE(toast);
		if (list_length(indexes) != 1)
			elog(ERROR, "guard: TOAST table \"%s\" has %d indexes",
				 RelationGetRelationName(toast), list_length(indexes));
		ks->toast_index = linitial_oid(indexes);
		index = index_open(ks->toast_index, AccessExclusiveLock);
		ks->toast_index_file = GUARD_REL_STORAGE(index);
		index_close(index, NoLock);
		relation_close(toast, NoLock);
	}
	bin->kept = lappend(bin->kept, ks);

	/* RESTART IDENTITY resets them: their values go with the entry. */
	if (bin->restart_seqs)
	{
		foreach(lc, getOwnedSequences(relid))
		{
			Oid			seqid = lfirst_oid(lc);
			KeptSequence *seq = palloc(sizeof(KeptSequence));

			if (!sequence_value(seqid, &seq->last_value))
				continue;
			seq->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(seqid)),
												   get_rel_name(seqid));
			bin->sequences = lappend(bin->sequences, seq);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	relation_close(rel, NoLock);
}

/* Whether rows stored under one layout read the same under the other. */
static bool
same_layout(TupleDesc a, TupleDesc b)
{
	int			i;

	if (a->natts != b->natts)
		return false;
	for (i = 0; i < a->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(a, i);
		Form_pg_attribute y = TupleDescAttr(b, i);

		if (x->attisdropped != y->attisdropped || x->attlen != y->attlen ||
			x->attbyval != y->attbyval || x->attalign != y->attalign ||
			(!x->attisdropped && x->atttypid != y->atttypid))
			return false;
	}
	return true;
}

/*
 * Name a TOAST table and its index for their table, as PostgreSQL does;
 * for no table (InvalidOid), a name of their own, out of the way.
 */
static void
name_toast(Oid toastid, Oid owner)
{
	Relation	toast = relation_open(toastid, NoLock);
	List	   *indexes = RelationGetIndexList(toast);
	char		name[NAMEDATALEN];

	relation_close(toast, NoLock);
	if (OidIsValid(owner))
		snprintf(name, sizeof(name), "pg_toast_%u", owner);
	else
		snprintf(name, sizeof(name), "guard_toast_%u", toastid);
	RenameRelationInternal(toastid, name, true, false);
	if (list_length(indexes) == 1)
	{
		strlcat(name, "_index", sizeof(name));
		RenameRelationInternal(linitial_oid(indexes), name, true, true);
	}
	CommandCounterIncrement();
}

/* Point a table's pg_class row at another TOAST table. */
static void
set_toast_link(Oid relid, Oid toastrelid)
{
	Relation	classRel = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	((Form_pg_class) GETSTRUCT(tup))->reltoastrelid = toastrelid;
	CatalogTupleUpdate(classRel, &tup->t_self, tup);
	heap_freetuple(tup);
	table_close(classRel, RowExclusiveLock);
}

/*
 * Give a relation the storage file, and when was is given the statistics
 * and freeze horizons, that another had: its own storage goes when the
 * transaction commits, and file stays.
 */
static void
give_storage(Oid relid, GuardStorage file, const FormData_pg_class *was)
{
	Relation	rel = relation_open(relid, NoLock);
	Relation	classRel;
	HeapTuple	tup;
	Form_pg_class form;

	RelationDropStorage(rel);
	relation_close(rel, NoLock);

	classRel = table_open(RelationRelationId, RowExclusiveLock);
	tup = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	form = (Form_pg_class) GETSTRUCT(tup);
	form->relfilenode = GUARD_STORAGE_NUMBER(file);
	if (was != NULL)
	{
		guard_copy_class_stats(form, was);
		/* The rows keep the transaction ids they have. */
		form->relfrozenxid = was->relfrozenxid;
		form->relminmxid = was->relminmxid;
	}
	form->relrewrite = InvalidOid;	/* an ordinary table, not a rewrite's */
	CatalogTupleUpdate(classRel, &tup->t_self, tup);
	heap_freetuple(tup);
	table_close(classRel, RowExclusiveLock);

	RelationPreserveStorage(file, true);
	CommandCounterIncrement();
}

/*
 * Once the TRUNCATE has run: make the table that keeps one table's old
 * storage, and return it; InvalidOid, with a WARNING, when what was noted
 * no longer holds.
 */
static Oid
keep_storage(KeptStorage *ks)
{
	Relation	rel = relation_open(ks->relid, NoLock);
	Oid			toastid = ks->heap.reltoastrelid;
	const char *why = NULL;
	Oid			binrel;
	Oid			bintoast;
	char	   *relname = pstrdup(RelationGetRelationName(rel));

	if (GUARD_STORAGE_NUMBER(GUARD_REL_STORAGE(rel)) ==
		GUARD_STORAGE_NUMBER(ks->heap_file) ||
		rel->rd_rel->reltoastrelid != toastid)
		why = "its storage changed while it was truncated";
	else if (!same_layout(ks->desc, RelationGetDescr(rel)))
		why = "its columns changed while it was truncated";
	else if (RelationGetNumberOfBlocks(rel) > 0)
		why = "rows were added to it while it was truncated";
	else if (OidIsValid(toastid))
	{
		Relation	toast = relation_open(toastid, NoLock);

		if (RelationGetNumberOfBlocks(toast) > 0)
			why = "rows were added to it while it was truncated";
		relation_close(toast, NoLock);
	}
	relation_close(rel, NoLock);
	if (why != NULL)
	{
		ereport(WARNING,
				(errmsg("guard: the rows of \"%s\" are not kept in the recycle bin",
						relname),
				 errdetail("It is truncated, and cannot be undone: %s.", why)));
		return InvalidOid;
	}

	binrel = make_new_heap(ks->relid, ks->heap.reltablespace, ks->heap.relam,
						   ks->heap.relpersistence, AccessExclusiveLock);
	CommandCounterIncrement();

	/*
	 * The old rows name their TOAST table by OID: it goes with them, and
	 * the table gets the new table's, empty.
	 */
	if (OidIsValid(toastid))
	{
		bintoast = class_row(binrel).reltoastrelid;
		set_toast_link(ks->relid, bintoast);
		set_toast_link(binrel, toastid);
		changeDependencyFor(RelationRelationId, toastid,
							RelationRelationId, ks->relid, binrel);
		if (OidIsValid(bintoast))
			changeDependencyFor(RelationRelationId, bintoast,
								RelationRelationId, binrel, ks->relid);
		CommandCounterIncrement();
		give_storage(toastid, ks->toast_file, &ks->toast);
		give_storage(ks->toast_index, ks->toast_index_file, NULL);

		/*
		 * A TOAST table is named for its table (pg_upgrade matches them by
		 * name): the two swap names, through a third.
		 */
		if (OidIsValid(bintoast))
			name_toast(bintoast, InvalidOid);
		name_toast(toastid, binrel);
		if (OidIsValid(bintoast))
			name_toast(bintoast, ks->relid);
	}
	give_storage(binrel, ks->heap_file, &ks->heap);
	return binrel;
}

/*
 * For guard_ProcessUtility, once an overridden TRUNCATE has run and been
 * recorded as audit_id: keep the old storage of each table it emptied, in
 * one bin schema.
 */
void
guard_recycle_truncate_finish(GuardBinTruncate *bin, int64 audit_id)
{
	List	   *members = NIL;
	Oid			nspid = InvalidOid;
	char		nspname[NAMEDATALEN];
	char	   *table = bin->table;
	ListCell   *lc;
	StringInfoData json;
	TimestampTz at = GetCurrentTimestamp();
	TimestampTz expires = expiry(at);
	GuardTarget *target;

	if (bin->kept == NIL)
		return;
	guard_recycle_purge_expired(debug_query_string);

	foreach(lc, bin->kept)
	{
		KeptStorage *ks = (KeptStorage *) lfirst(lc);
		Oid			binrel = keep_storage(ks);
		BinMember  *m;

		if (!OidIsValid(binrel))
			continue;
		if (!OidIsValid(nspid))
		{
			snprintf(nspname, sizeof(nspname), BIN_PREFIX "%u", binrel);
			nspid = NamespaceCreate(nspname, BOOTSTRAP_SUPERUSERID, false);
			CommandCounterIncrement();
		}
		move_relation(binrel, nspid);

		m = bin_member_of(ks->relid, false);
		/* Two tables of one name, from two schemas: the second is renamed. */
		m->kept = OidIsValid(get_relname_relid(m->name, nspid)) ?
			psprintf("%.40s_%u", m->name, ks->relid) : m->name;
		RenameRelationInternal(binrel, m->kept, false, false);
		CommandCounterIncrement();
		if (table == NULL)
			table = quote_qualified_identifier(m->schema, m->name);
		members = lappend(members, m);
	}
	if (members == NIL)
		return;

	initStringInfo(&json);
	entry_json(&json, bin->attempt->command, table, members, bin->sequences,
			   NIL, bin->decision, audit_id, at, expires);
	appendStringInfoChar(&json, '}');
	CreateComments(nspid, NamespaceRelationId, 0, json.data);
	CommandCounterIncrement();

	target = guard_target_relation(((BinMember *) linitial(members))->relid, 0,
								   GUARD_ACTION_TRUNCATE);
	record_keep(target, bin->attempt->statement, "rows kept", nspname,
				expires, audit_id);
}

/*
 * The bin schema that keeps a table, by the table's name as it was
 * ('public.score', the most recent if it was dropped more than once) or by
 * the bin schema's name.
 */
static Oid
find_bin(const char *name)
{
	Relation	rel = table_open(NamespaceRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	Oid			found = InvalidOid;
	char	   *found_at = NULL;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_namespace nsp = (Form_pg_namespace) GETSTRUCT(tup);
		char	   *json;
		char	   *table;
		char	   *at;

		if (!is_bin_schema(NameStr(nsp->nspname)))
			continue;
		if (strcmp(NameStr(nsp->nspname), name) == 0)
		{
			found = nsp->oid;
			break;
		}
		json = schema_comment(nsp->oid);
		table = entry_field(json, "table");
		at = entry_field(json, "at");
		if (table == NULL || at == NULL || strcmp(table, name) != 0)
			continue;
		/* timestamptz_to_str's ISO text sorts by time within a zone. */
		if (found_at == NULL || strcmp(at, found_at) > 0)
		{
			found = nsp->oid;
			found_at = at;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("guard: \"%s\" is not in the recycle bin", name),
				 errhint("SELECT * FROM guard.recyclebin lists what is kept, by the table's qualified name.")));
	return found;
}

/* The members (or views) of an entry, as recorded: schema and name of each. */
static List *
entry_members(const char *json, const char *key)
{
	List	   *members = NIL;
	ListCell   *lc;

	foreach(lc, entry_array(json, key))
	{
		JsonbContainer *item = (JsonbContainer *) lfirst(lc);
		BinMember  *m = palloc0(sizeof(BinMember));

		m->relid = InvalidOid;
		m->schema = container_text(item, "schema");
		m->name = container_text(item, "name");
		m->kept = container_text(item, "kept");
		m->follows = foreach_current_index(lc) > 0;
		m->parent = container_text(item, "parent");
		m->bound = container_text(item, "bound");
		m->owner = container_text(item, "owner");
		members = lappend(members, m);
	}
	return members;
}


/*
 * The relation of bin nspid that keeps member m, locked; an error when
 * another session put it back or purged it meanwhile.
 */
static Oid
bin_member(Oid nspid, const BinMember *m, const char *name)
{
	const char *kept = m->kept != NULL ? m->kept : m->name;
	Oid			relid = get_relname_relid(kept, nspid);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("guard: the recycle bin entry %s lacks \"%s\"",
						get_namespace_name(nspid), kept)));
	LockRelationOid(relid, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) ||
		get_rel_namespace(relid) != nspid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("guard: \"%s\" is not in the recycle bin any more", name),
				 errdetail("Another session put it back or purged it meanwhile.")));
	return relid;
}

/*
 * The indexes and owned sequences of relation relid, going back to schema
 * nspid as table, keep their names unless another relation there has one
 * (the table was dropped and created again, with its primary key): then
 * they are named for the table, as CREATE TABLE would name them.
 */
static void
free_names(Oid relid, Oid nspid, const char *was, const char *table)
{
	Relation	rel = relation_open(relid, NoLock);
	List	   *children = NIL;
	ListCell   *lc;
	size_t		len = strlen(was);

	if (rel->rd_rel->relkind == RELKIND_RELATION ||
		rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		children = list_concat(RelationGetIndexList(rel), getOwnedSequences(relid));
	relation_close(rel, NoLock);
	foreach(lc, children)
	{
		Oid			child = lfirst_oid(lc);
		char	   *name = get_rel_name(child);
		bool		index = get_rel_relkind(child) != RELKIND_SEQUENCE;
		char	   *label;
		char	   *newname;

		if (!OidIsValid(get_relname_relid(name, nspid)))
			continue;
		label = strncmp(name, was, len) == 0 && name[len] == '_' ? name + len + 1 : name;
		newname = ChooseRelationName(table, NULL, label, nspid, index);
		ereport(NOTICE,
				(errmsg("guard: \"%s\" is put back as \"%s\": its name is taken",
						name, newname)));
		RenameRelationInternal(child, newname, false, index);
		CommandCounterIncrement();
	}
}

/*
 * A relation that DROP OWNED would have dropped goes back to its owner; to
 * the bootstrap superuser, who kept it, if that role is gone.
 */
static void
give_back(const BinMember *m)
{
	Oid			owner = get_role_oid(m->owner, true);

	if (!OidIsValid(owner))
	{
		ereport(WARNING,
				(errmsg("guard: role \"%s\", which owned %s, no longer exists",
						m->owner, quote_qualified_identifier(m->schema, m->name)),
				 errdetail("It stays owned by \"%s\".",
						   GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false))));
		return;
	}
	ATExecChangeOwner(m->relid, owner, true, AccessExclusiveLock);
	CommandCounterIncrement();
}

/*
 * The columns that rows kept in binrel go back into, in table relid: each
 * of theirs, by name, but for generated ones, which the table computes.
 */
static char *
restore_columns(Oid binrel, Oid relid, const char *table, const char *name)
{
	Relation	rel = relation_open(binrel, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData cols;
	int			i;

	initStringInfo(&cols);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		AttrNumber	to;

		if (attr->attisdropped)
			continue;
		to = get_attnum(relid, NameStr(attr->attname));
		if (to == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("guard: cannot put back the rows of %s: it has no column \"%s\" any more",
							table, NameStr(attr->attname)),
					 errhint("Put the rows back as a table of their own: SELECT guard.undrop(%s, 'new_name').",
							 quote_literal_cstr(name))));
		if (get_attgenerated(relid, to) != '\0')
			continue;
		appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "",
						 quote_identifier(NameStr(attr->attname)));
	}
	relation_close(rel, NoLock);
	return cols.data;
}

static void
restore_context(void *arg)
{
	errcontext("putting back the rows kept in %s", (const char *) arg);
}

/* A relation by its qualified name, or InvalidOid. */
static Oid
relation_named(const char *qualified)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	Oid			relid = InvalidOid;
	bool		isnull;

	values[0] = CStringGetTextDatum(qualified);
	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid",
							  1, argtypes, values, NULL, true, 0) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		Datum		oid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			relid = DatumGetObjectId(oid);
	}
	SPI_finish();
	return relid;
}
/*
 * Undo a TRUNCATE: insert the rows it removed back into each table, in one
 * statement (so that foreign keys between the tables are checked once all
 * are back), and set each sequence it restarted back to its value if it
 * is behind.  Rows inserted since stay: a kept row that a unique key
 * refuses makes the whole undo fail, with nothing put back.  Returns the
 * first table.
 */
static Oid
undo_truncation(const char *name, Oid nspid, const char *json, List *members)
{
	char	   *binname = get_namespace_name(nspid);
	StringInfoData sql;
	Oid			first = InvalidOid;
	ListCell   *lc;
	volatile int64 rows = 0;
	bool		isnull;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	ErrorContextCallback context;
	GuardTarget *target;
	MemoryContext caller = CurrentMemoryContext;
	Oid			named;

	initStringInfo(&sql);
	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		Oid			binrel = bin_member(nspid, m, name);
		Oid			nsp = get_namespace_oid(m->schema, true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid(m->name, nsp) : InvalidOid;
		char	   *table = quote_qualified_identifier(m->schema, m->name);
		char	   *columns;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("guard: cannot put back the rows of %s: the table does not exist",
							table),
					 list_length(members) == 1 ?
					 errhint("Undrop or create the table first, or put the rows back as a table of their own: SELECT guard.undrop(%s, 'new_name').",
							 quote_literal_cstr(name)) :
					 errhint("Undrop or create the table first.")));
		if (!guard_owns_relation(binrel))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("guard: only the owner of \"%s\" or a superuser may undrop it",
							name)));
		if (!OidIsValid(first))
			first = relid;
		columns = restore_columns(binrel, relid, table, name);
		if (list_length(members) == 1)
			appendStringInfo(&sql, "INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s",
							 table, columns, columns,
							 quote_qualified_identifier(binname, m->kept != NULL ? m->kept : m->name));
		else
			appendStringInfo(&sql, "%s m%d AS (INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s RETURNING 1)",
							 foreach_current_index(lc) == 0 ? "WITH" : ",",
							 foreach_current_index(lc), table, columns, columns,
							 quote_qualified_identifier(binname, m->kept != NULL ? m->kept : m->name));
	}
	/* Tables of one statement go back in one, for their foreign keys. */
	if (list_length(members) > 1)
	{
		appendStringInfoString(&sql, " SELECT 0::pg_catalog.int8");
		foreach(lc, members)
			appendStringInfo(&sql, " + (SELECT pg_catalog.count(*) FROM m%d)",
							 foreach_current_index(lc));
	}

	context.callback = restore_context;
	context.arg = binname;
	context.previous = error_context_stack;
	error_context_stack = &context;
	SPI_connect();
	PG_TRY();
	{
		int			ret = SPI_execute(sql.data, false, 0);

		if (list_length(members) == 1 && ret == SPI_OK_INSERT)
			rows = (int64) SPI_processed;
		else if (list_length(members) > 1 && ret == SPI_OK_SELECT && SPI_processed == 1)
			rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
		else
			elog(ERROR, "guard: could not put back the rows kept in %s", binname);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("guard: cannot put back the rows of \"%s\": a row added since has the key of a kept row",
						edata->schema_name != NULL && edata->table_name != NULL ?
						quote_qualified_identifier(edata->schema_name, edata->table_name) : name),
				 edata->detail != NULL ? errdetail("%s Nothing was put back.", edata->detail) :
				 errdetail("Nothing was put back."),
				 list_length(members) == 1 ?
				 errhint("Delete or change the rows added since, or put the kept rows back as a table of their own: SELECT guard.undrop(%s, 'new_name').",
						 quote_literal_cstr(name)) :
				 errhint("Delete or change the rows added since, then undrop again.")));
	}
	PG_END_TRY();

	/* Sequences forward to where they were, never back. */
	values[0] = CStringGetTextDatum(json);
	if (SPI_execute_with_args("SELECT pg_catalog.setval(s.seq, s.v)"
							  " FROM (SELECT pg_catalog.to_regclass(e->>'name'), (e->>'last_value')::pg_catalog.int8"
							  "       FROM pg_catalog.jsonb_array_elements(coalesce($1::pg_catalog.jsonb->'sequences', '[]')) e) s(seq, v)"
							  " JOIN pg_catalog.pg_sequence p ON p.seqrelid = s.seq"
							  " WHERE pg_catalog.pg_sequence_last_value(s.seq) IS NULL"
							  "    OR (p.seqincrement > 0 AND s.v > pg_catalog.pg_sequence_last_value(s.seq))"
							  "    OR (p.seqincrement < 0 AND s.v < pg_catalog.pg_sequence_last_value(s.seq))",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "guard: could not set the sequences kept in %s", binname);
	SPI_finish();
	error_context_stack = context.previous;

	/* What the statement named, partitioned or not, is what came back. */
	named = relation_named(entry_field(json, "table"));
	if (OidIsValid(named))
		first = named;

	target = guard_target_relation(first, 0, GUARD_ACTION_TRUNCATE);
	if (target != NULL)
		guard_record_allowed("guard.undrop", target, debug_query_string,
							 psprintf(INT64_FORMAT " rows put back from %s, where they were kept since %s%s",
									  rows, binname, entry_field(json, "at"), for_statement(json)));
	drop_bin(nspid);
	return first;
}


/* Attach again each partition or child that was dropped alone. */
static void
reattach(List *members, const char *new_name)
{
	ListCell   *lc;

	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		char	   *table;

		if (m->parent == NULL)
			continue;
		table = quote_qualified_identifier(m->schema,
										   foreach_current_index(lc) == 0 && new_name != NULL ?
										   new_name : m->name);
		if (!OidIsValid(relation_named(m->parent)))
		{
			ereport(WARNING,
					(errmsg("guard: %s is put back as a table of its own", table),
					 errdetail("Its parent %s no longer exists.", m->parent)));
			continue;
		}
		bin_execute(m->bound != NULL ?
					psprintf("ALTER TABLE %s ATTACH PARTITION %s %s", m->parent, table, m->bound) :
					psprintf("ALTER TABLE %s INHERIT %s", table, m->parent));
	}
}

/*
 * Recreate the foreign keys of other tables that a drop took with it; not
 * when the table comes back under a new name, which they do not name.
 */
static void
restore_foreign_keys(const char *json, bool renamed)
{
	ListCell   *lc;

	foreach(lc, entry_array(json, "foreign_keys"))
	{
		JsonbContainer *item = (JsonbContainer *) lfirst(lc);
		KeptForeignKey key = {InvalidOid, container_text(item, "table"),
			container_text(item, "name"), container_text(item, "definition")};
		KeptForeignKey *fk = &key;

		if (fk->table == NULL || fk->name == NULL || fk->definition == NULL)
			elog(ERROR, "guard: a foreign key of a recycle bin entry lacks a field");
		if (renamed || !OidIsValid(relation_named(fk->table)))
		{
			ereport(WARNING,
					(errmsg("guard: foreign key \"%s\" of %s is not recreated", fk->name, fk->table),
					 renamed ?
					 errdetail("The table it referenced is put back under a new name.") :
					 errdetail("Table %s no longer exists.", fk->table),
					 errhint("Its definition was: %s", fk->definition)));
			continue;
		}
		bin_execute(psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", fk->table,
							 quote_identifier(fk->name), fk->definition));
	}
}

/*
 * Undo a DROP SCHEMA: rename the schema back (or to new_name), with its own
 * comment, move back the views of other schemas that went with it, and
 * recreate the foreign keys of other tables.  Returns its first relation.
 */
static Oid
undo_schema(const char *name, const char *new_name, Oid nspid, const char *json)
{
	char	   *schema = entry_field(json, "schema");
	char	   *comment = entry_field(json, "comment");
	char	   *binname = get_namespace_name(nspid);
	const char *to = new_name != NULL ? new_name : schema;
	Oid			first = bin_table(nspid, json);
	List	   *views = entry_members(json, "views");
	ListCell   *lc;
	ErrorContextCallback context;
	GuardTarget *target;

	if (schema == NULL)
		elog(ERROR, "guard: the recycle bin entry %s names no schema", binname);
	LockDatabaseObject(NamespaceRelationId, nspid, 0, AccessExclusiveLock);
	{
		char	   *now = get_namespace_name(nspid);

		if (now == NULL || strcmp(now, binname) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("guard: \"%s\" is not in the recycle bin any more", name),
					 errdetail("Another session put it back or purged it meanwhile.")));
	}
	if (!guard_owns_schema(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("guard: only the owner of schema \"%s\" or a superuser may undrop it",
						schema)));
	if (OidIsValid(get_namespace_oid(to, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_SCHEMA),
				 errmsg("guard: cannot undrop \"%s\": schema \"%s\" already exists",
						name, to),
				 errhint("Put it back under another name: SELECT guard.undrop(%s, 'new_name').",
						 quote_literal_cstr(name))));

	rename_schema(nspid, to);
	CreateComments(nspid, NamespaceRelationId, 0, comment);
	CommandCounterIncrement();

	foreach(lc, views)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		Oid			relid = get_relname_relid(m->name, nspid);
		Oid			back = get_namespace_oid(m->schema, true);

		if (!OidIsValid(relid))
			continue;
		if (!OidIsValid(back) || OidIsValid(get_relname_relid(m->name, back)))
		{
			ereport(WARNING,
					(errmsg("guard: view %s stays in schema \"%s\"",
							quote_identifier(m->name), to),
					 errdetail(OidIsValid(back) ?
							   "Its schema \"%s\" has a relation of that name now." :
							   "Its schema \"%s\" no longer exists.", m->schema)));
			continue;
		}
		LockRelationOid(relid, AccessExclusiveLock);
		move_relation(relid, back);
	}

	context.callback = restore_context;
	context.arg = binname;
	context.previous = error_context_stack;
	error_context_stack = &context;
	restore_foreign_keys(json, new_name != NULL);
	error_context_stack = context.previous;

	target = OidIsValid(first) ? guard_target_relation(first, 0, GUARD_ACTION_DROP) : NULL;
	if (target != NULL)
	{
		target->name = pstrdup(quote_identifier(to));
		guard_record_allowed("guard.undrop", target, debug_query_string,
							 psprintf("schema put back from %s, where it was kept since %s%s",
									  binname, entry_field(json, "at"), for_statement(json)));
	}
	return first;
}

/*
 * guard.undrop(name, new_name DEFAULT NULL): put a kept table back where it
 * was, under its name or new_name, with its partitions.  Returns the table.
 */
PG_FUNCTION_INFO_V1(guard_undrop);

Datum
guard_undrop(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *new_name = PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1));
	Oid			nspid = find_bin(name);
	char	   *json = schema_comment(nspid);
	List	   *members = entry_members(json, "members");
	char	   *command = entry_field(json, "command");
	Oid			top_relid = InvalidOid;
	ErrorContextCallback context;
	GuardTarget *target;
	ListCell   *lc;

	if (members == NIL)
		elog(ERROR, "guard: the recycle bin entry %s names no table",
			 get_namespace_name(nspid));

	if (pg_strcasecmp(command != NULL ? command : "", "DROP SCHEMA") == 0)
		PG_RETURN_OID(undo_schema(name, new_name, nspid, json));

	/*
	 * A truncation's rows go back into their tables; under a new name, they
	 * become a table of their own, as a dropped table would.
	 */
	if (pg_strcasecmp(command != NULL ? command : "", "TRUNCATE TABLE") == 0)
	{
		if (new_name == NULL)
			PG_RETURN_OID(undo_truncation(name, nspid, json, members));
		if (list_length(members) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("guard: \"%s\" keeps the rows of %d tables, which cannot share a new name",
							name, list_length(members)),
					 errhint("Put them back where they were: SELECT guard.undrop(%s).",
							 quote_literal_cstr(name))));
	}

	/* Check everything before moving anything. */
	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);
		bool		top = foreach_current_index(lc) == 0;
		const char *to = top && new_name != NULL ? new_name : m->name;
		Oid			target = get_namespace_oid(m->schema, true);

		m->relid = bin_member(nspid, m, name);
		if (top)
		{
			Oid			owner = m->owner != NULL ? get_role_oid(m->owner, true) : InvalidOid;

			top_relid = m->relid;
			if (!guard_owns_relation(m->relid) &&
				!(OidIsValid(owner) && has_privs_of_role(GetUserId(), owner)))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("guard: only the owner of \"%s\" or a superuser may undrop it",
								name)));
		}
		if (!OidIsValid(target))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_SCHEMA_NAME),
					 errmsg("guard: cannot undrop \"%s\": schema \"%s\" no longer exists",
							name, m->schema),
					 errhint("Create the schema, then undrop again.")));
		if (OidIsValid(get_relname_relid(to, target)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("guard: cannot undrop \"%s\": relation \"%s\" already exists",
							name, quote_qualified_identifier(m->schema, to)),
					 top ?
					 errhint("Put it back under another name: SELECT guard.undrop(%s, 'new_name').",
							 quote_literal_cstr(name)) : 0));
	}

	foreach(lc, members)
	{
		BinMember  *m = (BinMember *) lfirst(lc);

		Oid			target = get_namespace_oid(m->schema, false);
		bool		renamed = foreach_current_index(lc) == 0 && new_name != NULL;

		if (renamed)
		{
			RenameRelationInternal(m->relid, new_name, false, false);
			CommandCounterIncrement();
		}
		free_names(m->relid, target, m->name, renamed ? new_name : m->name);
		move_relation(m->relid, target);
		if (m->owner != NULL)
			give_back(m);
	}

	context.callback = restore_context;
	context.arg = get_namespace_name(nspid);
	context.previous = error_context_stack;
	error_context_stack = &context;
	reattach(members, new_name);
	restore_foreign_keys(json, new_name != NULL);
	error_context_stack = context.previous;

	target = guard_target_relation(top_relid, 0, GUARD_ACTION_DROP);
	if (target != NULL)
		guard_record_allowed("guard.undrop", target, debug_query_string,
							 psprintf("put back from %s, where it was kept since %s%s",
									  get_namespace_name(nspid), entry_field(json, "at"),
									  for_statement(json)));
	drop_bin(nspid);
	PG_RETURN_OID(top_relid);
}

/*
 * guard.purge(name): destroy a kept table for good.  Superusers only (the
 * SQL function's grants); in production it needs the override, like the
 * DROP TABLE it finishes.
 */
PG_FUNCTION_INFO_V1(guard_purge);

Datum
guard_purge(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			nspid = find_bin(name);
	char	   *json = schema_comment(nspid);
	Oid			relid = bin_table(nspid, json);
	GuardTarget *target;
	GuardAttempt attempt;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("guard: only a superuser may purge the recycle bin")));
	if (OidIsValid(relid))
	{
		LockRelationOid(relid, AccessExclusiveLock);
		target = kept_target(relid, json);
		if (target != NULL)
		{
			guard_target_check_rows(target, NoLock);
			memset(&attempt, 0, sizeof(attempt));
			attempt.command = "guard.purge";
			attempt.statement = debug_query_string;
			attempt.targets = list_make1(target);
			guard_enforce(&attempt);
		}
	}
	drop_bin(nspid);
	PG_RETURN_VOID();
}
