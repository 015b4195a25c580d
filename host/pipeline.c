/*
 * pipeline.c — the run-time pipeline; see pipeline.h for its shape.
 *
 * Ownership: a Kafka message is owned by the consumer thread until it is in
 * a ring, then by the decoder worker, then by its batch; the sink worker that
 * finishes the batch acks its offsets and destroys the messages. A message is
 * acknowledged only after the sink marked its row DONE or the DLQ accepted
 * it. Nothing else ever acks.
 */
#include "pipeline.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "arena.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "ring.h"

/* A consumed message on its way through a ring. */
typedef struct inflight {
    rd_kafka_message_t *message;
    host_track *track;
    uint32_t seq;
} inflight;

/* What a batch entry still needs. */
enum entry_state { ENTRY_SINK = 0, ENTRY_DONE = 1, ENTRY_DLQ = 2 };

typedef struct host_batch {
    uint32_t count, capacity;
    inflight *entries;
    beast_message *messages;
    beast_row *rows;        /* rows[i].value: the decoded row of entries[i] */
    uint8_t *states;        /* enum entry_state */
    uint8_t *decode_failed; /* 1: stage decode, else stage sink */
    const char **errors;    /* DLQ reason per entry (arena or static) */
    beast_row *view;        /* rows handed to a sink call */
    uint32_t *view_index;   /* view row -> entry */
    beast_arena *arena;
    const beast_schema *schema;
    size_t bytes;
    int64_t first_us;
    struct host_batch *next;
} host_batch;

typedef struct decoder_worker {
    host_pipeline *pipeline;
    pthread_t thread;
    host_ring ring;
    pthread_mutex_t lock; /* for the wake-up only */
    pthread_cond_t wake;
    _Atomic int sleeping;
    uint32_t unsignalled; /* consumer thread only: enqueued since the last wake-up */
    host_batch *batch;    /* being filled */
    int index;
} decoder_worker;

struct host_pipeline {
    const host_pipeline_conf *conf;
    beast_instance decoder, sink, offsets, dlq;
    int sink_thread_safe, decoder_thread_safe;
    pthread_mutex_t sink_lock, decoder_lock, dlq_lock;

    rd_kafka_t *consumer;
    rd_kafka_queue_t *consumer_queue; /* librdkafka's consumer queue, for its length */
    pthread_t consumer_thread, committer_thread, waker_thread;
    pthread_t *sink_threads;
    decoder_worker *decoders;
    int decoder_count, sink_count;
    host_track_table tracks;
    pthread_mutex_t commit_lock; /* serialises commits and head advances */

    /* Batch pool and the queue to the sinks. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_changed;
    host_batch *free_batches;
    host_batch *queue_head, *queue_tail;
    host_batch *all_batches;
    int batch_total;
    int decoders_running;
    int sinks_running;

    /* Messages the consumer could not hand on yet (rings or windows full). */
    inflight *pending;
    size_t pending_head, pending_count, pending_capacity;
    int paused;
    rd_kafka_topic_partition_list_t *assignment;

    _Atomic int stopping;
    _Atomic int abandoning;
    _Atomic int failed;
    _Atomic int input_closed;
    _Atomic int sinks_done;
    _Atomic int finished;
    _Atomic int ready; /* counted in /readyz: assigned and the sink answered */
    _Atomic int assigned_once;
    _Atomic int sink_answered;
    int threads_started;
    int skip_close; /* destroy the consumer without rd_kafka_consumer_close */
    _Atomic int final_commit_failed;
    _Atomic int consumer_done; /* the consumer thread has committed and closed */
    int64_t pause_after_us;
    int64_t stalled_since; /* consumer thread: when a hand-off first failed, 0 = not stalled */
    _Atomic uint64_t abandoned_messages;
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond; /* backoff sleeps; broadcast on abandon */

    uint32_t batch_rows;
    size_t batch_bytes;
    int64_t linger_us, backoff_us, backoff_max_us, commit_interval_us, rebalance_drain_us;

    host_series *consumed, *written, *dlq_rows, *decode_errors, *retries, *sink_ok, *sink_retry,
        *depth_decode, *depth_sink, *paused_gauge, *backpressure_gauge;
    host_histogram *batch_latency;

    /* Fetch wake-ups (see fetch_waker_main). The consumer thread decides,
     * the waker thread sends; waker_lock guards wake_requested. */
    pthread_mutex_t waker_lock;
    pthread_cond_t waker_cond;
    int wake_requested;
    int64_t queue_max_messages, queue_max_bytes; /* librdkafka's prefetch thresholds */
    double mean_message_bytes;                   /* consumer thread: running mean */
    int queue_was_full;                          /* consumer thread */
    uint32_t polls_since_check;                  /* consumer thread */
    host_series *fetch_wakeups;
};

static void pipeline_fail(host_pipeline *pipeline, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

static void sleep_interruptible(host_pipeline *pipeline, int64_t micros) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += micros / 1000000;
    deadline.tv_nsec += (micros % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&pipeline->wait_lock);
    while (!atomic_load(&pipeline->abandoning) &&
           pthread_cond_timedwait(&pipeline->wait_cond, &pipeline->wait_lock, &deadline) == 0) {
    }
    pthread_mutex_unlock(&pipeline->wait_lock);
}

/* Capped exponential backoff with full jitter in [delay/2, delay]. */
static int64_t backoff_delay(const host_pipeline *pipeline, uint32_t attempt, unsigned *seed) {
    int64_t delay = pipeline->backoff_us;
    for (uint32_t i = 0; i < attempt && delay < pipeline->backoff_max_us; i++)
        delay *= 2;
    if (delay > pipeline->backoff_max_us)
        delay = pipeline->backoff_max_us;
    return delay / 2 + (int64_t)(rand_r(seed) % (unsigned)(delay / 2 + 1));
}

/* /readyz counts a pipeline once it has partitions and its sink answered. */
static void update_ready(host_pipeline *pipeline) {
    if (atomic_load(&pipeline->assigned_once) && atomic_load(&pipeline->sink_answered) &&
        !atomic_exchange(&pipeline->ready, 1))
        host_metrics_set_ready(1);
}

static void pipeline_fail(host_pipeline *pipeline, const char *fmt, ...) {
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    if (!atomic_exchange(&pipeline->failed, 1))
        host_log(BEAST_LOG_ERROR, pipeline->conf->name,
                 "pipeline stopped: %s (nothing unacknowledged was committed)", message);
    atomic_store(&pipeline->stopping, 1);
    host_pipeline_abandon(pipeline);
}

/* ---------------------------------------------------------------------- */
/* Batches                                                                 */
/* ---------------------------------------------------------------------- */

static host_batch *batch_create(uint32_t capacity) {
    host_batch *batch = calloc(1, sizeof(*batch));
    if (!batch)
        return NULL;
    batch->capacity = capacity;
    batch->entries = calloc(capacity, sizeof(*batch->entries));
    batch->messages = calloc(capacity, sizeof(*batch->messages));
    batch->rows = calloc(capacity, sizeof(*batch->rows));
    batch->states = calloc(capacity, sizeof(*batch->states));
    batch->decode_failed = calloc(capacity, sizeof(*batch->decode_failed));
    batch->errors = calloc(capacity, sizeof(*batch->errors));
    batch->view = calloc(capacity, sizeof(*batch->view));
    batch->view_index = calloc(capacity, sizeof(*batch->view_index));
    batch->arena = host_arena_create(256 * 1024);
    if (!batch->entries || !batch->messages || !batch->rows || !batch->states ||
        !batch->decode_failed || !batch->errors || !batch->view || !batch->view_index ||
        !batch->arena) {
        host_arena_destroy(batch->arena);
        free(batch->entries), free(batch->messages), free(batch->rows), free(batch->states);
        free(batch->decode_failed), free(batch->errors), free(batch->view), free(batch->view_index);
        free(batch);
        return NULL;
    }
    return batch;
}

static void batch_destroy(host_batch *batch) {
    host_arena_destroy(batch->arena);
    free(batch->entries), free(batch->messages), free(batch->rows), free(batch->states);
    free(batch->decode_failed), free(batch->errors), free(batch->view), free(batch->view_index);
    free(batch);
}

/* Destroys the batch's messages and returns it to the pool. Does not ack. */
static void batch_release(host_pipeline *pipeline, host_batch *batch) {
    for (uint32_t i = 0; i < batch->count; i++)
        rd_kafka_message_destroy(batch->entries[i].message);
    batch->count = 0;
    batch->bytes = 0;
    batch->schema = NULL;
    host_arena_reset(batch->arena);
    pthread_mutex_lock(&pipeline->queue_lock);
    batch->next = pipeline->free_batches;
    pipeline->free_batches = batch;
    pthread_cond_broadcast(&pipeline->queue_changed);
    pthread_mutex_unlock(&pipeline->queue_lock);
}

/* A free batch, waiting while all are in use; NULL when abandoning. */
static host_batch *batch_take(host_pipeline *pipeline) {
    pthread_mutex_lock(&pipeline->queue_lock);
    while (!pipeline->free_batches && !atomic_load(&pipeline->abandoning))
        pthread_cond_wait(&pipeline->queue_changed, &pipeline->queue_lock);
    host_batch *batch = pipeline->free_batches;
    if (batch && !atomic_load(&pipeline->abandoning))
        pipeline->free_batches = batch->next;
    else
        batch = NULL;
    pthread_mutex_unlock(&pipeline->queue_lock);
    return batch;
}

static void batch_submit(host_pipeline *pipeline, host_batch *batch) {
    pthread_mutex_lock(&pipeline->queue_lock);
    batch->next = NULL;
    if (pipeline->queue_tail)
        pipeline->queue_tail->next = batch;
    else
        pipeline->queue_head = batch;
    pipeline->queue_tail = batch;
    pthread_cond_broadcast(&pipeline->queue_changed);
    pthread_mutex_unlock(&pipeline->queue_lock);
    host_series_add(pipeline->depth_sink, 1);
}

/* ---------------------------------------------------------------------- */
/* Sink workers                                                            */
/* ---------------------------------------------------------------------- */

/* Builds the view of entries in `state`; returns its length. */
static uint32_t build_view(host_batch *batch, enum entry_state state) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < batch->count; i++) {
        if (batch->states[i] != state)
            continue;
        batch->view[count] = batch->rows[i];
        batch->view[count].status = BEAST_ROW_PENDING;
        batch->view[count].error = NULL;
        batch->view_index[count++] = i;
    }
    return count;
}

static beast_result call_sink(host_pipeline *pipeline, beast_instance *instance,
                              pthread_mutex_t *lock, int thread_safe, beast_batch *view,
                              char *errstr, size_t errstr_size) {
    if (!thread_safe)
        pthread_mutex_lock(lock);
    /* The rows' load_time: now, when the batch is handed to the sink (which
     * encodes its rows in write, on this thread). */
    host_json_load_time(host_wall_us());
    beast_result result =
        instance->plugin->descriptor->sink->write(instance->ctx, view, errstr, errstr_size);
    host_json_load_time(HOST_JSON_LOAD_TIME_PER_ROW);
    if (!thread_safe)
        pthread_mutex_unlock(lock);
    (void)pipeline;
    return result;
}

/* Writes the entries still in ENTRY_SINK until each is DONE or bound for
 * the DLQ. Returns 0, or -1 when abandoning or failed. */
static int write_to_sink(host_pipeline *pipeline, host_batch *batch, unsigned *seed) {
    char errstr[1024];
    for (uint32_t attempt = 0;; attempt++) {
        uint32_t count = build_view(batch, ENTRY_SINK);
        if (count == 0)
            return 0;
        if (atomic_load(&pipeline->abandoning))
            return -1;
        beast_batch view = {.struct_size = sizeof(beast_batch),
                            .count = count,
                            .rows = batch->view,
                            .schema = batch->schema,
                            .arena = batch->arena,
                            .attempt = attempt};
        errstr[0] = '\0';
        /* Sinks encode rows in write, on this thread; the schema lives until
         * the decoder's destroy, after the pipeline's workers stop. */
        host_json_trust_schema(batch->schema);
        beast_result result = call_sink(pipeline, &pipeline->sink, &pipeline->sink_lock,
                                        pipeline->sink_thread_safe, &view, errstr, sizeof(errstr));
        host_json_trust_schema(NULL);
        if (result == BEAST_FATAL) {
            pipeline_fail(pipeline, "sink: %s", errstr[0] ? errstr : "fatal error");
            return -1;
        }
        uint32_t retry = 0, done = 0;
        for (uint32_t v = 0; v < count; v++) {
            uint32_t i = batch->view_index[v];
            switch (batch->view[v].status) {
            case BEAST_ROW_DONE:
                batch->states[i] = ENTRY_DONE;
                done++;
                break;
            case BEAST_ROW_REJECT:
                batch->states[i] = ENTRY_DLQ;
                batch->decode_failed[i] = 0;
                batch->errors[i] =
                    batch->view[v].error ? batch->view[v].error : "rejected by the sink";
                break;
            default:
                retry++;
            }
        }
        host_series_add(pipeline->written, done);
        if (result == BEAST_OK && !atomic_load(&pipeline->sink_answered)) {
            atomic_store(&pipeline->sink_answered, 1);
            update_ready(pipeline);
        }
        host_series_add(result == BEAST_OK && retry == 0 ? pipeline->sink_ok : pipeline->sink_retry,
                        1);
        if (retry == 0)
            return 0;
        host_series_add(pipeline->retries, 1);
        int64_t delay = backoff_delay(pipeline, attempt, seed);
        if (attempt < 3 || attempt % 10 == 0)
            host_log(BEAST_LOG_WARN, pipeline->sink.prefix,
                     "%u of %u rows not accepted (%s); retry %u in %lld ms", retry, count,
                     errstr[0] ? errstr : "retriable", attempt + 1, (long long)(delay / 1000));
        sleep_interruptible(pipeline, delay);
    }
}

/* The DLQ row for entry i: SPEC §4's fields. */
static int build_dlq_row(host_batch *batch, uint32_t i, beast_row *row) {
    static const char *const names[] = {"topic", "partition", "offset", "timestamp", "key",
                                        "value", "headers",   "stage",  "error"};
    enum { FIELD_COUNT = 9 };
    beast_member *members = host_arena_alloc(batch->arena, sizeof(beast_member) * FIELD_COUNT);
    if (!members)
        return -1;
    const rd_kafka_message_t *message = batch->entries[i].message;
    const beast_message *meta = &batch->messages[i];
    for (int f = 0; f < FIELD_COUNT; f++) {
        members[f].name = names[f];
        members[f].value.type = BEAST_TYPE_NULL;
        members[f].value.len = 0;
    }
    members[0].value = (beast_value){
        .type = BEAST_TYPE_STRING, .len = (uint32_t)strlen(meta->topic), .as.str = meta->topic};
    members[1].value = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = meta->partition};
    members[2].value = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = meta->offset};
    if (meta->timestamp_ms >= 0)
        members[3].value = (beast_value){.type = BEAST_TYPE_TIMESTAMP,
                                         .as.timestamp_us = meta->timestamp_ms * 1000};
    if (meta->key)
        members[4].value = (beast_value){
            .type = BEAST_TYPE_BYTES, .len = (uint32_t)meta->key_len, .as.bytes = meta->key};
    if (meta->value)
        members[5].value = (beast_value){
            .type = BEAST_TYPE_BYTES, .len = (uint32_t)meta->value_len, .as.bytes = meta->value};
    rd_kafka_headers_t *headers = NULL;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
        size_t header_count = rd_kafka_header_cnt(headers);
        beast_value *items =
            host_arena_alloc(batch->arena, sizeof(beast_value) * (header_count + 1));
        beast_member *pairs =
            host_arena_alloc(batch->arena, sizeof(beast_member) * 2 * (header_count + 1));
        if (!items || !pairs)
            return -1;
        size_t n = 0;
        const char *name;
        const void *value;
        size_t size;
        while (n < header_count && rd_kafka_header_get_all(headers, n, &name, &value, &size) ==
                                       RD_KAFKA_RESP_ERR_NO_ERROR) {
            pairs[2 * n] = (beast_member){
                "key", {.type = BEAST_TYPE_STRING, .len = (uint32_t)strlen(name), .as.str = name}};
            pairs[2 * n + 1] = (beast_member){"value", {.type = BEAST_TYPE_NULL}};
            if (value)
                pairs[2 * n + 1].value = (beast_value){
                    .type = BEAST_TYPE_BYTES, .len = (uint32_t)size, .as.bytes = value};
            items[n] =
                (beast_value){.type = BEAST_TYPE_RECORD, .len = 2, .as.members = &pairs[2 * n]};
            n++;
        }
        members[6].value =
            (beast_value){.type = BEAST_TYPE_ARRAY, .len = (uint32_t)n, .as.items = items};
    } else {
        members[6].value = (beast_value){.type = BEAST_TYPE_ARRAY, .len = 0, .as.items = NULL};
    }
    const char *stage = batch->decode_failed[i] ? "decode" : "sink";
    members[7].value =
        (beast_value){.type = BEAST_TYPE_STRING, .len = (uint32_t)strlen(stage), .as.str = stage};
    const char *error = batch->errors[i] ? batch->errors[i] : "unknown";
    members[8].value =
        (beast_value){.type = BEAST_TYPE_STRING, .len = (uint32_t)strlen(error), .as.str = error};
    row->value =
        (beast_value){.type = BEAST_TYPE_RECORD, .len = FIELD_COUNT, .as.members = members};
    row->message = meta;
    row->status = BEAST_ROW_PENDING;
    row->error = NULL;
    return 0;
}

/* Writes every ENTRY_DLQ entry to the DLQ, retrying until it is accepted.
 * The DLQ rows are built once, from the batch arena; a retry hands the same
 * rows (those not yet written) to the DLQ again, so memory stays flat however
 * long the DLQ fails. Returns 0, or -1 when abandoning or failed. */
static int write_to_dlq(host_pipeline *pipeline, host_batch *batch, unsigned *seed) {
    char errstr[1024];
    uint32_t count = 0;
    for (uint32_t i = 0; i < batch->count; i++) {
        if (batch->states[i] != ENTRY_DLQ)
            continue;
        if (build_dlq_row(batch, i, &batch->view[count]) != 0) {
            pipeline_fail(pipeline, "out of memory building DLQ rows");
            return -1;
        }
        batch->view_index[count++] = i;
    }
    for (uint32_t attempt = 0;; attempt++) {
        /* Keep the rows not yet written, in order, as pending. */
        uint32_t kept = 0;
        for (uint32_t v = 0; v < count; v++) {
            if (batch->states[batch->view_index[v]] != ENTRY_DLQ)
                continue;
            batch->view[kept] = batch->view[v];
            batch->view[kept].status = BEAST_ROW_PENDING;
            batch->view[kept].error = NULL;
            batch->view_index[kept++] = batch->view_index[v];
        }
        count = kept;
        if (count == 0)
            return 0;
        if (atomic_load(&pipeline->abandoning))
            return -1;
        beast_batch view = {.struct_size = sizeof(beast_batch),
                            .count = count,
                            .rows = batch->view,
                            .schema = NULL,
                            .arena = batch->arena,
                            .attempt = attempt};
        errstr[0] = '\0';
        beast_result result =
            call_sink(pipeline, &pipeline->dlq, &pipeline->dlq_lock,
                      pipeline->dlq.plugin->descriptor->flags & BEAST_FLAG_THREAD_SAFE, &view,
                      errstr, sizeof(errstr));
        uint32_t left = 0;
        for (uint32_t v = 0; v < count; v++) {
            uint32_t i = batch->view_index[v];
            if (batch->view[v].status == BEAST_ROW_DONE) {
                batch->states[i] = ENTRY_DONE;
                host_series_add(pipeline->dlq_rows, 1);
                host_log(BEAST_LOG_WARN, pipeline->dlq.prefix,
                         "dead-lettered %s/%d@%lld (stage %s): %s", batch->messages[i].topic,
                         (int)batch->messages[i].partition, (long long)batch->messages[i].offset,
                         batch->decode_failed[i] ? "decode" : "sink", batch->errors[i]);
            } else if (batch->view[v].status == BEAST_ROW_REJECT) {
                pipeline_fail(pipeline, "the DLQ refused %s/%d@%lld: %s", batch->messages[i].topic,
                              (int)batch->messages[i].partition,
                              (long long)batch->messages[i].offset,
                              batch->view[v].error ? batch->view[v].error : "rejected");
                return -1;
            } else {
                left++;
            }
        }
        if (result == BEAST_FATAL) {
            pipeline_fail(pipeline, "dlq: %s", errstr[0] ? errstr : "fatal error");
            return -1;
        }
        if (left == 0)
            return 0;
        int64_t delay = backoff_delay(pipeline, attempt, seed);
        host_log(BEAST_LOG_WARN, pipeline->dlq.prefix, "%u DLQ rows not written (%s); retrying",
                 left, errstr[0] ? errstr : "retriable");
        sleep_interruptible(pipeline, delay);
    }
}

static void *sink_main(void *arg) {
    host_pipeline *pipeline = arg;
    unsigned seed = (unsigned)host_monotonic_us() ^ (unsigned)(uintptr_t)&seed;
    for (;;) {
        pthread_mutex_lock(&pipeline->queue_lock);
        while (!pipeline->queue_head && pipeline->decoders_running > 0 &&
               !atomic_load(&pipeline->abandoning))
            pthread_cond_wait(&pipeline->queue_changed, &pipeline->queue_lock);
        host_batch *batch = pipeline->queue_head;
        if (batch) {
            pipeline->queue_head = batch->next;
            if (!pipeline->queue_head)
                pipeline->queue_tail = NULL;
        }
        pthread_mutex_unlock(&pipeline->queue_lock);
        if (!batch)
            break; /* decoders are done and the queue is empty, or abandoning */
        host_series_add(pipeline->depth_sink, -1);
        if (atomic_load(&pipeline->abandoning) || write_to_sink(pipeline, batch, &seed) != 0 ||
            write_to_dlq(pipeline, batch, &seed) != 0) {
            atomic_fetch_add(&pipeline->abandoned_messages, batch->count);
            batch_release(pipeline, batch);
            continue;
        }
        /* Every entry is DONE: in the table or in the DLQ. Ack them all. */
        for (uint32_t i = 0; i < batch->count; i++)
            host_track_ack(batch->entries[i].track, batch->entries[i].seq);
        host_histogram_observe(pipeline->batch_latency,
                               (double)(host_monotonic_us() - batch->first_us) / 1e6);
        batch_release(pipeline, batch);
    }
    pthread_mutex_lock(&pipeline->queue_lock);
    int last = --pipeline->sinks_running == 0;
    pthread_mutex_unlock(&pipeline->queue_lock);
    if (last)
        atomic_store(&pipeline->sinks_done, 1);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Decoder workers                                                         */
/* ---------------------------------------------------------------------- */

static void flush_batch(decoder_worker *worker) {
    if (worker->batch && worker->batch->count) {
        batch_submit(worker->pipeline, worker->batch);
        worker->batch = NULL;
    }
}

/* Decodes one message into the worker's batch. -1 when abandoning. */
static int decode_one(decoder_worker *worker, const inflight *item, unsigned *seed) {
    host_pipeline *pipeline = worker->pipeline;
    if (!worker->batch) {
        worker->batch = batch_take(pipeline);
        if (!worker->batch)
            return -1;
        worker->batch->first_us = host_monotonic_us();
    }
    host_batch *batch = worker->batch;
    uint32_t i = batch->count;
    const rd_kafka_message_t *message = item->message;
    beast_message *meta = &batch->messages[i];
    rd_kafka_timestamp_type_t timestamp_type;
    meta->topic = rd_kafka_topic_name(message->rkt);
    meta->partition = message->partition;
    meta->offset = message->offset;
    meta->timestamp_ms = rd_kafka_message_timestamp(message, &timestamp_type);
    meta->key = message->key;
    meta->key_len = message->key_len;
    meta->value = message->payload;
    meta->value_len = message->len;
    batch->entries[i] = *item;
    batch->rows[i] = (beast_row){.message = meta};
    batch->states[i] = ENTRY_SINK;
    batch->decode_failed[i] = 0;
    batch->errors[i] = NULL;

    const beast_decoder_ops *ops = pipeline->decoder.plugin->descriptor->decoder;
    char errstr[512];
    for (uint32_t attempt = 0;; attempt++) {
        errstr[0] = '\0';
        if (!pipeline->decoder_thread_safe)
            pthread_mutex_lock(&pipeline->decoder_lock);
        beast_result result = ops->decode(pipeline->decoder.ctx, meta, batch->arena,
                                          &batch->rows[i].value, errstr, sizeof(errstr));
        const beast_schema *schema = ops->schema(pipeline->decoder.ctx);
        if (!pipeline->decoder_thread_safe)
            pthread_mutex_unlock(&pipeline->decoder_lock);
        if (result == BEAST_OK) {
            batch->schema = schema;
            break;
        }
        if (result == BEAST_REJECT) {
            size_t length = strlen(errstr);
            char *copy = host_arena_alloc(batch->arena, length + 1);
            batch->errors[i] = copy ? memcpy(copy, errstr, length + 1) : "decode failed";
            batch->states[i] = ENTRY_DLQ;
            batch->decode_failed[i] = 1;
            host_series_add(pipeline->decode_errors, 1);
            break;
        }
        if (result == BEAST_FATAL) {
            pipeline_fail(pipeline, "decoder at %s/%d@%lld: %s", meta->topic, (int)meta->partition,
                          (long long)meta->offset, errstr);
            return -1;
        }
        if (atomic_load(&pipeline->abandoning))
            return -1;
        int64_t delay = backoff_delay(pipeline, attempt, seed);
        host_log(BEAST_LOG_WARN, pipeline->decoder.prefix, "%s/%d@%lld: %s; retry in %lld ms",
                 meta->topic, (int)meta->partition, (long long)meta->offset, errstr,
                 (long long)(delay / 1000));
        sleep_interruptible(pipeline, delay);
    }
    batch->count++;
    batch->bytes += message->len + message->key_len;
    if (batch->count >= pipeline->batch_rows || batch->bytes >= pipeline->batch_bytes)
        flush_batch(worker);
    return 0;
}

static void *decoder_main(void *arg) {
    decoder_worker *worker = arg;
    host_pipeline *pipeline = worker->pipeline;
    unsigned seed = (unsigned)host_monotonic_us() ^ (unsigned)worker->index;
    inflight items[64];
    int abandoned = 0;
    while (!abandoned) {
        uint32_t count = host_ring_dequeue_burst(&worker->ring, items, 64);
        if (count) {
            host_series_add(pipeline->depth_decode, -(int64_t)count);
            for (uint32_t i = 0; i < count; i++) {
                if (abandoned || decode_one(worker, &items[i], &seed) != 0) {
                    /* Not decoded, not acked: it will be consumed again. */
                    abandoned = 1;
                    rd_kafka_message_destroy(items[i].message);
                    atomic_fetch_add(&pipeline->abandoned_messages, 1);
                }
            }
            continue;
        }
        if (atomic_load(&pipeline->input_closed) && host_ring_count(&worker->ring) == 0)
            break;
        if (atomic_load(&pipeline->abandoning))
            break;
        int64_t now = host_monotonic_us();
        if (worker->batch && worker->batch->count &&
            now - worker->batch->first_us >= pipeline->linger_us) {
            flush_batch(worker);
            continue;
        }
        /* Sleep until the producer wakes us, the linger expires or 50 ms. */
        int64_t wait_us = 50000;
        if (worker->batch && worker->batch->count) {
            int64_t left = pipeline->linger_us - (now - worker->batch->first_us);
            if (left < wait_us)
                wait_us = left > 0 ? left : 0;
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += (long)(wait_us * 1000);
        deadline.tv_sec += deadline.tv_nsec / 1000000000;
        deadline.tv_nsec %= 1000000000;
        pthread_mutex_lock(&worker->lock);
        atomic_store(&worker->sleeping, 1); /* seq_cst: pairs with the producer's check */
        if (host_ring_count(&worker->ring) == 0 && !atomic_load(&pipeline->input_closed))
            pthread_cond_timedwait(&worker->wake, &worker->lock, &deadline);
        atomic_store(&worker->sleeping, 0);
        pthread_mutex_unlock(&worker->lock);
    }
    if (!abandoned && !atomic_load(&pipeline->abandoning))
        flush_batch(worker);
    if (worker->batch) { /* abandoned: its messages are not acked */
        atomic_fetch_add(&pipeline->abandoned_messages, worker->batch->count);
        batch_release(pipeline, worker->batch);
        worker->batch = NULL;
    }
    /* Whatever is left in the ring when abandoning is dropped unacked. */
    uint32_t count;
    while ((count = host_ring_dequeue_burst(&worker->ring, items, 64)) > 0)
        for (uint32_t i = 0; i < count; i++) {
            rd_kafka_message_destroy(items[i].message);
            atomic_fetch_add(&pipeline->abandoned_messages, 1);
        }
    pthread_mutex_lock(&pipeline->queue_lock);
    pipeline->decoders_running--;
    pthread_cond_broadcast(&pipeline->queue_changed);
    pthread_mutex_unlock(&pipeline->queue_lock);
    return NULL;
}

/* Wakes the worker if it sleeps. The consumer thread batches wake-ups: a
 * worker is woken once WAKE_BATCH messages wait for it, or when the consumer
 * is about to wait itself (wake_decoders), so a busy pipeline pays for one
 * futex wake-up and context switch per burst, not per message. */
#define WAKE_BATCH 64
static void wake_decoder(decoder_worker *worker) {
    worker->unsignalled = 0;
    if (atomic_load(&worker->sleeping)) {
        pthread_mutex_lock(&worker->lock);
        pthread_cond_signal(&worker->wake);
        pthread_mutex_unlock(&worker->lock);
    }
}

/* Wakes every worker with messages it was not woken for. */
static void wake_decoders(host_pipeline *pipeline) {
    for (int d = 0; d < pipeline->decoder_count; d++)
        if (pipeline->decoders[d].unsignalled)
            wake_decoder(&pipeline->decoders[d]);
}

/* ---------------------------------------------------------------------- */
/* Offsets: commit what is acknowledged                                    */
/* ---------------------------------------------------------------------- */

/* The per-partition gauge (0: committed offset, 1: lag), made on first use. */
static host_series *partition_series(host_pipeline *pipeline, host_track *track, int lag) {
    void **slot = lag ? &track->lag_series : &track->committed_series;
    if (!*slot) {
        char labels[512];
        snprintf(labels, sizeof(labels), "pipeline=\"%s\",topic=\"%s\",partition=\"%d\"",
                 pipeline->conf->name, track->topic, (int)track->partition);
        *slot =
            host_metric(lag ? "beast_consumer_lag" : "beast_committed_offset", HOST_GAUGE, labels);
    }
    return *slot;
}

/* Lag per assigned partition: the high watermark librdkafka last saw minus
 * what is committed (what a restart would resume from). No network calls.
 * @locality committer thread */
static void update_lag(host_pipeline *pipeline) {
    pthread_mutex_lock(&pipeline->commit_lock);
    pthread_mutex_lock(&pipeline->tracks.lock);
    for (host_track *track = pipeline->tracks.all; track; track = track->all_next) {
        if (!atomic_load(&track->assigned))
            continue;
        int64_t low = -1, high = -1;
        if (rd_kafka_get_watermark_offsets(pipeline->consumer, track->topic, track->partition, &low,
                                           &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        int64_t from = track->committed >= 0 ? track->committed : low;
        host_series_set(partition_series(pipeline, track, 1), high > from ? high - from : 0);
    }
    pthread_mutex_unlock(&pipeline->tracks.lock);
    pthread_mutex_unlock(&pipeline->commit_lock);
}

/* Commits, for every tracked partition that is assigned (or only the ones
 * in `only`, when given), the acknowledged next-offset if it moved.
 * @locality committer or consumer thread */
static int commit_acknowledged(host_pipeline *pipeline,
                               const rd_kafka_topic_partition_list_t *only) {
    int status = 0;
    pthread_mutex_lock(&pipeline->commit_lock);
    size_t capacity = 64, count = 0;
    beast_offset *offsets = malloc(capacity * sizeof(*offsets));
    host_track **tracks = malloc(capacity * sizeof(*tracks));
    pthread_mutex_lock(&pipeline->tracks.lock);
    for (host_track *track = pipeline->tracks.all; track && offsets && tracks;
         track = track->all_next) {
        if (!atomic_load(&track->assigned))
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, track->topic, track->partition))
            continue;
        int64_t next = host_track_advance(track);
        if (next < 0 || next <= track->committed)
            continue;
        if (count == capacity) {
            capacity *= 2;
            beast_offset *grown_offsets = realloc(offsets, capacity * sizeof(*offsets));
            host_track **grown_tracks = realloc(tracks, capacity * sizeof(*tracks));
            if (grown_offsets)
                offsets = grown_offsets;
            if (grown_tracks)
                tracks = grown_tracks;
            if (!grown_offsets || !grown_tracks)
                break;
        }
        offsets[count] = (beast_offset){track->topic, track->partition, next};
        tracks[count++] = track;
    }
    pthread_mutex_unlock(&pipeline->tracks.lock);
    if (count && offsets && tracks) {
        char errstr[512] = "";
        beast_result result = pipeline->offsets.plugin->descriptor->offsets->commit(
            pipeline->offsets.ctx, offsets, count, errstr, sizeof(errstr));
        if (result == BEAST_OK) {
            for (size_t i = 0; i < count; i++) {
                tracks[i]->committed = offsets[i].offset;
                host_series_set(partition_series(pipeline, tracks[i], 0), offsets[i].offset);
            }
            host_log(BEAST_LOG_DEBUG, pipeline->offsets.prefix, "committed %zu partitions", count);
        } else if (result == BEAST_FATAL) {
            pthread_mutex_unlock(&pipeline->commit_lock);
            free(offsets);
            free(tracks);
            pipeline_fail(pipeline, "offset store: %s", errstr);
            return -1;
        } else {
            status = -1;
            host_log(BEAST_LOG_WARN, pipeline->offsets.prefix,
                     only ? "commit of %zu revoked partitions failed (%s): the next owner "
                            "re-delivers from the previous commit (duplicates, no loss)"
                          : "commit of %zu partitions failed (%s); will retry",
                     count, errstr);
        }
    }
    free(offsets);
    free(tracks);
    pthread_mutex_unlock(&pipeline->commit_lock);
    return status;
}

static void *committer_main(void *arg) {
    host_pipeline *pipeline = arg;
    /* Readiness needs the sink to have answered: probe it once now, or
     * wait for the first successful write when it has no probe. */
    char errstr[512] = "";
    int probed = host_pipeline_probe_sink(pipeline, errstr, sizeof(errstr));
    if (probed > 0 || atomic_load(&pipeline->sink_answered)) {
        atomic_store(&pipeline->sink_answered, 1);
        update_ready(pipeline);
    } else if (probed < 0) {
        host_log(BEAST_LOG_WARN, pipeline->sink.prefix,
                 "probe: %s (not ready until a write succeeds)", errstr);
    }
    while (!atomic_load(&pipeline->finished) && !atomic_load(&pipeline->abandoning)) {
        sleep_interruptible(pipeline, pipeline->commit_interval_us);
        if (atomic_load(&pipeline->failed))
            break;
        commit_acknowledged(pipeline, NULL);
        update_lag(pipeline);
        if (atomic_load(&pipeline->sinks_done))
            break;
    }
    return NULL;
}

/* Offset-store operations for offsets_kafka (through the host API). */
static beast_result kafka_commit(void *owner, const beast_offset *offsets, size_t count,
                                 char *errstr, size_t errstr_size) {
    host_pipeline *pipeline = owner;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)count);
    for (size_t i = 0; i < count; i++)
        rd_kafka_topic_partition_list_add(list, offsets[i].topic, offsets[i].partition)->offset =
            offsets[i].offset;
    rd_kafka_resp_err_t err = rd_kafka_commit(pipeline->consumer, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return BEAST_OK;
    snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
    return err == RD_KAFKA_RESP_ERR__FATAL ? BEAST_FATAL : BEAST_RETRY;
}

static beast_result kafka_committed(void *owner, const char *topic, int32_t partition,
                                    int64_t *offset_out, char *errstr, size_t errstr_size) {
    host_pipeline *pipeline = owner;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(pipeline->consumer, list, 10000);
    *offset_out = err ? BEAST_OFFSET_NONE
                      : (list->elems[0].offset >= 0 ? list->elems[0].offset : BEAST_OFFSET_NONE);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return BEAST_RETRY;
    }
    return BEAST_OK;
}

/* ---------------------------------------------------------------------- */
/* Consumer thread                                                         */
/* ---------------------------------------------------------------------- */

/* Fetch wake-ups. librdkafka (< 2.2) stops fetching once its local queue
 * holds queued.min.messages or queued.max.messages.kbytes, and its broker
 * threads look again only at their next wake-up: an I/O event, an op, or a
 * fixed 1 s timeout. When beast is the slower side the queue fills, beast
 * drains it in a fraction of that second and then waits out the rest
 * (throughput about one prefetch cap per second; BENCHMARKS.md has the
 * profile). So the consumer thread watches the queue: once it was near a
 * threshold and has drained below half of it, the waker thread sends one
 * ListOffsets request to every broker that leads an assigned partition
 * (rd_kafka_offsets_for_times). The request is an op on each broker
 * thread's queue: the thread wakes, finds its partitions fetchable again
 * and fetches. It reads nothing and changes no position. */
#define QUEUE_FULL_PERMILLE 750
#define QUEUE_REFILL_PERMILLE 500

/* The queue's fill in permille of the nearer librdkafka threshold.
 * @locality consumer thread */
static int64_t queue_fill_permille(host_pipeline *pipeline) {
    int64_t length = (int64_t)rd_kafka_queue_length(pipeline->consumer_queue);
    int64_t by_count = length * 1000 / pipeline->queue_max_messages;
    int64_t by_bytes = (int64_t)((double)length * pipeline->mean_message_bytes * 1000.0 /
                                 (double)pipeline->queue_max_bytes);
    return by_count > by_bytes ? by_count : by_bytes;
}

/* Called by the consumer thread every WAKE_CHECK_POLLS messages and when
 * the queue is empty; asks the waker thread for a wake-up when the queue
 * drained from near full to below half.
 * @locality consumer thread */
#define WAKE_CHECK_POLLS 64
static void check_fetch_queue(host_pipeline *pipeline) {
    pipeline->polls_since_check = 0;
    if (pipeline->paused)
        return;
    int64_t fill = queue_fill_permille(pipeline);
    if (fill >= QUEUE_FULL_PERMILLE) {
        pipeline->queue_was_full = 1;
    } else if (pipeline->queue_was_full && fill <= QUEUE_REFILL_PERMILLE) {
        pipeline->queue_was_full = 0;
        pthread_mutex_lock(&pipeline->waker_lock);
        pipeline->wake_requested = 1;
        pthread_cond_signal(&pipeline->waker_cond);
        pthread_mutex_unlock(&pipeline->waker_lock);
    }
}

/* Ends when the consumer stops fetching (input_closed); the consumer
 * thread joins it before it closes the consumer.
 * @locality waker thread */
static void *fetch_waker_main(void *arg) {
    host_pipeline *pipeline = arg;
    for (;;) {
        pthread_mutex_lock(&pipeline->waker_lock);
        /* The consumer thread signals under waker_lock after a request and
         * after setting input_closed, so no wake-up is missed. */
        while (!pipeline->wake_requested && !atomic_load(&pipeline->input_closed))
            pthread_cond_wait(&pipeline->waker_cond, &pipeline->waker_lock);
        pipeline->wake_requested = 0;
        pthread_mutex_unlock(&pipeline->waker_lock);
        if (atomic_load(&pipeline->input_closed))
            break;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(64);
        pthread_mutex_lock(&pipeline->tracks.lock);
        for (host_track *track = pipeline->tracks.all; track; track = track->all_next)
            if (atomic_load(&track->assigned))
                rd_kafka_topic_partition_list_add(list, track->topic, track->partition)->offset =
                    RD_KAFKA_OFFSET_END; /* as a timestamp: "latest" */
        pthread_mutex_unlock(&pipeline->tracks.lock);
        if (list->cnt) {
            rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(pipeline->consumer, list, 1000);
            host_series_add(pipeline->fetch_wakeups, 1);
            if (err)
                host_log(BEAST_LOG_DEBUG, pipeline->conf->name, "fetch wake-up: %s",
                         rd_kafka_err2str(err));
        }
        rd_kafka_topic_partition_list_destroy(list);
    }
    return NULL;
}

static decoder_worker *decoder_for(host_pipeline *pipeline, const char *topic, int32_t partition) {
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
        hash = (hash ^ *p) * 16777619u;
    hash = (hash ^ (uint32_t)partition) * 16777619u;
    return &pipeline->decoders[hash % (uint32_t)pipeline->decoder_count];
}

/* Registers and enqueues one message. 0 ok; -1 when it must wait. */
static int hand_on(host_pipeline *pipeline, inflight *item) {
    rd_kafka_message_t *message = item->message;
    const char *topic = rd_kafka_topic_name(message->rkt);
    if (!item->track) {
        item->track = host_track_find(&pipeline->tracks, topic, message->partition, 0);
        if (!item->track || !atomic_load(&item->track->assigned)) {
            /* Not (or no longer) ours: drop without ack; its owner reads it. */
            rd_kafka_message_destroy(message);
            return 0;
        }
    }
    decoder_worker *worker = decoder_for(pipeline, topic, message->partition);
    if (host_ring_count(&worker->ring) >= host_ring_capacity(&worker->ring))
        return -1;
    if (host_track_register(item->track, message->offset, &item->seq) != 0)
        return -1;
    uint32_t pushed = host_ring_enqueue_burst(&worker->ring, item, 1);
    (void)pushed; /* single producer: the space checked above is still there */
    host_series_add(pipeline->depth_decode, 1);
    if (++worker->unsignalled >= WAKE_BATCH)
        wake_decoder(worker);
    return 0;
}

static int pending_push(host_pipeline *pipeline, rd_kafka_message_t *message) {
    if (pipeline->pending_count == pipeline->pending_capacity) {
        size_t capacity = pipeline->pending_capacity ? pipeline->pending_capacity * 2 : 1024;
        inflight *grown = malloc(capacity * sizeof(*grown));
        if (!grown)
            return -1;
        for (size_t i = 0; i < pipeline->pending_count; i++)
            grown[i] = pipeline->pending[(pipeline->pending_head + i) % pipeline->pending_capacity];
        free(pipeline->pending);
        pipeline->pending = grown;
        pipeline->pending_head = 0;
        pipeline->pending_capacity = capacity;
    }
    pipeline
        ->pending[(pipeline->pending_head + pipeline->pending_count) % pipeline->pending_capacity] =
        (inflight){message, NULL, 0};
    pipeline->pending_count++;
    return 0;
}

static void set_paused(host_pipeline *pipeline, int paused) {
    if (pipeline->paused == paused)
        return;
    rd_kafka_topic_partition_list_t *assignment = NULL;
    if (rd_kafka_assignment(pipeline->consumer, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        assignment) {
        if (paused)
            rd_kafka_pause_partitions(pipeline->consumer, assignment);
        else
            rd_kafka_resume_partitions(pipeline->consumer, assignment);
        rd_kafka_topic_partition_list_destroy(assignment);
    }
    pipeline->paused = paused;
    host_series_set(pipeline->paused_gauge, paused);
    host_log(BEAST_LOG_DEBUG, pipeline->conf->name, "%s consumption",
             paused ? "paused" : "resumed");
}

/* Marks the start or end of a stall (a hand-off that had to wait). */
static void set_stalled(host_pipeline *pipeline, int stalled) {
    if (stalled && !pipeline->stalled_since) {
        pipeline->stalled_since = host_monotonic_us();
        host_series_set(pipeline->backpressure_gauge, 1);
    } else if (!stalled && pipeline->stalled_since) {
        pipeline->stalled_since = 0;
        host_series_set(pipeline->backpressure_gauge, 0);
    }
}

/* Hands on pending messages in order; returns 1 when none are left. */
static int drain_pending(host_pipeline *pipeline) {
    while (pipeline->pending_count) {
        inflight *item = &pipeline->pending[pipeline->pending_head];
        if (hand_on(pipeline, item) != 0)
            return 0;
        pipeline->pending_head = (pipeline->pending_head + 1) % pipeline->pending_capacity;
        pipeline->pending_count--;
    }
    return 1;
}

static void drop_pending(host_pipeline *pipeline, const rd_kafka_topic_partition_list_t *only) {
    size_t kept = 0;
    for (size_t i = 0; i < pipeline->pending_count; i++) {
        inflight item =
            pipeline->pending[(pipeline->pending_head + i) % pipeline->pending_capacity];
        if (!only || rd_kafka_topic_partition_list_find(
                         only, rd_kafka_topic_name(item.message->rkt), item.message->partition)) {
            rd_kafka_message_destroy(item.message); /* never registered: consumed again later */
            continue;
        }
        pipeline->pending[(pipeline->pending_head + kept) % pipeline->pending_capacity] = item;
        kept++;
    }
    pipeline->pending_count = kept;
}

static void on_assign(host_pipeline *pipeline, rd_kafka_topic_partition_list_t *partitions) {
    pthread_mutex_lock(&pipeline->commit_lock);
    for (int i = 0; i < partitions->cnt; i++) {
        rd_kafka_topic_partition_t *partition = &partitions->elems[i];
        host_track *track =
            host_track_find(&pipeline->tracks, partition->topic, partition->partition, 1);
        if (!track) {
            pthread_mutex_unlock(&pipeline->commit_lock);
            pipeline_fail(pipeline, "out of memory tracking %s/%d", partition->topic,
                          (int)partition->partition);
            return;
        }
        host_track_reset(track);
        char errstr[512] = "";
        int64_t stored = BEAST_OFFSET_NONE;
        beast_result result = pipeline->offsets.plugin->descriptor->offsets->load(
            pipeline->offsets.ctx, partition->topic, partition->partition, &stored, errstr,
            sizeof(errstr));
        if (result != BEAST_OK) {
            pthread_mutex_unlock(&pipeline->commit_lock);
            pipeline_fail(pipeline, "offset store cannot load %s/%d: %s", partition->topic,
                          (int)partition->partition, errstr);
            return;
        }
        if (stored != BEAST_OFFSET_NONE) {
            partition->offset = stored;
            track->committed = stored;
        }
        atomic_store(&track->assigned, 1);
    }
    pthread_mutex_unlock(&pipeline->commit_lock);
    host_log(BEAST_LOG_INFO, pipeline->conf->name, "assigned %d partitions", partitions->cnt);
    atomic_store(&pipeline->assigned_once, 1);
    update_ready(pipeline);
}

/* Waits (bounded) for the revoked partitions' in-flight messages, then
 * commits what was acknowledged and stops tracking them. */
static void on_revoke(host_pipeline *pipeline, rd_kafka_topic_partition_list_t *partitions,
                      int lost) {
    drop_pending(pipeline, partitions);
    wake_decoders(pipeline); /* what is in the rings must drain now */
    int64_t deadline = host_monotonic_us() + pipeline->rebalance_drain_us;
    while (!lost && !atomic_load(&pipeline->abandoning)) {
        uint32_t inflight_count = 0;
        pthread_mutex_lock(&pipeline->commit_lock);
        for (int i = 0; i < partitions->cnt; i++) {
            host_track *track = host_track_find(&pipeline->tracks, partitions->elems[i].topic,
                                                partitions->elems[i].partition, 0);
            if (track && atomic_load(&track->assigned)) {
                host_track_advance(track);
                inflight_count += host_track_inflight(track);
            }
        }
        pthread_mutex_unlock(&pipeline->commit_lock);
        if (inflight_count == 0 || host_monotonic_us() >= deadline) {
            if (inflight_count)
                host_log(BEAST_LOG_WARN, pipeline->conf->name,
                         "revoke: %u messages still in flight after %lld ms; committing what is "
                         "acknowledged, the rest will be consumed again by the new owner",
                         inflight_count, (long long)(pipeline->rebalance_drain_us / 1000));
            break;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (!lost)
        commit_acknowledged(pipeline, partitions);
    pthread_mutex_lock(&pipeline->commit_lock);
    for (int i = 0; i < partitions->cnt; i++) {
        host_track *track = host_track_find(&pipeline->tracks, partitions->elems[i].topic,
                                            partitions->elems[i].partition, 0);
        if (track)
            atomic_store(&track->assigned, 0);
    }
    pthread_mutex_unlock(&pipeline->commit_lock);
    host_log(BEAST_LOG_INFO, pipeline->conf->name, "%s %d partitions", lost ? "lost" : "revoked",
             partitions->cnt);
}

static void rebalance_callback(rd_kafka_t *consumer, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *partitions, void *opaque) {
    host_pipeline *pipeline = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(consumer), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(pipeline, partitions);
        if (cooperative) {
            rd_kafka_error_t *error = rd_kafka_incremental_assign(consumer, partitions);
            if (error) {
                host_log(BEAST_LOG_ERROR, pipeline->conf->name, "incremental assign: %s",
                         rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
            }
        } else {
            rd_kafka_assign(consumer, partitions);
        }
        if (pipeline->paused)
            rd_kafka_pause_partitions(consumer, partitions);
    } else {
        on_revoke(pipeline, partitions, rd_kafka_assignment_lost(consumer));
        if (cooperative) {
            rd_kafka_error_t *error = rd_kafka_incremental_unassign(consumer, partitions);
            if (error)
                rd_kafka_error_destroy(error);
        } else {
            rd_kafka_assign(consumer, NULL);
        }
    }
}

static void error_callback(rd_kafka_t *consumer, int err, const char *reason, void *opaque) {
    host_pipeline *pipeline = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(consumer, why, sizeof(why));
        pipeline_fail(pipeline, "kafka fatal error: %s", why);
        return;
    }
    host_log(err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ? BEAST_LOG_WARN : BEAST_LOG_DEBUG,
             pipeline->conf->name, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void *consumer_main(void *arg) {
    host_pipeline *pipeline = arg;
    rd_kafka_t *consumer = pipeline->consumer;
    int64_t last_error_log = 0;
    while (!atomic_load(&pipeline->stopping)) {
        if (pipeline->pending_count && drain_pending(pipeline))
            set_stalled(pipeline, 0);
        if (pipeline->pending_count && !pipeline->paused) {
            /* Backpressure. Pausing makes librdkafka drop what it has
             * prefetched and refetch it after the resume, so first just
             * wait for room without polling; only a stall longer than
             * pause_after_ms (a slow or dead sink) pauses the partitions,
             * and then the loop keeps polling to stay in the group. */
            set_stalled(pipeline, 1);
            wake_decoders(pipeline);
            if (host_monotonic_us() - pipeline->stalled_since < pipeline->pause_after_us) {
                struct timespec pause = {0, 1000 * 1000};
                nanosleep(&pause, NULL);
                continue;
            }
            set_paused(pipeline, 1);
        }
        if (pipeline->paused && !pipeline->pending_count) {
            /* Resume once the rings have room again (hysteresis: half). */
            int room = 1;
            for (int d = 0; d < pipeline->decoder_count; d++)
                room &= host_ring_count(&pipeline->decoders[d].ring) <=
                        host_ring_capacity(&pipeline->decoders[d].ring) / 2;
            if (room)
                set_paused(pipeline, 0);
        }
        /* Take what is ready without waiting; wake the decoders before
         * waiting for more. */
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 0);
        if (!message) {
            check_fetch_queue(pipeline);
            wake_decoders(pipeline);
            message = rd_kafka_consumer_poll(consumer, pipeline->paused ? 10 : 100);
        }
        if (!message)
            continue;
        if (++pipeline->polls_since_check >= WAKE_CHECK_POLLS)
            check_fetch_queue(pipeline);
        if (message->err) {
            if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                host_monotonic_us() - last_error_log > 5000000) {
                host_log(BEAST_LOG_WARN, pipeline->conf->name, "consumer: %s",
                         rd_kafka_message_errstr(message));
                last_error_log = host_monotonic_us();
            }
            rd_kafka_message_destroy(message);
            continue;
        }
        host_series_add(pipeline->consumed, 1);
        pipeline->mean_message_bytes +=
            ((double)message->len - pipeline->mean_message_bytes) / 256.0;
        inflight item = {message, NULL, 0};
        if (pipeline->pending_count || hand_on(pipeline, &item) != 0) {
            if (pending_push(pipeline, message) != 0) {
                pipeline_fail(pipeline, "out of memory queueing messages");
                rd_kafka_message_destroy(message);
                break;
            }
            set_stalled(pipeline, 1);
        }
    }
    /* Stop fetching; what was never handed on is consumed again later. */
    set_paused(pipeline, 1);
    drop_pending(pipeline, NULL);
    atomic_store(&pipeline->input_closed, 1);
    pthread_mutex_lock(&pipeline->waker_lock);
    pthread_cond_signal(&pipeline->waker_cond);
    pthread_mutex_unlock(&pipeline->waker_lock);
    pthread_join(pipeline->waker_thread, NULL);
    for (int d = 0; d < pipeline->decoder_count; d++) {
        pthread_mutex_lock(&pipeline->decoders[d].lock);
        pthread_cond_signal(&pipeline->decoders[d].wake);
        pthread_mutex_unlock(&pipeline->decoders[d].lock);
    }
    /* Keep serving the group while the rest drains. */
    while (!atomic_load(&pipeline->sinks_done) && !atomic_load(&pipeline->abandoning)) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 50);
        if (message)
            rd_kafka_message_destroy(message);
    }
    /* Acknowledged means written: committing it is right even after a
     * failure. Retry until it goes through or the shutdown deadline makes
     * the main thread abandon; then say what it means. */
    while (commit_acknowledged(pipeline, NULL) != 0) {
        if (atomic_load(&pipeline->abandoning)) {
            atomic_store(&pipeline->final_commit_failed, 1);
            host_log(BEAST_LOG_ERROR, pipeline->conf->name,
                     "final commit failed: rows already written will be consumed and written "
                     "again after a restart (duplicates, no loss)");
            break;
        }
        sleep_interruptible(pipeline, 200000);
    }
    if (atomic_load(&pipeline->final_commit_failed)) {
        /* The group coordinator is unreachable: a close handshake would
         * only wait for it. */
        pipeline->skip_close = 1;
    } else if (!atomic_load(&pipeline->assigned_once) &&
               strcmp(rd_kafka_rebalance_protocol(consumer), "COOPERATIVE") == 0) {
        /* librdkafka < 2.3 asserts when a cooperative-sticky consumer is
         * closed before its first assignment (librdkafka issue 4312). With
         * nothing assigned there is nothing to commit or revoke: destroy
         * without the close handshake; the group drops the member. */
        pipeline->skip_close = 1;
    } else {
        rd_kafka_consumer_close(consumer);
    }
    atomic_store(&pipeline->consumer_done, 1);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */
/* ---------------------------------------------------------------------- */

static int init_instance(host_pipeline *pipeline, beast_instance *instance, const host_block *block,
                         const char *data_dir, char *errstr, size_t errstr_size) {
    return host_instance_init(instance, block->plugin, &block->options, pipeline->conf->name,
                              data_dir, errstr, errstr_size);
}

host_pipeline *host_pipeline_create(const host_pipeline_conf *conf, const char *data_dir,
                                    char *errstr, size_t errstr_size) {
    host_pipeline *pipeline = calloc(1, sizeof(*pipeline));
    if (!pipeline) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pipeline->conf = conf;
    pthread_mutex_init(&pipeline->sink_lock, NULL);
    pthread_mutex_init(&pipeline->decoder_lock, NULL);
    pthread_mutex_init(&pipeline->dlq_lock, NULL);
    pipeline->offsets.owner = pipeline;
    pipeline->offsets.commit = kafka_commit;
    pipeline->offsets.committed = kafka_committed;
    if (init_instance(pipeline, &pipeline->decoder, &conf->decoder, data_dir, errstr,
                      errstr_size) != 0)
        goto fail;
    if (init_instance(pipeline, &pipeline->sink, &conf->sink, data_dir, errstr, errstr_size) != 0)
        goto fail;
    if (init_instance(pipeline, &pipeline->dlq, &conf->dlq, data_dir, errstr, errstr_size) != 0)
        goto fail;
    pipeline->dlq.metadata_columns = 0; /* DLQ rows carry their own fields */
    if (init_instance(pipeline, &pipeline->offsets, &conf->offsets, data_dir, errstr,
                      errstr_size) != 0)
        goto fail;
    pipeline->sink_thread_safe =
        (conf->sink.plugin->descriptor->flags & BEAST_FLAG_THREAD_SAFE) != 0;
    pipeline->decoder_thread_safe =
        (conf->decoder.plugin->descriptor->flags & BEAST_FLAG_THREAD_SAFE) != 0;
    return pipeline;
fail:
    host_instance_destroy(&pipeline->offsets);
    host_instance_destroy(&pipeline->dlq);
    host_instance_destroy(&pipeline->sink);
    host_instance_destroy(&pipeline->decoder);
    free(pipeline);
    return NULL;
}

static void make_series(host_pipeline *pipeline) {
    char labels[256];
    snprintf(labels, sizeof(labels), "pipeline=\"%s\"", pipeline->conf->name);
    pipeline->consumed = host_metric("beast_messages_consumed_total", HOST_COUNTER, labels);
    pipeline->written = host_metric("beast_rows_written_total", HOST_COUNTER, labels);
    pipeline->dlq_rows = host_metric("beast_rows_dlq_total", HOST_COUNTER, labels);
    pipeline->decode_errors = host_metric("beast_decode_errors_total", HOST_COUNTER, labels);
    pipeline->retries = host_metric("beast_sink_retries_total", HOST_COUNTER, labels);
    pipeline->paused_gauge = host_metric("beast_consumer_paused", HOST_GAUGE, labels);
    pipeline->backpressure_gauge = host_metric("beast_backpressure", HOST_GAUGE, labels);
    pipeline->fetch_wakeups = host_metric("beast_fetch_wakeups_total", HOST_COUNTER, labels);
    pipeline->batch_latency = host_histogram_get("beast_batch_latency_seconds", labels);
    char more[320];
    snprintf(more, sizeof(more), "%s,code=\"ok\"", labels);
    pipeline->sink_ok = host_metric("beast_sink_requests_total", HOST_COUNTER, more);
    snprintf(more, sizeof(more), "%s,code=\"retry\"", labels);
    pipeline->sink_retry = host_metric("beast_sink_requests_total", HOST_COUNTER, more);
    snprintf(more, sizeof(more), "%s,stage=\"decode\"", labels);
    pipeline->depth_decode = host_metric("beast_queue_depth", HOST_GAUGE, more);
    snprintf(more, sizeof(more), "%s,stage=\"sink\"", labels);
    pipeline->depth_sink = host_metric("beast_queue_depth", HOST_GAUGE, more);
}

/* An integer librdkafka property as applied, at least `minimum`. */
static int64_t conf_int64(const rd_kafka_conf_t *conf, const char *name, int64_t minimum) {
    char value[64];
    size_t size = sizeof(value);
    int64_t number = 0;
    if (rd_kafka_conf_get(conf, name, value, &size) == RD_KAFKA_CONF_OK)
        number = strtoll(value, NULL, 10);
    return number > minimum ? number : minimum;
}

static rd_kafka_t *create_consumer(host_pipeline *pipeline, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kafka_conf = rd_kafka_conf_new();
    const host_pipeline_conf *conf = pipeline->conf;
    /* beast's defaults first; the user's properties may override them.
     * The prefetch is capped at 16 MB; fetches of at most a quarter of it
     * and a 100 ms fetch wait keep it flowing: with librdkafka 2.0.2's
     * 50 MB fetches one response overshoots the cap and the fetcher stalls
     * until its next serve timeout (measured with tests/bench/drain: 250k ->
     * 700k msgs/s of 480-byte messages; BENCHMARKS.md has the profile). */
    static const char *const defaults[][2] = {
        {"enable.auto.commit", "false"},   {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"}, {"queued.max.messages.kbytes", "16384"},
        {"fetch.max.bytes", "4194304"},    {"fetch.wait.max.ms", "100"},
        {"enable.partition.eof", "false"}};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(kafka_conf, defaults[i][0], defaults[i][1], NULL, 0);
    if (rd_kafka_conf_set(kafka_conf, "group.id", conf->group_id, errstr, errstr_size) !=
        RD_KAFKA_CONF_OK)
        goto fail;
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "beast-%s", conf->name);
    rd_kafka_conf_set(kafka_conf, "client.id", client_id, NULL, 0);
    for (size_t i = 0; i < conf->kafka.count; i++)
        if (rd_kafka_conf_set(kafka_conf, conf->kafka.items[i].name, conf->kafka.items[i].value,
                              errstr, errstr_size) != RD_KAFKA_CONF_OK)
            goto fail;
    rd_kafka_conf_set_opaque(kafka_conf, pipeline);
    rd_kafka_conf_set_rebalance_cb(kafka_conf, rebalance_callback);
    rd_kafka_conf_set_error_cb(kafka_conf, error_callback);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kafka_conf, errstr, errstr_size);
    if (!consumer)
        return NULL; /* rd_kafka_new destroyed nothing it was not given */
    rd_kafka_poll_set_consumer(consumer);
    pipeline->consumer_queue = rd_kafka_queue_get_consumer(consumer);
    /* The thresholds at which librdkafka stops prefetching (as set, with
     * the user's properties applied): check_fetch_queue measures against
     * them. */
    const rd_kafka_conf_t *applied = rd_kafka_conf(consumer);
    pipeline->queue_max_messages = conf_int64(applied, "queued.min.messages", 1);
    pipeline->queue_max_bytes = conf_int64(applied, "queued.max.messages.kbytes", 1) * 1024;
    return consumer;
fail:
    rd_kafka_conf_destroy(kafka_conf);
    return NULL;
}

int host_pipeline_start(host_pipeline *pipeline, char *errstr, size_t errstr_size) {
    const host_pipeline_conf *conf = pipeline->conf;
    const beast_config *settings = &conf->settings;
    const beast_config *sink = &conf->sink.options;
    pipeline->batch_rows = (uint32_t)host_config_int(sink, "batch_rows");
    pipeline->batch_bytes = (size_t)host_config_int(sink, "batch_bytes");
    pipeline->linger_us = host_config_int(sink, "linger_ms") * 1000;
    pipeline->backoff_us = host_config_int(sink, "retry_backoff_ms") * 1000;
    pipeline->backoff_max_us = host_config_int(sink, "retry_backoff_max_ms") * 1000;
    pipeline->commit_interval_us = host_config_int(settings, "commit_interval_ms") * 1000;
    pipeline->rebalance_drain_us = host_config_int(settings, "rebalance_drain_ms") * 1000;
    pipeline->pause_after_us = host_config_int(settings, "pause_after_ms") * 1000;
    pipeline->decoder_count = (int)host_config_int(settings, "decoder_workers");
    pipeline->sink_count = (int)host_config_int(sink, "workers");
    make_series(pipeline);

    pthread_mutex_init(&pipeline->commit_lock, NULL);
    pthread_mutex_init(&pipeline->queue_lock, NULL);
    pthread_cond_init(&pipeline->queue_changed, NULL);
    pthread_mutex_init(&pipeline->wait_lock, NULL);
    pthread_cond_init(&pipeline->wait_cond, NULL);
    pthread_mutex_init(&pipeline->waker_lock, NULL);
    pthread_cond_init(&pipeline->waker_cond, NULL);
    if (host_track_table_init(&pipeline->tracks,
                              (uint32_t)host_config_int(settings, "max_inflight_per_partition")) !=
        0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* Enough batches that every sink worker has one in flight and one
     * queued, and every decoder one filling. */
    pipeline->batch_total = pipeline->sink_count * 2 + pipeline->decoder_count;
    for (int i = 0; i < pipeline->batch_total; i++) {
        host_batch *batch = batch_create(pipeline->batch_rows);
        if (!batch) {
            snprintf(errstr, errstr_size, "out of memory allocating batches");
            return -1;
        }
        batch->next = pipeline->free_batches;
        pipeline->free_batches = batch;
    }
    pipeline->consumer = create_consumer(pipeline, errstr, errstr_size);
    if (!pipeline->consumer)
        return -1;
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)conf->topic_count);
    for (size_t i = 0; i < conf->topic_count; i++)
        rd_kafka_topic_partition_list_add(topics, conf->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(pipeline->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }

    pipeline->decoders = calloc((size_t)pipeline->decoder_count, sizeof(*pipeline->decoders));
    pipeline->sink_threads = calloc((size_t)pipeline->sink_count, sizeof(pthread_t));
    if (!pipeline->decoders || !pipeline->sink_threads) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    uint32_t queue_size = (uint32_t)host_config_int(settings, "queue_size");
    pipeline->decoders_running = pipeline->decoder_count;
    pipeline->sinks_running = pipeline->sink_count;
    for (int d = 0; d < pipeline->decoder_count; d++) {
        decoder_worker *worker = &pipeline->decoders[d];
        worker->pipeline = pipeline;
        worker->index = d;
        pthread_mutex_init(&worker->lock, NULL);
        pthread_cond_init(&worker->wake, NULL);
        if (host_ring_init(&worker->ring, queue_size, sizeof(inflight)) != 0) {
            snprintf(errstr, errstr_size, "out of memory allocating rings");
            return -1;
        }
    }
    /* Thread names (top -H, perf, gdb): what each thread does. */
    char name[16]; /* pthread names: 15 characters at most */
    for (int d = 0; d < pipeline->decoder_count; d++) {
        pthread_create(&pipeline->decoders[d].thread, NULL, decoder_main, &pipeline->decoders[d]);
        snprintf(name, sizeof(name), "decode-%d", d % 1000);
        pthread_setname_np(pipeline->decoders[d].thread, name);
    }
    for (int s = 0; s < pipeline->sink_count; s++) {
        pthread_create(&pipeline->sink_threads[s], NULL, sink_main, pipeline);
        snprintf(name, sizeof(name), "sink-%d", s % 1000);
        pthread_setname_np(pipeline->sink_threads[s], name);
    }
    pthread_create(&pipeline->committer_thread, NULL, committer_main, pipeline);
    pthread_setname_np(pipeline->committer_thread, "commit");
    pthread_create(&pipeline->waker_thread, NULL, fetch_waker_main, pipeline);
    pthread_setname_np(pipeline->waker_thread, "fetch-waker");
    pthread_create(&pipeline->consumer_thread, NULL, consumer_main, pipeline);
    pthread_setname_np(pipeline->consumer_thread, "consume");
    pipeline->threads_started = 1;
    host_log(BEAST_LOG_INFO, conf->name,
             "started: group %s, %zu topic(s), decoder %s, sink %s, offsets %s, %d decoder / %d "
             "sink workers",
             conf->group_id, conf->topic_count, conf->decoder.plugin->descriptor->name,
             conf->sink.plugin->descriptor->name, conf->offsets.plugin->descriptor->name,
             pipeline->decoder_count, pipeline->sink_count);
    return 0;
}

void host_pipeline_stop(host_pipeline *pipeline) { atomic_store(&pipeline->stopping, 1); }

void host_pipeline_abandon(host_pipeline *pipeline) {
    atomic_store(&pipeline->stopping, 1);
    atomic_store(&pipeline->abandoning, 1);
    pthread_mutex_lock(&pipeline->wait_lock);
    pthread_cond_broadcast(&pipeline->wait_cond);
    pthread_mutex_unlock(&pipeline->wait_lock);
    pthread_mutex_lock(&pipeline->queue_lock);
    pthread_cond_broadcast(&pipeline->queue_changed);
    pthread_mutex_unlock(&pipeline->queue_lock);
}

int host_pipeline_finished(host_pipeline *pipeline) {
    /* The consumer thread ends last: after the sinks, the final commit and
     * the consumer close (or after giving up on them when abandoning). */
    return !pipeline->threads_started || atomic_load(&pipeline->consumer_done);
}

int host_pipeline_probe_sink(host_pipeline *pipeline, char *errstr, size_t errstr_size) {
    const beast_sink_ops *ops = pipeline->sink.plugin->descriptor->sink;
    if (!BEAST_HAS_FIELD(ops, beast_sink_ops, probe) || !ops->probe)
        return 0;
    if (!pipeline->sink_thread_safe)
        pthread_mutex_lock(&pipeline->sink_lock);
    beast_result result = ops->probe(pipeline->sink.ctx, errstr, errstr_size);
    if (!pipeline->sink_thread_safe)
        pthread_mutex_unlock(&pipeline->sink_lock);
    return result == BEAST_OK ? 1 : -1;
}

int host_pipeline_failed(host_pipeline *pipeline) {
    return atomic_load(&pipeline->failed) || atomic_load(&pipeline->final_commit_failed);
}

uint64_t host_pipeline_destroy(host_pipeline *pipeline) {
    if (pipeline->threads_started) {
        atomic_store(&pipeline->stopping, 1);
        pthread_join(pipeline->consumer_thread, NULL);
        for (int d = 0; d < pipeline->decoder_count; d++)
            pthread_join(pipeline->decoders[d].thread, NULL);
        for (int s = 0; s < pipeline->sink_count; s++)
            pthread_join(pipeline->sink_threads[s], NULL);
        atomic_store(&pipeline->finished, 1);
        host_pipeline_abandon(pipeline); /* wakes the committer */
        pthread_join(pipeline->committer_thread, NULL);
    }
    if (pipeline->consumer_queue)
        rd_kafka_queue_destroy(pipeline->consumer_queue);
    if (pipeline->consumer)
        rd_kafka_destroy_flags(pipeline->consumer,
                               pipeline->skip_close ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
    /* Batches still queued were abandoned. */
    for (host_batch *batch = pipeline->queue_head; batch;) {
        host_batch *next = batch->next;
        atomic_fetch_add(&pipeline->abandoned_messages, batch->count);
        for (uint32_t i = 0; i < batch->count; i++)
            rd_kafka_message_destroy(batch->entries[i].message);
        batch_destroy(batch);
        batch = next;
    }
    for (host_batch *batch = pipeline->free_batches; batch;) {
        host_batch *next = batch->next;
        batch_destroy(batch);
        batch = next;
    }
    for (int d = 0; pipeline->decoders && d < pipeline->decoder_count; d++) {
        host_ring_destroy(&pipeline->decoders[d].ring);
        pthread_mutex_destroy(&pipeline->decoders[d].lock);
        pthread_cond_destroy(&pipeline->decoders[d].wake);
    }
    free(pipeline->decoders);
    free(pipeline->sink_threads);
    free(pipeline->pending);
    host_track_table_destroy(&pipeline->tracks);
    host_instance_destroy(&pipeline->offsets);
    host_instance_destroy(&pipeline->dlq);
    host_instance_destroy(&pipeline->sink);
    host_instance_destroy(&pipeline->decoder);
    uint64_t abandoned = atomic_load(&pipeline->abandoned_messages);
    free(pipeline);
    return abandoned;
}
