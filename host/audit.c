/*
 * audit.c — `beast audit` (SPEC §2): Kafka's side (watermarks, the group's
 * committed offsets, read with a consumer handle that never joins the
 * group) against the destination's side (the sink's and the DLQ's audit
 * operation), and the range arithmetic between them. Kafka is read before
 * the destination, so a pipeline running meanwhile can only make the
 * destination hold more than the commit promised, never less.
 */
#include "audit.h"

#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "log.h"

#define AUDIT_KAFKA_TIMEOUT_MS 10000
#define AUDIT_ATTEMPTS 5        /* tries of a sink audit that answers RETRY */
#define AUDIT_PRINTED_RANGES 20 /* missing ranges printed per partition */

/* ---------------------------------------------------------------------- */
/* Offset ranges                                                           */
/* ---------------------------------------------------------------------- */

static int reserve_ranges(host_range_set *set, size_t extra) {
    if (set->count + extra <= set->capacity)
        return 0;
    size_t capacity = set->capacity ? set->capacity * 2 : 16;
    while (capacity < set->count + extra)
        capacity *= 2;
    host_range *grown = realloc(set->items, capacity * sizeof(*grown));
    if (!grown)
        return -1;
    set->items = grown;
    set->capacity = capacity;
    return 0;
}

/* True when [first, last] overlaps or touches `range`. */
static int touches(const host_range *range, int64_t first, int64_t last) {
    return !(last < range->first - 1 || first > range->last + 1);
}

int host_range_set_add(host_range_set *set, int64_t first, int64_t last) {
    if (first > last)
        return 0;
    /* The common case: runs in increasing order. */
    if (set->count == 0 || first > set->items[set->count - 1].last + 1) {
        if (reserve_ranges(set, 1) != 0)
            return -1;
        set->items[set->count++] = (host_range){first, last};
        return 0;
    }
    /* lo: the first range that ends at or after first - 1. */
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->items[mid].last + 1 < first)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == set->count || !touches(&set->items[lo], first, last)) {
        if (reserve_ranges(set, 1) != 0)
            return -1;
        memmove(&set->items[lo + 1], &set->items[lo], (set->count - lo) * sizeof(host_range));
        set->items[lo] = (host_range){first, last};
        set->count++;
        return 0;
    }
    /* Merge lo .. end into one range. */
    size_t end = lo;
    while (end + 1 < set->count && touches(&set->items[end + 1], first, last))
        end++;
    host_range merged = {first < set->items[lo].first ? first : set->items[lo].first,
                         last > set->items[end].last ? last : set->items[end].last};
    set->items[lo] = merged;
    memmove(&set->items[lo + 1], &set->items[end + 1], (set->count - end - 1) * sizeof(host_range));
    set->count -= end - lo;
    return 0;
}

int host_range_set_add_all(host_range_set *set, const host_range_set *other) {
    for (size_t i = 0; i < other->count; i++)
        if (host_range_set_add(set, other->items[i].first, other->items[i].last) != 0)
            return -1;
    return 0;
}

int64_t host_range_set_count(const host_range_set *set, int64_t from, int64_t to) {
    int64_t total = 0;
    for (size_t i = 0; i < set->count; i++) {
        int64_t first = set->items[i].first > from ? set->items[i].first : from;
        int64_t last = set->items[i].last < to - 1 ? set->items[i].last : to - 1;
        if (first <= last)
            total += last - first + 1;
    }
    return total;
}

int host_range_set_missing(const host_range_set *present, int64_t from, int64_t to,
                           host_range_set *missing) {
    host_range_set_clear(missing);
    int64_t cursor = from;
    for (size_t i = 0; i < present->count && cursor < to; i++) {
        const host_range *range = &present->items[i];
        if (range->last < cursor)
            continue;
        if (range->first > cursor &&
            host_range_set_add(missing, cursor,
                               range->first - 1 < to - 1 ? range->first - 1 : to - 1) != 0)
            return -1;
        cursor = range->last + 1;
    }
    if (cursor < to && host_range_set_add(missing, cursor, to - 1) != 0)
        return -1;
    return 0;
}

void host_range_set_clear(host_range_set *set) { set->count = 0; }

void host_range_set_free(host_range_set *set) {
    free(set->items);
    memset(set, 0, sizeof(*set));
}

void host_range_set_format(const host_range_set *set, size_t max_ranges, char *out,
                           size_t out_size) {
    size_t used = 0;
    if (out_size == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < set->count && used < out_size; i++) {
        int n;
        if (i == max_ranges) {
            snprintf(out + used, out_size - used, ", ... (%zu more ranges)", set->count - i);
            return;
        }
        const host_range *range = &set->items[i];
        if (range->first == range->last)
            n = snprintf(out + used, out_size - used, "%s%lld", i ? ", " : "",
                         (long long)range->first);
        else
            n = snprintf(out + used, out_size - used, "%s%lld-%lld", i ? ", " : "",
                         (long long)range->first, (long long)range->last);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

/* ---------------------------------------------------------------------- */
/* One partition's verdict                                                 */
/* ---------------------------------------------------------------------- */

void host_audit_bounds_compute(int64_t low, int64_t high, int64_t committed,
                               host_audit_bounds *bounds) {
    memset(bounds, 0, sizeof(*bounds));
    if (low < 0)
        low = 0;
    if (high < low)
        high = low;
    bounds->from = bounds->to = low;
    bounds->beyond_to = high;
    if (committed < 0)
        return; /* nothing committed: nothing is promised yet */
    if (committed > high) {
        bounds->committed_above_high = 1;
        committed = high;
    }
    if (committed < low) {
        bounds->committed_below_low = 1;
        return;
    }
    bounds->to = committed;
}

int host_audit_judge(const host_audit_bounds *bounds, const host_range_set *table,
                     const host_range_set *dlq, host_audit_verdict *verdict) {
    memset(verdict, 0, sizeof(*verdict));
    host_range_set held = {0};
    if (host_range_set_add_all(&held, table) != 0 || host_range_set_add_all(&held, dlq) != 0 ||
        host_range_set_missing(&held, bounds->from, bounds->to, &verdict->gaps) != 0) {
        host_range_set_free(&held);
        host_range_set_free(&verdict->gaps);
        return -1;
    }
    verdict->expected = bounds->to - bounds->from;
    verdict->in_table = host_range_set_count(table, bounds->from, bounds->to);
    verdict->found = host_range_set_count(&held, bounds->from, bounds->to);
    verdict->in_dlq_only = verdict->found - verdict->in_table;
    verdict->missing = verdict->expected - verdict->found;
    verdict->beyond = bounds->beyond_to - bounds->to;
    verdict->beyond_found = host_range_set_count(&held, bounds->to, bounds->beyond_to);
    host_range_set_free(&held);
    return 0;
}

void host_audit_verdict_free(host_audit_verdict *verdict) { host_range_set_free(&verdict->gaps); }

/* ---------------------------------------------------------------------- */
/* Asking a sink                                                           */
/* ---------------------------------------------------------------------- */

/* Where the host put the Kafka coordinates of one sink's rows. */
typedef struct audit_columns {
    char topic[320], partition[320], offset[320];
} audit_columns;

/* What one sink (table or DLQ) holds of one partition. */
typedef struct audit_holdings {
    host_range_set present;
    int64_t rows, distinct;
    char where[512];
} audit_holdings;

typedef struct audit_collector {
    host_range_set *set;
    int64_t from, to;
} audit_collector;

/* beast_audit_report.add_present: clamps to the asked range. */
static int collect_present(beast_audit_report *report, int64_t first, int64_t last) {
    audit_collector *collector = report->host_data;
    if (first < collector->from)
        first = collector->from;
    if (last > collector->to - 1)
        last = collector->to - 1;
    return host_range_set_add(collector->set, first, last);
}

static int sink_can_audit(const beast_instance *instance) {
    const beast_sink_ops *ops = instance->plugin->descriptor->sink;
    return BEAST_HAS_FIELD(ops, beast_sink_ops, audit) && ops->audit != NULL;
}

static void sleep_ms(long ms) {
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Asks `instance` about [from, to) of a partition, adding to `holdings`.
 * 0 ok; -1 with errstr and *usage set when the answer was REJECT. */
static int ask_sink(beast_instance *instance, const audit_columns *columns, const char *topic,
                    int32_t partition, int64_t from, int64_t to, audit_holdings *holdings,
                    int *usage, char *errstr, size_t errstr_size) {
    if (from >= to)
        return 0;
    beast_audit_request request = {.struct_size = sizeof(request),
                                   .topic = topic,
                                   .partition = partition,
                                   .from_offset = from,
                                   .to_offset = to,
                                   .topic_column = columns->topic,
                                   .partition_column = columns->partition,
                                   .offset_column = columns->offset};
    host_range_set found = {0};
    for (int attempt = 0;; attempt++) {
        audit_collector collector = {&found, from, to};
        beast_audit_report report;
        memset(&report, 0, sizeof(report));
        report.struct_size = sizeof(report);
        report.add_present = collect_present;
        report.host_data = &collector;
        host_range_set_clear(&found);
        char why[1024] = "";
        beast_result result = instance->plugin->descriptor->sink->audit(instance->ctx, &request,
                                                                        &report, why, sizeof(why));
        if (result == BEAST_OK) {
            if (host_range_set_add_all(&holdings->present, &found) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                host_range_set_free(&found);
                return -1;
            }
            holdings->rows += report.rows;
            holdings->distinct += report.distinct;
            if (report.where[0])
                snprintf(holdings->where, sizeof(holdings->where), "%s", report.where);
            host_range_set_free(&found);
            return 0;
        }
        if (result != BEAST_RETRY || attempt + 1 >= AUDIT_ATTEMPTS) {
            *usage = result == BEAST_REJECT;
            snprintf(errstr, errstr_size, "%s: %s%s", instance->prefix,
                     why[0] ? why : "audit failed",
                     result == BEAST_RETRY ? " (gave up after 5 attempts)" : "");
            host_range_set_free(&found);
            return -1;
        }
        host_log(BEAST_LOG_WARN, instance->prefix, "audit of %s/%d: %s; trying again", topic,
                 (int)partition, why[0] ? why : "retriable");
        sleep_ms(250L << attempt);
    }
}

/* ---------------------------------------------------------------------- */
/* Kafka's side                                                            */
/* ---------------------------------------------------------------------- */

typedef struct audit_partition {
    int32_t id;
    int64_t low, high, committed;
} audit_partition;

typedef struct audit_topic {
    char *name;
    audit_partition *partitions;
    int partition_count;
} audit_topic;

/* A consumer handle with the pipeline's group.id that never subscribes,
 * assigns or commits: it only reads committed offsets and watermarks. */
static rd_kafka_t *create_client(const host_pipeline_conf *conf, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kafka_conf = rd_kafka_conf_new();
    for (size_t i = 0; i < conf->kafka.count; i++) {
        char why[512];
        if (rd_kafka_conf_set(kafka_conf, conf->kafka.items[i].name, conf->kafka.items[i].value,
                              why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "%s%s", conf->kafka.items[i].where, why);
            rd_kafka_conf_destroy(kafka_conf);
            return NULL;
        }
    }
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "beast-audit-%s", conf->name);
    if (rd_kafka_conf_set(kafka_conf, "group.id", conf->group_id, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kafka_conf, "client.id", client_id, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kafka_conf, "enable.auto.commit", "false", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(kafka_conf);
        return NULL;
    }
    return rd_kafka_new(RD_KAFKA_CONSUMER, kafka_conf, errstr, errstr_size);
}

static int compare_partitions(const void *a, const void *b) {
    const audit_partition *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int compare_topics(const void *a, const void *b) {
    return strcmp(((const audit_topic *)a)->name, ((const audit_topic *)b)->name);
}

static void free_topics(audit_topic *topics, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(topics[i].name);
        free(topics[i].partitions);
    }
    free(topics);
}

/* The pipeline's topics as the cluster has them: names, and regexes
 * ('^...') matched against every topic but internal ones ("__..."). A
 * named topic the cluster does not have is reported and skipped.
 * 0 ok, -1 with errstr. */
static int resolve_topics(rd_kafka_t *client, const host_pipeline_conf *conf,
                          audit_topic **topics_out, size_t *count_out, char *errstr,
                          size_t errstr_size) {
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(client, 1, NULL, &metadata, AUDIT_KAFKA_TIMEOUT_MS);
    if (err) {
        snprintf(errstr, errstr_size, "kafka metadata: %s", rd_kafka_err2str(err));
        return -1;
    }
    audit_topic *topics = calloc((size_t)metadata->topic_cnt + 1, sizeof(*topics));
    size_t count = 0;
    int status = topics ? 0 : -1;
    if (!topics)
        snprintf(errstr, errstr_size, "out of memory");
    regex_t *patterns = calloc(conf->topic_count + 1, sizeof(regex_t));
    int *compiled = calloc(conf->topic_count + 1, sizeof(int));
    if (status == 0 && (!patterns || !compiled)) {
        snprintf(errstr, errstr_size, "out of memory");
        status = -1;
    }
    for (size_t t = 0; status == 0 && t < conf->topic_count; t++) {
        const char *entry = conf->topics[t];
        if (entry[0] != '^')
            continue;
        int rc = regcomp(&patterns[t], entry, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[256];
            regerror(rc, &patterns[t], why, sizeof(why));
            snprintf(errstr, errstr_size, "topic regex \"%s\": %s", entry, why);
            status = -1;
            break;
        }
        compiled[t] = 1;
    }
    for (size_t t = 0; status == 0 && t < conf->topic_count; t++) {
        const char *entry = conf->topics[t];
        if (entry[0] == '^')
            continue;
        int known = 0;
        for (int m = 0; m < metadata->topic_cnt; m++)
            known |= strcmp(metadata->topics[m].topic, entry) == 0 && !metadata->topics[m].err;
        if (!known)
            printf("  topic %s: not in the cluster (nothing to audit)\n", entry);
    }
    for (int m = 0; status == 0 && m < metadata->topic_cnt; m++) {
        const struct rd_kafka_metadata_topic *topic = &metadata->topics[m];
        if (topic->err)
            continue;
        int wanted = 0;
        for (size_t t = 0; !wanted && t < conf->topic_count; t++) {
            if (compiled[t])
                wanted = strncmp(topic->topic, "__", 2) != 0 &&
                         regexec(&patterns[t], topic->topic, 0, NULL, 0) == 0;
            else
                wanted = strcmp(conf->topics[t], topic->topic) == 0;
        }
        if (!wanted)
            continue;
        audit_topic *out = &topics[count];
        out->name = strdup(topic->topic);
        out->partitions = calloc((size_t)topic->partition_cnt + 1, sizeof(audit_partition));
        if (!out->name || !out->partitions) {
            free(out->name);
            free(out->partitions);
            snprintf(errstr, errstr_size, "out of memory");
            status = -1;
            break;
        }
        for (int p = 0; p < topic->partition_cnt; p++)
            out->partitions[p] = (audit_partition){topic->partitions[p].id, -1, -1, -1};
        out->partition_count = topic->partition_cnt;
        qsort(out->partitions, (size_t)out->partition_count, sizeof(audit_partition),
              compare_partitions);
        count++;
    }
    for (size_t t = 0; patterns && compiled && t < conf->topic_count; t++)
        if (compiled[t])
            regfree(&patterns[t]);
    free(patterns);
    free(compiled);
    rd_kafka_metadata_destroy(metadata);
    if (status != 0) {
        free_topics(topics, count);
        return -1;
    }
    qsort(topics, count, sizeof(*topics), compare_topics);
    *topics_out = topics;
    *count_out = count;
    return 0;
}

/* The committed offset of every partition of `topic`: the offset store's
 * (as on assignment), else the group's. Then the watermarks, read after
 * the commits so that committed <= high. 0 ok, -1 with errstr. */
static int read_kafka_side(rd_kafka_t *client, beast_instance *offsets, audit_topic *topic,
                           char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(topic->partition_count > 0 ? topic->partition_count : 1);
    for (int p = 0; p < topic->partition_count; p++)
        rd_kafka_topic_partition_list_add(list, topic->name, topic->partitions[p].id);
    rd_kafka_resp_err_t err = rd_kafka_committed(client, list, AUDIT_KAFKA_TIMEOUT_MS);
    if (err) {
        snprintf(errstr, errstr_size, "committed offsets of %s: %s", topic->name,
                 rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(list);
        return -1;
    }
    for (int p = 0; p < topic->partition_count; p++) {
        audit_partition *partition = &topic->partitions[p];
        rd_kafka_topic_partition_t *entry =
            rd_kafka_topic_partition_list_find(list, topic->name, partition->id);
        if (entry && entry->err) {
            snprintf(errstr, errstr_size, "committed offset of %s/%d: %s", topic->name,
                     (int)partition->id, rd_kafka_err2str(entry->err));
            rd_kafka_topic_partition_list_destroy(list);
            return -1;
        }
        partition->committed = entry && entry->offset >= 0 ? entry->offset : -1;
        int64_t stored = BEAST_OFFSET_NONE;
        char why[512] = "";
        beast_result result = offsets->plugin->descriptor->offsets->load(
            offsets->ctx, topic->name, partition->id, &stored, why, sizeof(why));
        if (result != BEAST_OK) {
            snprintf(errstr, errstr_size, "%s: cannot load %s/%d: %s", offsets->prefix, topic->name,
                     (int)partition->id, why);
            rd_kafka_topic_partition_list_destroy(list);
            return -1;
        }
        if (stored != BEAST_OFFSET_NONE)
            partition->committed = stored >= 0 ? stored : -1;
    }
    rd_kafka_topic_partition_list_destroy(list);
    for (int p = 0; p < topic->partition_count; p++) {
        audit_partition *partition = &topic->partitions[p];
        int64_t low = -1, high = -1;
        err = rd_kafka_query_watermark_offsets(client, topic->name, partition->id, &low, &high,
                                               AUDIT_KAFKA_TIMEOUT_MS);
        if (err) {
            snprintf(errstr, errstr_size, "watermarks of %s/%d: %s", topic->name,
                     (int)partition->id, rd_kafka_err2str(err));
            return -1;
        }
        partition->low = low;
        partition->high = high;
    }
    return 0;
}

/* Offset-store hooks for `beast audit`: it reads, never commits. */
static beast_result audit_commit(void *owner, const beast_offset *offsets, size_t count,
                                 char *errstr, size_t errstr_size) {
    (void)owner, (void)offsets, (void)count;
    snprintf(errstr, errstr_size, "beast audit never commits");
    return BEAST_FATAL;
}

static beast_result audit_committed(void *owner, const char *topic, int32_t partition,
                                    int64_t *offset_out, char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(owner, list, AUDIT_KAFKA_TIMEOUT_MS);
    if (!err)
        err = list->elems[0].err;
    *offset_out = !err && list->elems[0].offset >= 0 ? list->elems[0].offset : BEAST_OFFSET_NONE;
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return BEAST_RETRY;
    }
    return BEAST_OK;
}

/* ---------------------------------------------------------------------- */
/* The report                                                              */
/* ---------------------------------------------------------------------- */

typedef struct audit_totals {
    int64_t partitions, expected, found, in_table, in_dlq, missing, gap_partitions;
    int64_t duplicates, dlq_duplicates, beyond, beyond_found;
} audit_totals;

static void add_totals(audit_totals *into, const audit_totals *part) {
    into->partitions += part->partitions;
    into->expected += part->expected;
    into->found += part->found;
    into->in_table += part->in_table;
    into->in_dlq += part->in_dlq;
    into->missing += part->missing;
    into->gap_partitions += part->gap_partitions;
    into->duplicates += part->duplicates;
    into->dlq_duplicates += part->dlq_duplicates;
    into->beyond += part->beyond;
    into->beyond_found += part->beyond_found;
}

static void print_totals(const char *label, const audit_totals *totals) {
    printf("%s: %lld partitions, expected %lld, found %lld (table %lld, dlq %lld), missing %lld, "
           "duplicates %lld (dlq %lld), beyond committed %lld of %lld\n",
           label, (long long)totals->partitions, (long long)totals->expected,
           (long long)totals->found, (long long)totals->in_table, (long long)totals->in_dlq,
           (long long)totals->missing, (long long)totals->duplicates,
           (long long)totals->dlq_duplicates, (long long)totals->beyond_found,
           (long long)totals->beyond);
}

static void print_offset(char *out, size_t size, int64_t value) {
    if (value < 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%lld", (long long)value);
}

/* Columns of a metadata RECORD or top level, as json_encode_row writes them. */
static void sink_columns(const beast_instance *sink, audit_columns *columns) {
    const char *space = sink->metadata_namespace;
    const char *dot = space && space[0] ? "." : "";
    space = space && space[0] ? space : "";
    snprintf(columns->topic, sizeof(columns->topic), "%s%smessage_topic", space, dot);
    snprintf(columns->partition, sizeof(columns->partition), "%s%smessage_partition", space, dot);
    snprintf(columns->offset, sizeof(columns->offset), "%s%smessage_offset", space, dot);
}

/* Audits the partitions of one topic. Returns 0, or -1 when something could
 * not be read (*usage: because a sink refused to be audited). */
static int audit_topic_partitions(beast_instance *sink, beast_instance *dlq, int dlq_audits,
                                  const audit_topic *topic, audit_totals *totals, int *usage) {
    audit_columns table_columns, dlq_columns = {"topic", "partition", "offset"};
    sink_columns(sink, &table_columns);
    char errstr[2048];
    int header = 0;
    for (int p = 0; p < topic->partition_count; p++) {
        const audit_partition *partition = &topic->partitions[p];
        host_audit_bounds bounds;
        host_audit_bounds_compute(partition->low, partition->high, partition->committed, &bounds);
        audit_holdings table = {0}, dead = {0};
        int failed = ask_sink(sink, &table_columns, topic->name, partition->id, bounds.from,
                              bounds.to, &table, usage, errstr, sizeof(errstr)) != 0 ||
                     ask_sink(sink, &table_columns, topic->name, partition->id, bounds.to,
                              bounds.beyond_to, &table, usage, errstr, sizeof(errstr)) != 0;
        if (!failed && dlq_audits)
            failed = ask_sink(dlq, &dlq_columns, topic->name, partition->id, bounds.from, bounds.to,
                              &dead, usage, errstr, sizeof(errstr)) != 0 ||
                     ask_sink(dlq, &dlq_columns, topic->name, partition->id, bounds.to,
                              bounds.beyond_to, &dead, usage, errstr, sizeof(errstr)) != 0;
        host_audit_verdict verdict;
        if (!failed && host_audit_judge(&bounds, &table.present, &dead.present, &verdict) != 0) {
            snprintf(errstr, sizeof(errstr), "out of memory");
            failed = 1;
        }
        if (!header) {
            printf("  topic %s: table %s; dlq %s\n", topic->name,
                   table.where[0] ? table.where : "-",
                   !dlq_audits     ? "(cannot be audited)"
                   : dead.where[0] ? dead.where
                                   : "-");
            printf("    %9s %12s %12s %12s %12s %12s %9s %9s %10s %17s\n", "partition", "low",
                   "committed", "high", "expected", "in table", "in dlq", "missing", "duplicates",
                   "beyond committed");
            header = 1;
        }
        if (failed) {
            fprintf(stderr, "beast: audit %s/%d: %s\n", topic->name, (int)partition->id, errstr);
            printf("    %9d  could not be audited: %s\n", (int)partition->id, errstr);
            host_range_set_free(&table.present);
            host_range_set_free(&dead.present);
            return -1; /* the next partitions would fail the same way */
        }
        char committed[32], beyond[48];
        print_offset(committed, sizeof(committed), partition->committed);
        snprintf(beyond, sizeof(beyond), "%lld/%lld", (long long)verdict.beyond_found,
                 (long long)verdict.beyond);
        int64_t duplicates = table.rows - table.distinct;
        int64_t dlq_duplicates = dead.rows - dead.distinct;
        printf("    %9d %12lld %12s %12lld %12lld %12lld %9lld %9lld %10lld %17s\n",
               (int)partition->id, (long long)partition->low, committed, (long long)partition->high,
               (long long)verdict.expected, (long long)verdict.in_table,
               (long long)verdict.in_dlq_only, (long long)verdict.missing, (long long)duplicates,
               beyond);
        if (verdict.missing) {
            char ranges[2048];
            host_range_set_format(&verdict.gaps, AUDIT_PRINTED_RANGES, ranges, sizeof(ranges));
            printf("      MISSING %lld offsets: %s\n", (long long)verdict.missing, ranges);
        }
        if (dlq_duplicates)
            printf("      the dlq holds %lld duplicate rows (replays after a crash)\n",
                   (long long)dlq_duplicates);
        if (bounds.committed_below_low)
            printf("      committed offset %lld is below the low watermark %lld: retention "
                   "deleted messages before they were committed (not counted as missing)\n",
                   (long long)partition->committed, (long long)partition->low);
        if (bounds.committed_above_high)
            printf("      committed offset %lld is above the high watermark %lld (was the topic "
                   "recreated?)\n",
                   (long long)partition->committed, (long long)partition->high);
        audit_totals part = {.partitions = 1,
                             .expected = verdict.expected,
                             .found = verdict.found,
                             .in_table = verdict.in_table,
                             .in_dlq = verdict.in_dlq_only,
                             .missing = verdict.missing,
                             .gap_partitions = verdict.missing > 0,
                             .duplicates = duplicates,
                             .dlq_duplicates = dlq_duplicates,
                             .beyond = verdict.beyond,
                             .beyond_found = verdict.beyond_found};
        add_totals(totals, &part);
        host_audit_verdict_free(&verdict);
        host_range_set_free(&table.present);
        host_range_set_free(&dead.present);
    }
    return 0;
}

/* Audits one pipeline; adds to `totals`. Returns an exit status. */
static int audit_pipeline(const host_conf *conf, const host_pipeline_conf *pipeline,
                          audit_totals *totals) {
    char errstr[2048];
    beast_instance sink, dlq, offsets;
    memset(&sink, 0, sizeof(sink));
    memset(&dlq, 0, sizeof(dlq));
    memset(&offsets, 0, sizeof(offsets));
    printf("pipeline %s: group %s, sink %s, dlq %s, offsets %s\n", pipeline->name,
           pipeline->group_id, pipeline->sink.plugin->descriptor->name,
           pipeline->dlq.plugin->descriptor->name, pipeline->offsets.plugin->descriptor->name);

    /* The sink must be able to answer before anything is contacted. */
    beast_instance probe = {.plugin = pipeline->sink.plugin};
    if (!sink_can_audit(&probe)) {
        fprintf(stderr,
                "beast: pipeline %s: sink \"%s\" cannot be audited (its plugin has no audit "
                "operation, ABI 1.2)\n",
                pipeline->name, pipeline->sink.plugin->descriptor->name);
        return HOST_AUDIT_USAGE;
    }
    if (!host_config_bool(&pipeline->sink.options, "metadata_columns")) {
        fprintf(stderr,
                "beast: pipeline %s: metadata_columns = false: its rows carry no Kafka "
                "coordinates to audit\n",
                pipeline->name);
        return HOST_AUDIT_USAGE;
    }
    probe.plugin = pipeline->dlq.plugin;
    int dlq_audits = sink_can_audit(&probe);
    if (!dlq_audits)
        printf("  note: dlq \"%s\" cannot be audited: offsets dead-lettered there count as "
               "missing\n",
               pipeline->dlq.plugin->descriptor->name);

    rd_kafka_t *client = create_client(pipeline, errstr, sizeof(errstr));
    if (!client) {
        fprintf(stderr, "beast: pipeline %s: kafka: %s\n", pipeline->name, errstr);
        return HOST_AUDIT_USAGE;
    }
    offsets.owner = client;
    offsets.commit = audit_commit;
    offsets.committed = audit_committed;
    int status = HOST_AUDIT_NO_GAP;
    if (host_instance_init(&sink, pipeline->sink.plugin, &pipeline->sink.options, pipeline->name,
                           conf->data_dir, errstr, sizeof(errstr)) != 0 ||
        (dlq_audits &&
         host_instance_init(&dlq, pipeline->dlq.plugin, &pipeline->dlq.options, pipeline->name,
                            conf->data_dir, errstr, sizeof(errstr)) != 0) ||
        host_instance_init(&offsets, pipeline->offsets.plugin, &pipeline->offsets.options,
                           pipeline->name, conf->data_dir, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "beast: pipeline %s: %s\n", pipeline->name, errstr);
        status = HOST_AUDIT_USAGE;
        goto out;
    }
    dlq.metadata_columns = 0; /* as the pipeline writes it: DLQ rows carry their own fields */

    audit_topic *topics = NULL;
    size_t topic_count = 0;
    if (resolve_topics(client, pipeline, &topics, &topic_count, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "beast: pipeline %s: %s\n", pipeline->name, errstr);
        status = HOST_AUDIT_FAILED;
        goto out;
    }
    audit_totals mine = {0};
    int failed = 0, usage = 0;
    for (size_t t = 0; t < topic_count && !failed; t++) {
        if (read_kafka_side(client, &offsets, &topics[t], errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "beast: pipeline %s: %s\n", pipeline->name, errstr);
            printf("  topic %s: could not be audited: %s\n", topics[t].name, errstr);
            failed = 1;
            continue;
        }
        if (audit_topic_partitions(&sink, &dlq, dlq_audits, &topics[t], &mine, &usage) != 0)
            failed = 1;
    }
    free_topics(topics, topic_count);
    print_totals("  total", &mine);
    add_totals(totals, &mine);
    if (mine.missing)
        status = HOST_AUDIT_GAP;
    else if (usage)
        status = HOST_AUDIT_USAGE;
    else if (failed)
        status = HOST_AUDIT_FAILED;
out:
    host_instance_destroy(&offsets);
    host_instance_destroy(&dlq);
    host_instance_destroy(&sink);
    rd_kafka_destroy_flags(client, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return status;
}

/* The worse of two statuses: a gap outranks everything (it is a finding
 * even when other parts could not be read), then usage, then failure. */
static int worse_status(int a, int b) {
    static const int rank[] = {[HOST_AUDIT_NO_GAP] = 0,
                               [HOST_AUDIT_GAP] = 3,
                               [HOST_AUDIT_USAGE] = 2,
                               [HOST_AUDIT_FAILED] = 1};
    return rank[b] > rank[a] ? b : a;
}

int host_audit_run(const host_conf *conf, const char *only) {
    int status = HOST_AUDIT_NO_GAP, audited = 0;
    audit_totals totals = {0};
    for (size_t i = 0; i < conf->pipeline_count; i++) {
        if (only && strcmp(conf->pipelines[i].name, only) != 0)
            continue;
        status = worse_status(status, audit_pipeline(conf, &conf->pipelines[i], &totals));
        audited++;
        fflush(stdout);
    }
    if (only && !audited) {
        fprintf(stderr, "beast: %s: no pipeline named \"%s\"\n", conf->path, only);
        return HOST_AUDIT_USAGE;
    }
    if (status == HOST_AUDIT_GAP)
        printf("beast audit: GAP: %lld committed offsets in %lld partition%s are neither in "
               "the table nor in the DLQ\n",
               (long long)totals.missing, (long long)totals.gap_partitions,
               totals.gap_partitions == 1 ? "" : "s");
    else if (status == HOST_AUDIT_NO_GAP)
        printf("beast audit: no gap: %lld committed offsets in %lld partitions, all found "
               "(%lld duplicates stored)\n",
               (long long)totals.expected, (long long)totals.partitions,
               (long long)totals.duplicates);
    else
        printf("beast audit: no verdict: %s\n", status == HOST_AUDIT_USAGE
                                                    ? "a sink cannot be audited or bad config"
                                                    : "Kafka or a destination could not be read");
    return status;
}
