/* insertall_fast.c — tabledata.insertAll under --fast, for benchmarks: the
 * body is scanned in one pass (insertall_scan.c), rows are counted and their
 * insertIds deduplicated in an in-memory set of 64-bit hashes, nothing is
 * stored. Tables are looked up in the store once, then in a cache here, which
 * also holds each table's counts for /admin/stats. */
#include "bigquery.h"
#include "emulator.h"
#include "http.h"
#include "insertall.h"
#include "insertall_scan.h"

#include "codec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The insertId set: 64 shards (by the hash's top bits), each an open-addressing
 * table of hashes (0 = empty) grown up to 3/4 full. A shard that cannot grow
 * any more starts over, and what it forgets is counted. */
#define ID_SHARD_BITS 6
#define ID_SHARDS (1u << ID_SHARD_BITS)
#define ID_SHARD_MIN_SLOTS (1u << 12)
#define ID_SHARD_MAX_SLOTS (1u << 21) /* 16 MiB a shard: 1 GiB, ~100 Mi ids in all */

struct id_shard {
    _Alignas(64) pthread_mutex_t lock; /* one cache line or more per shard */
    uint64_t *slots;
    size_t slot_count; /* 0 or a power of two */
    size_t used;
};

#define TABLE_BUCKETS 256

/* A table insertAll has written to. Never freed before fast_insert_destroy (a
 * request may still hold it); forgetting it only takes it out of the lookup. */
struct fast_table {
    struct fast_table *next_in_bucket;
    struct fast_table *next_created; /* every entry ever made, for stats and freeing */
    uint64_t key_hash;
    uint64_t serial; /* mixed into its ids' hashes: a re-created table starts afresh */
    bool live;
    atomic_uint_fast64_t rows_inserted; /* distinct insertIds, plus rows without one */
    atomic_uint_fast64_t rows_deduped;
    char *project, *dataset, *name;
};

struct fast_insert {
    struct id_shard *shards; /* ID_SHARDS of them */
    atomic_uint_fast64_t ids_forgotten;
    pthread_mutex_t tables_lock; /* buckets, created, next_serial */
    struct fast_table *buckets[TABLE_BUCKETS];
    struct fast_table *created;
    uint64_t next_serial;
};

struct fast_insert *fast_insert_create(void) {
    struct fast_insert *fast = xcalloc(1, sizeof *fast);
    fast->shards = aligned_alloc(_Alignof(struct id_shard), ID_SHARDS * sizeof *fast->shards);
    if (!fast->shards) {
        fprintf(stderr, "beast-bq-emulator: out of memory\n");
        abort();
    }
    memset(fast->shards, 0, ID_SHARDS * sizeof *fast->shards);
    for (size_t i = 0; i < ID_SHARDS; i++)
        pthread_mutex_init(&fast->shards[i].lock, NULL);
    pthread_mutex_init(&fast->tables_lock, NULL);
    fast->next_serial = 1;
    return fast;
}

void fast_insert_destroy(struct fast_insert *fast) {
    if (!fast)
        return;
    for (size_t i = 0; i < ID_SHARDS; i++) {
        pthread_mutex_destroy(&fast->shards[i].lock);
        free(fast->shards[i].slots);
    }
    free(fast->shards);
    for (struct fast_table *t = fast->created, *next; t; t = next) {
        next = t->next_created;
        free(t->project);
        free(t);
    }
    pthread_mutex_destroy(&fast->tables_lock);
    free(fast);
}

/* ---- the insertId set -------------------------------------------------------- */

static void shard_place(uint64_t *slots, size_t slot_count, uint64_t hash) {
    size_t mask = slot_count - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (slots[i] == 0) {
            slots[i] = hash;
            return;
        }
}

/* True when hash was new (and is now remembered). Holds shard->lock. */
static bool shard_add(struct fast_insert *fast, struct id_shard *shard, uint64_t hash) {
    if ((shard->used + 1) * 4 > shard->slot_count * 3) {
        if (shard->slot_count >= ID_SHARD_MAX_SLOTS) {
            atomic_fetch_add_explicit(&fast->ids_forgotten, shard->used, memory_order_relaxed);
            memset(shard->slots, 0, shard->slot_count * sizeof *shard->slots);
            shard->used = 0;
        } else {
            size_t grown = shard->slot_count ? shard->slot_count * 2 : ID_SHARD_MIN_SLOTS;
            uint64_t *slots = xcalloc(grown, sizeof *slots);
            for (size_t i = 0; i < shard->slot_count; i++)
                if (shard->slots[i])
                    shard_place(slots, grown, shard->slots[i]);
            free(shard->slots);
            /* atomic stores: ids_prefetch reads these without the lock */
            __atomic_store_n(&shard->slots, slots, __ATOMIC_RELAXED);
            __atomic_store_n(&shard->slot_count, grown, __ATOMIC_RELAXED);
        }
    }
    size_t mask = shard->slot_count - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        if (shard->slots[i] == hash)
            return false;
        if (shard->slots[i] == 0) {
            shard->slots[i] = hash;
            shard->used++;
            return true;
        }
    }
}

/* An id's hash within one table; never 0 (an empty slot) or 1, so it can
 * stand in for the id's hash in insertall_scan's row list. */
static uint64_t table_id_hash(const struct fast_table *table, uint64_t id_hash) {
    uint64_t x = id_hash + table->serial * 0x9E3779B97F4A7C15ull;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x > INSERTALL_ROW_INVALID ? x : x + 2;
}

/* Starts loading the cache line of hash's slot: the set is far larger than
 * the caches, so each lookup would otherwise wait for memory. Reads the
 * shard without its lock; a stale answer only prefetches the wrong line. */
static inline void ids_prefetch(struct fast_insert *fast, uint64_t hash) {
    struct id_shard *shard = &fast->shards[hash >> (64 - ID_SHARD_BITS)];
    uint64_t *slots = __atomic_load_n(&shard->slots, __ATOMIC_RELAXED);
    size_t count = __atomic_load_n(&shard->slot_count, __ATOMIC_RELAXED);
    if (slots)
        __builtin_prefetch(slots + (hash & (count - 1)));
}

static bool ids_add(struct fast_insert *fast, uint64_t hash) {
    struct id_shard *shard = &fast->shards[hash >> (64 - ID_SHARD_BITS)];
    pthread_mutex_lock(&shard->lock);
    bool added = shard_add(fast, shard, hash);
    pthread_mutex_unlock(&shard->lock);
    return added;
}

/* ---- the table cache ----------------------------------------------------------- */

static uint64_t table_key_hash(const char *project, const char *dataset, const char *name) {
    uint64_t hash = 1469598103934665603ull;
    const char *parts[] = {project, dataset, name};
    for (size_t i = 0; i < 3; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            hash = (hash ^ *p) * 1099511628211ull;
        hash = (hash ^ 0xff) * 1099511628211ull; /* a separator no name holds */
    }
    return hash;
}

/* Holds tables_lock. */
static struct fast_table *table_find(struct fast_insert *fast, const char *project,
                                     const char *dataset, const char *name) {
    uint64_t key = table_key_hash(project, dataset, name);
    for (struct fast_table *t = fast->buckets[key % TABLE_BUCKETS]; t; t = t->next_in_bucket)
        if (t->key_hash == key && strcmp(t->name, name) == 0 && strcmp(t->dataset, dataset) == 0 &&
            strcmp(t->project, project) == 0)
            return t;
    return NULL;
}

/* The entry of a table that exists in the store. Holds tables_lock. */
static struct fast_table *table_add(struct fast_insert *fast, const char *project,
                                    const char *dataset, const char *name) {
    struct fast_table *t = table_find(fast, project, dataset, name);
    if (t)
        return t;
    size_t lp = strlen(project) + 1, ld = strlen(dataset) + 1, ln = strlen(name) + 1;
    t = xcalloc(1, sizeof *t);
    t->project = xmalloc(lp + ld + ln); /* the three names in one block */
    t->dataset = t->project + lp;
    t->name = t->dataset + ld;
    memcpy(t->project, project, lp);
    memcpy(t->dataset, dataset, ld);
    memcpy(t->name, name, ln);
    t->key_hash = table_key_hash(project, dataset, name);
    t->serial = fast->next_serial++;
    t->live = true;
    t->next_in_bucket = fast->buckets[t->key_hash % TABLE_BUCKETS];
    fast->buckets[t->key_hash % TABLE_BUCKETS] = t;
    t->next_created = fast->created;
    fast->created = t;
    return t;
}

void fast_insert_forget(struct fast_insert *fast, const char *project, const char *dataset,
                        const char *table) {
    if (!fast)
        return;
    pthread_mutex_lock(&fast->tables_lock);
    for (size_t b = 0; b < TABLE_BUCKETS; b++) {
        for (struct fast_table **at = &fast->buckets[b]; *at;) {
            struct fast_table *t = *at;
            if ((!project || strcmp(t->project, project) == 0) &&
                (!dataset || strcmp(t->dataset, dataset) == 0) &&
                (!table || strcmp(t->name, table) == 0)) {
                t->live = false;
                *at = t->next_in_bucket;
            } else {
                at = &t->next_in_bucket;
            }
        }
    }
    pthread_mutex_unlock(&fast->tables_lock);
}

void fast_insert_clear(struct fast_insert *fast) {
    fast_insert_forget(fast, NULL, NULL, NULL);
    for (size_t i = 0; i < ID_SHARDS; i++) {
        struct id_shard *shard = &fast->shards[i];
        pthread_mutex_lock(&shard->lock);
        free(shard->slots);
        __atomic_store_n(&shard->slots, NULL, __ATOMIC_RELAXED);
        __atomic_store_n(&shard->slot_count, 0, __ATOMIC_RELAXED);
        shard->used = 0;
        pthread_mutex_unlock(&shard->lock);
    }
    atomic_store_explicit(&fast->ids_forgotten, 0, memory_order_relaxed);
}

void fast_insert_stats(struct fast_insert *fast, cJSON *stats) {
    uint64_t ids = 0;
    for (size_t i = 0; i < ID_SHARDS; i++) {
        pthread_mutex_lock(&fast->shards[i].lock);
        ids += fast->shards[i].used;
        pthread_mutex_unlock(&fast->shards[i].lock);
    }
    cJSON_AddNumberToObject(stats, "fast_insert_ids", (double)ids);
    cJSON_AddNumberToObject(
        stats, "fast_insert_ids_forgotten",
        (double)atomic_load_explicit(&fast->ids_forgotten, memory_order_relaxed));
    cJSON *tables = cJSON_AddObjectToObject(stats, "tables");
    pthread_mutex_lock(&fast->tables_lock);
    for (struct fast_table *t = fast->created; t; t = t->next_created) {
        if (!t->live)
            continue;
        char label[1024];
        snprintf(label, sizeof label, "%s:%s.%s", t->project, t->dataset, t->name);
        cJSON *entry = cJSON_AddObjectToObject(tables, label);
        cJSON_AddNumberToObject(
            entry, "rows_inserted",
            (double)atomic_load_explicit(&t->rows_inserted, memory_order_relaxed));
        cJSON_AddNumberToObject(
            entry, "rows_deduped",
            (double)atomic_load_explicit(&t->rows_deduped, memory_order_relaxed));
    }
    pthread_mutex_unlock(&fast->tables_lock);
}

/* The table the rows go to (table, or table + suffix created from it as
 * insertAll's templateSuffix does): cached, or loaded from the store and then
 * cached. Answers 404 (or 400/500) and returns NULL when it cannot be had. A
 * miss holds tables_lock across the store lookup, so a concurrent delete
 * (which forgets after deleting) cannot leave a stale entry behind. */
static struct fast_table *table_resolve(struct emulator *emu, struct http_reply *reply,
                                        const char *project, const char *dataset, const char *table,
                                        const char *suffix) {
    struct fast_insert *fast = emu->fast_insert;
    char name[1200];
    if (suffix)
        snprintf(name, sizeof name, "%s%s", table, suffix);
    pthread_mutex_lock(&fast->tables_lock);
    struct fast_table *target = table_find(fast, project, dataset, table);
    if (target && suffix)
        target = table_find(fast, project, dataset, name);
    if (!target) {
        struct bigquery_table loaded = {0}, suffixed = {0};
        if (bigquery_table_load(emu, reply, project, dataset, table, &loaded)) {
            target = table_add(fast, project, dataset, table);
            if (suffix)
                target = bigquery_table_from_template(emu, reply, &loaded, name, &suffixed)
                             ? table_add(fast, project, dataset, name)
                             : NULL;
        }
        bigquery_table_release(&loaded);
        bigquery_table_release(&suffixed);
    }
    pthread_mutex_unlock(&fast->tables_lock);
    return target;
}

/* ---- insertAll ----------------------------------------------------------------- */

#define PREFETCH_AHEAD 8

static const char ok_answer[] = "{\"kind\":\"bigquery#tableDataInsertAllResponse\"}\n";

void insertall_fast(struct http_request *req, struct http_reply *reply, const char *body,
                    size_t len, const char *project, const char *dataset, const char *table) {
    struct emulator *emu = req->emu;
    struct insertall_scan scan;
    insertall_scan_init(&scan, INSERTALL_MAX_ROWS);
    if (!insertall_scan_body(&scan, body, len)) {
        reply_error(reply, 400, "invalid", "Invalid JSON payload received.");
        goto rejected;
    }
    if (scan.row_count == 0) {
        reply_error(reply, 400, "invalid", "No rows present in the request.");
        goto rejected;
    }
    if (scan.row_count > INSERTALL_MAX_ROWS) {
        reply_error(reply, 400, "invalid",
                    "too many rows present in the request, limit: %d row count: %zu.",
                    INSERTALL_MAX_ROWS, scan.row_count);
        goto rejected;
    }
    STAT_ADD(emu, rows_received, (uint64_t)scan.row_count);
    struct fast_table *target =
        table_resolve(emu, reply, project, dataset, table, scan.has_suffix ? scan.suffix : NULL);
    if (!target)
        goto rejected;

    /* the table's hashes first, so that the set is prefetched some rows ahead */
    for (size_t i = 0; i < scan.row_count; i++)
        if (scan.rows[i] > INSERTALL_ROW_INVALID)
            scan.rows[i] = table_id_hash(target, scan.rows[i]);
    uint64_t inserted = 0, deduped = 0, invalid = 0;
    for (size_t i = 0; i < scan.row_count; i++) {
        if (i + PREFETCH_AHEAD < scan.row_count &&
            scan.rows[i + PREFETCH_AHEAD] > INSERTALL_ROW_INVALID)
            ids_prefetch(emu->fast_insert, scan.rows[i + PREFETCH_AHEAD]);
        uint64_t row = scan.rows[i];
        if (row == INSERTALL_ROW_INVALID)
            invalid++;
        else if (row == INSERTALL_ROW_NO_ID || ids_add(emu->fast_insert, row))
            inserted++;
        else
            deduped++;
    }
    STAT_ADD(emu, rows_inserted, inserted);
    STAT_ADD(emu, rows_deduped, deduped);
    STAT_ADD(emu, rows_invalid, invalid);
    atomic_fetch_add_explicit(&target->rows_inserted, inserted, memory_order_relaxed);
    atomic_fetch_add_explicit(&target->rows_deduped, deduped, memory_order_relaxed);
    if (invalid == 0) {
        reply_bytes(reply, 200, "application/json; charset=UTF-8", xstrdup(ok_answer),
                    sizeof ok_answer - 1);
    } else {
        cJSON *root = insertall_response();
        cJSON *errors = cJSON_AddArrayToObject(root, "insertErrors");
        for (size_t i = 0; i < scan.row_count; i++) {
            if (scan.rows[i] != INSERTALL_ROW_INVALID)
                continue;
            cJSON *entry = cJSON_CreateObject();
            cJSON_AddNumberToObject(entry, "index", (double)i);
            cJSON *list = cJSON_AddArrayToObject(entry, "errors");
            cJSON_AddItemToArray(
                list, insertall_error_item("invalid", "", "Row \"json\" must be a JSON object"));
            cJSON_AddItemToArray(errors, entry);
        }
        reply_json(reply, 200, root);
    }
    insertall_scan_release(&scan);
    return;
rejected:
    STAT_ADD(emu, insert_rejected, 1);
    insertall_scan_release(&scan);
}
