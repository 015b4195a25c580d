/*
 * beast-load: produces N synthetic events to a Kafka topic as fast as it can
 * (or at --rate msg/s), for tests, the demo and benchmarks. Message i goes to
 * partition i % P with key "k<i>", so every partition gets an equal share; the
 * payload comes from the chosen format (payload.h). --invalid-every N makes
 * every Nth message one the decoder must refuse (and marks it with a header);
 * --headers gives every message Kafka headers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "../common/kafka_properties.h"

#include "payload.h"

/* Messages handed to librdkafka per produce_batch() round (over all partitions). */
#define LOAD_BLOCK_MESSAGES 16384
/* Payload bytes generated per round, at most (bounds memory for big --size). */
#define LOAD_BLOCK_BYTES (16 * 1024 * 1024)
/*
 * At most this many messages, and about this many payload bytes, are in
 * librdkafka's queue or in flight at once (never less than one round). A
 * small working set lets malloc reuse the memory of delivered messages
 * instead of faulting in new pages, and still holds ~100 ms of messages.
 */
#define LOAD_QUEUE_MESSAGES 250000
#define LOAD_QUEUE_BYTES (64 * 1024 * 1024)
#define LOAD_METADATA_TIMEOUT_MS 10000
#define LOAD_MAX_PROPERTIES 64
/* Bytes reserved per key: "k" + up to 20 digits + NUL. */
#define LOAD_KEY_STRIDE 24

typedef struct load_args {
    const char *brokers;
    const char *topic;
    const char *format;
    uint64_t count;
    double rate; /* msg/s; 0 = unlimited */
    size_t size;
    const char *properties[LOAD_MAX_PROPERTIES]; /* "key=value", from --property */
    int property_count;
    uint64_t invalid_every; /* message i is invalid when i % N == N - 1; 0 = none */
    bool headers;           /* every message carries beast-seq and beast-source headers */
    unsigned fields;        /* --fields; 0 = the format's default */
} load_args;

/* What produce_block() needs to know about the run, and what it counts. */
typedef struct load_plan {
    const load_args *args;
    const load_payload_format *format;
    void *format_state;
    uint64_t invalid_produced; /* messages given an invalid payload so far */
} load_plan;

/* Delivery outcome, updated by on_delivery() and on_error() from rd_kafka_poll(). */
typedef struct load_delivery {
    uint64_t failed;
    rd_kafka_resp_err_t first_error;
    char last_client_error[256]; /* e.g. "Connect to ... failed", or "" */
} load_delivery;

/* Token bucket for --rate: `tokens` messages may go now. */
typedef struct load_rate_limit {
    double rate;
    double burst;
    double tokens;
    double refilled_at;
} load_rate_limit;

/* Per-round buffers, reused: one partition's messages and their bytes. */
typedef struct load_block {
    rd_kafka_message_t *messages;
    char *payloads; /* messages_capacity * payload_stride bytes */
    char *keys;     /* messages_capacity * LOAD_KEY_STRIDE bytes */
    size_t messages_capacity;
    size_t payload_stride;
} load_block;

static double monotonic_seconds(void) {
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void print_usage(FILE *out) {
    char formats[128];

    list_payload_formats(formats, sizeof(formats));
    fprintf(out,
            "usage: beast-load --brokers B --topic T --format %s --count N\n"
            "                  [--rate R] [--size BYTES] [--property KEY=VALUE]...\n"
            "                  [--invalid-every N] [--headers] [--fields N]\n"
            "  Produces N synthetic events to every partition of T in turn (message i\n"
            "  to partition i %% P, key \"k<i>\"), waits for all deliveries, prints a summary.\n"
            "  --rate R       at most R messages per second (default: unlimited)\n"
            "  --size BYTES   pad each payload to BYTES (default: natural size, json ~220 B,\n"
            "                 proto ~480 B)\n"
            "  --property K=V a librdkafka producer property (repeatable), e.g.\n"
            "                 compression.codec=lz4\n"
            "  --invalid-every N  message i with i %% N == N-1 gets a payload the decoder\n"
            "                 must refuse (json: the object cut to half its length) and\n"
            "                 the header \"beast-test: invalid\"; the summary ends with\n"
            "                 \", <count> invalid\"\n"
            "  --headers      every message gets the headers \"beast-seq: <i>\" and\n"
            "                 \"beast-source: beast-load\"\n"
            "  --fields N     how many fields each event has:\n"
            "                 json: the first N of seq, id, user_id, amount, currency,\n"
            "                 active, tags, created_at, nested (default: those 9); above 9,\n"
            "                 N - 9 more named f10, f11, ... (integer, string, number,\n"
            "                 boolean in turn), up to %u\n"
            "                 proto: example.Booking fields 1..N only (default: all %u;\n"
            "                 --size still pads with customer_note, field 21)\n"
            "  exit: 0 all delivered, 1 a delivery or Kafka error, 2 bad arguments\n",
            formats, load_payload_json.max_fields, load_payload_proto.max_fields);
}

/* Parses a whole decimal unsigned integer in [min, max]. Returns 0 or -1. */
static int parse_uint_range(const char *text, uint64_t min, uint64_t max, uint64_t *value) {
    char *end = NULL;
    unsigned long long parsed;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

/*
 * Parses argv into *args. Returns 0, 1 if --help was printed, or -1 with a
 * one-line reason in errstr.
 */
static int parse_args(int argc, char **argv, load_args *args, char *errstr, size_t errstr_size) {
    static const struct option long_options[] = {
        {"brokers", required_argument, NULL, 'b'},  {"topic", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},   {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},     {"size", required_argument, NULL, 's'},
        {"property", required_argument, NULL, 'X'}, {"invalid-every", required_argument, NULL, 'i'},
        {"headers", no_argument, NULL, 'H'},        {"fields", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    bool have_count = false;
    int option;
    uint64_t number;

    memset(args, 0, sizeof(*args));
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":b:t:f:n:r:s:X:i:HF:h", long_options, NULL)) != -1) {
        switch (option) {
        case 'b':
            args->brokers = optarg;
            break;
        case 't':
            args->topic = optarg;
            break;
        case 'f':
            args->format = optarg;
            break;
        case 'n':
            if (parse_uint_range(optarg, 1, UINT64_MAX / 2, &args->count) != 0) {
                snprintf(errstr, errstr_size, "--count \"%s\": must be a positive integer", optarg);
                return -1;
            }
            have_count = true;
            break;
        case 'r': {
            char *end = NULL;

            errno = 0;
            args->rate = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(args->rate > 0) ||
                args->rate > 1e9) {
                snprintf(errstr, errstr_size,
                         "--rate \"%s\": must be a number of messages per second above 0", optarg);
                return -1;
            }
            break;
        }
        case 's':
            if (parse_uint_range(optarg, 1, 64 * 1024 * 1024, &number) != 0) {
                snprintf(errstr, errstr_size,
                         "--size \"%s\": must be an integer from 1 to %d bytes", optarg,
                         64 * 1024 * 1024);
                return -1;
            }
            args->size = (size_t)number;
            break;
        case 'X':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
                snprintf(errstr, errstr_size, "--property \"%s\": expected KEY=VALUE", optarg);
                return -1;
            }
            if (args->property_count == LOAD_MAX_PROPERTIES) {
                snprintf(errstr, errstr_size, "--property: at most %d may be given",
                         LOAD_MAX_PROPERTIES);
                return -1;
            }
            args->properties[args->property_count++] = optarg;
            break;
        case 'i':
            if (parse_uint_range(optarg, 1, UINT64_MAX / 2, &args->invalid_every) != 0) {
                snprintf(errstr, errstr_size, "--invalid-every \"%s\": must be a positive integer",
                         optarg);
                return -1;
            }
            break;
        case 'H':
            args->headers = true;
            break;
        case 'F':
            if (parse_uint_range(optarg, 1, UINT32_MAX, &number) != 0) {
                snprintf(errstr, errstr_size, "--fields \"%s\": must be a positive integer",
                         optarg);
                return -1;
            }
            args->fields = (unsigned)number;
            break;
        case 'h':
            print_usage(stdout);
            return 1;
        case ':':
            snprintf(errstr, errstr_size, "option \"%s\" needs a value (see --help)",
                     argv[optind - 1]);
            return -1;
        default:
            snprintf(errstr, errstr_size, "unknown option \"%s\" (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(errstr, errstr_size, "unexpected argument \"%s\" (see --help)", argv[optind]);
        return -1;
    }
    if (args->brokers == NULL || args->topic == NULL || args->format == NULL || !have_count) {
        snprintf(errstr, errstr_size,
                 "--brokers, --topic, --format and --count are required (see --help)");
        return -1;
    }
    if (find_payload_format(args->format) == NULL) {
        char formats[128];

        list_payload_formats(formats, sizeof(formats));
        snprintf(errstr, errstr_size, "--format \"%s\": unknown format (known: %s)", args->format,
                 formats);
        return -1;
    }
    if (args->fields > find_payload_format(args->format)->max_fields) {
        snprintf(errstr, errstr_size, "--fields %u: format \"%s\" has at most %u fields",
                 args->fields, args->format, find_payload_format(args->format)->max_fields);
        return -1;
    }
    if (args->invalid_every > 0 && find_payload_format(args->format)->write_invalid == NULL) {
        snprintf(errstr, errstr_size, "--invalid-every: format \"%s\" cannot make invalid payloads",
                 args->format);
        return -1;
    }
    return 0;
}

/*
 * Delivery report callback. With delivery.report.only.error it runs for
 * failed messages only. @locality the thread calling rd_kafka_poll()/flush().
 */
static void on_delivery(rd_kafka_t *handle, const rd_kafka_message_t *message, void *opaque) {
    load_delivery *delivery = opaque;

    (void)handle;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (delivery->failed == 0)
        delivery->first_error = message->err;
    delivery->failed++;
}

/*
 * Client error callback: librdkafka retries these itself, so they only
 * explain a delivery failure later; the last one is kept for that message
 * (instead of librdkafka logging each on stderr).
 * @locality the thread calling rd_kafka_poll().
 */
static void on_error(rd_kafka_t *handle, int err, const char *reason, void *opaque) {
    load_delivery *delivery = opaque;

    (void)handle;
    (void)err;
    snprintf(delivery->last_client_error, sizeof(delivery->last_client_error), "%s", reason);
}

/*
 * Creates the producer: big batches, a big queue, only failed deliveries
 * reported; then --property overrides. Returns the handle, or NULL with a
 * reason in errstr.
 */
static rd_kafka_t *create_producer(const load_args *args, load_delivery *delivery, char *errstr,
                                   size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"linger.ms", "20"},
        {"batch.num.messages", "100000"},
        /* The mock keeps ~5 MB per partition and, in librdkafka 2.0.2, can drop a
         * whole partition's log when one batch is near that: keep batches at 1 MB. */
        {"batch.size", "1000000"},
        {"message.max.bytes", "100000000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "2097152"},
        {"delivery.report.only.error", "true"},
        {"message.timeout.ms", "60000"},
        /* A lost broker is retried every second at most, so message
         * timeouts are noticed on time (the default backoff grows to 10 s). */
        {"reconnect.backoff.max.ms", "1000"},
        /* Errors are reported by on_error() and the summary; --property log_level=7 for more. */
        {"log_level", "2"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *handle;
    char reason[256];

    if (rd_kafka_conf_set(conf, "bootstrap.servers", args->brokers, reason, sizeof(reason)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "--brokers \"%s\": %s", args->brokers, reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    if (kafka_conf_set_properties(conf, args->properties, args->property_count, errstr,
                                  errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, delivery);
    handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
    if (handle == NULL) {
        snprintf(errstr, errstr_size, "creating the producer: %s", reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return handle;
}

/*
 * Asks the cluster how many partitions `topic` has, retrying while the
 * topic is being created or leaders are unknown, for up to 10 s.
 * Returns the count, or -1 with a reason in errstr.
 */
static int fetch_partition_count(rd_kafka_t *handle, rd_kafka_topic_t *topic, char *errstr,
                                 size_t errstr_size) {
    double deadline = monotonic_seconds() + LOAD_METADATA_TIMEOUT_MS / 1000.0;
    rd_kafka_resp_err_t err;

    for (;;) {
        const struct rd_kafka_metadata *metadata = NULL;
        int partitions = -1;

        err = rd_kafka_metadata(handle, 0, topic, &metadata, LOAD_METADATA_TIMEOUT_MS);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (metadata->topic_cnt == 1)
                err = metadata->topics[0].err;
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1)
                partitions = metadata->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(metadata);
        }
        if (partitions > 0)
            return partitions;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
        if (monotonic_seconds() >= deadline ||
            (err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
             err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && err != RD_KAFKA_RESP_ERR__TRANSPORT))
            break;
        rd_kafka_poll(handle, 200);
    }
    snprintf(errstr, errstr_size, "topic \"%s\": cannot get its partitions: %s",
             rd_kafka_topic_name(topic), rd_kafka_err2str(err));
    return -1;
}

/*
 * Allocates buffers for up to `messages` messages of up to `payload_stride`
 * bytes each. Returns 0, or -1 (destroy_block() still frees what was made).
 */
static int create_block(load_block *block, size_t messages, size_t payload_stride) {
    block->messages_capacity = messages;
    block->payload_stride = payload_stride;
    block->messages = calloc(messages, sizeof(*block->messages));
    block->payloads = malloc(messages * payload_stride);
    block->keys = malloc(messages * LOAD_KEY_STRIDE);
    if (block->messages == NULL || block->payloads == NULL || block->keys == NULL)
        return -1;
    return 0;
}

static void destroy_block(load_block *block) {
    free(block->messages);
    free(block->payloads);
    free(block->keys);
}

/*
 * Waits (serving delivery reports) until the bucket holds at least one
 * message, then takes and returns up to `wanted` of its tokens.
 */
static uint64_t take_tokens(load_rate_limit *limit, rd_kafka_t *handle, uint64_t wanted) {
    for (;;) {
        double now = monotonic_seconds();

        limit->tokens += (now - limit->refilled_at) * limit->rate;
        if (limit->tokens > limit->burst)
            limit->tokens = limit->burst;
        limit->refilled_at = now;
        if (limit->tokens >= 1.0) {
            uint64_t granted = (uint64_t)limit->tokens;

            if (granted > wanted)
                granted = wanted;
            limit->tokens -= (double)granted;
            return granted;
        }
        rd_kafka_poll(handle, (int)((1.0 - limit->tokens) / limit->rate * 1000.0) + 1);
    }
}

/*
 * Hands `count` messages to librdkafka's queue for one partition, polling
 * while the queue is full. The messages are copied (RD_KAFKA_MSG_F_COPY), so
 * the caller may reuse their buffers on return.
 * Returns 0, or -1 with a reason in errstr for any other enqueue error.
 */
static int enqueue_partition(rd_kafka_t *handle, rd_kafka_topic_t *topic, int32_t partition,
                             rd_kafka_message_t *messages, size_t count, char *errstr,
                             size_t errstr_size) {
    while (count > 0) {
        int accepted =
            rd_kafka_produce_batch(topic, partition, RD_KAFKA_MSG_F_COPY, messages, (int)count);
        size_t kept = 0;

        if (accepted == (int)count)
            return 0;
        /* Keep the refused ones, in order, for another try. */
        for (size_t i = 0; i < count; i++) {
            if (messages[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                continue;
            if (messages[i].err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                snprintf(errstr, errstr_size, "producing to topic \"%s\" partition %" PRId32 ": %s",
                         rd_kafka_topic_name(topic), partition, rd_kafka_err2str(messages[i].err));
                return -1;
            }
            messages[kept++] = messages[i];
        }
        count = kept;
        rd_kafka_poll(handle, 10);
    }
    return 0;
}

/* Writes message seq's key "k<seq>" (not NUL-terminated) and returns its length. */
static size_t write_key(char *key, uint64_t seq) {
    char digits[20];
    size_t count = 0;
    size_t length = 0;

    do {
        digits[count++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq != 0);
    key[length++] = 'k';
    while (count > 0)
        key[length++] = digits[--count];
    return length;
}

/* Message `seq` gets the invalid payload and the "beast-test" header. */
static bool is_invalid(const load_args *args, uint64_t seq) {
    return args->invalid_every > 0 && seq % args->invalid_every == args->invalid_every - 1;
}

/*
 * Hands one message with headers to librdkafka's queue (produce_batch()
 * cannot carry headers), polling while the queue is full. The payload and
 * key are copied. Returns 0, or -1 with a reason in errstr.
 */
static int enqueue_with_headers(rd_kafka_t *handle, rd_kafka_topic_t *topic, int32_t partition,
                                const rd_kafka_message_t *message, uint64_t seq, bool invalid,
                                bool seq_headers, char *errstr, size_t errstr_size) {
    rd_kafka_headers_t *headers = rd_kafka_headers_new(3);
    rd_kafka_resp_err_t err;

    if (invalid)
        rd_kafka_header_add(headers, "beast-test", -1, "invalid", -1);
    if (seq_headers) {
        char text[24];
        int length = snprintf(text, sizeof(text), "%" PRIu64, seq);

        rd_kafka_header_add(headers, "beast-seq", -1, text, length);
        rd_kafka_header_add(headers, "beast-source", -1, "beast-load", -1);
    }
    for (;;) {
        /* On success librdkafka owns `headers`; on failure we still do. */
        err = rd_kafka_producev(handle, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_VALUE(message->payload, message->len),
                                RD_KAFKA_V_KEY(message->key, message->key_len),
                                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(headers);
            snprintf(errstr, errstr_size, "producing to topic \"%s\" partition %" PRId32 ": %s",
                     rd_kafka_topic_name(topic), partition, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(handle, 10);
    }
}

/*
 * Produces messages [first, first + count) of a total of `partitions`:
 * message i to partition i % partitions, in order of i within a partition
 * (messages with headers go one by one between batches of plain ones).
 * Counts invalid payloads in plan->invalid_produced.
 * Returns 0, or -1 with a reason.
 */
static int produce_block(rd_kafka_t *handle, rd_kafka_topic_t *topic, int partitions,
                         load_plan *plan, load_block *block, uint64_t first, uint64_t count,
                         char *errstr, size_t errstr_size) {
    const load_args *args = plan->args;

    for (int partition = 0; partition < partitions; partition++) {
        uint64_t first_seq =
            first + ((uint64_t)partition + partitions - first % (uint64_t)partitions) %
                        (uint64_t)partitions;
        uint64_t seq = first_seq;
        size_t used = 0;
        size_t plain_start = 0; /* first message not yet enqueued */

        for (; seq < first + count; seq += (uint64_t)partitions, used++) {
            rd_kafka_message_t *message = &block->messages[used];
            char *payload = block->payloads + used * block->payload_stride;
            char *key = block->keys + used * LOAD_KEY_STRIDE;
            bool invalid = is_invalid(args, seq);

            memset(message, 0, sizeof(*message));
            message->payload = payload;
            message->len = invalid ? plan->format->write_invalid(plan->format_state, seq, payload,
                                                                 block->payload_stride)
                                   : plan->format->write(plan->format_state, seq, payload,
                                                         block->payload_stride);
            message->key = key;
            message->key_len = write_key(key, seq);
            if (invalid)
                plan->invalid_produced++;
            if (!invalid && !args->headers)
                continue;
            /* Keep the partition's order: the plain ones before this first. */
            if (used > plain_start &&
                enqueue_partition(handle, topic, partition, block->messages + plain_start,
                                  used - plain_start, errstr, errstr_size) != 0)
                return -1;
            if (enqueue_with_headers(handle, topic, partition, message, seq, invalid, args->headers,
                                     errstr, errstr_size) != 0)
                return -1;
            plain_start = used + 1;
        }
        if (used > plain_start &&
            enqueue_partition(handle, topic, partition, block->messages + plain_start,
                              used - plain_start, errstr, errstr_size) != 0)
            return -1;
    }
    rd_kafka_poll(handle, 0);
    return 0;
}

/*
 * Produces args->count messages, then waits for every delivery.
 * Returns 0 when all were delivered, or -1 with a reason in errstr.
 * Sets *partitions_out and *seconds_out for the summary.
 */
static int run_load(const load_args *args, int *partitions_out, double *seconds_out,
                    uint64_t *invalid_out, char *errstr, size_t errstr_size) {
    const load_payload_format *format = find_payload_format(args->format);
    load_plan plan = {.args = args, .format = format};
    load_payload_options payload_options = {.target_size = args->size, .fields = args->fields};
    load_delivery delivery = {0};
    load_rate_limit limit = {0};
    load_block block = {0};
    void *format_state = NULL;
    rd_kafka_t *handle;
    rd_kafka_topic_t *topic = NULL;
    int partitions;
    uint64_t produced = 0;
    uint64_t block_messages;
    uint64_t queue_messages;
    struct timespec wall;
    double started;
    int result = -1;

    clock_gettime(CLOCK_REALTIME, &wall);
    payload_options.start_time_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    handle = create_producer(args, &delivery, errstr, errstr_size);
    if (handle == NULL)
        return -1;
    if (format->create(&format_state, &payload_options, errstr, errstr_size) != 0)
        goto done;
    plan.format_state = format_state;
    topic = rd_kafka_topic_new(handle, args->topic, NULL);
    if (topic == NULL) {
        snprintf(errstr, errstr_size, "topic \"%s\": %s", args->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto done;
    }
    partitions = fetch_partition_count(handle, topic, errstr, errstr_size);
    if (partitions < 0)
        goto done;
    *partitions_out = partitions;

    block_messages = LOAD_BLOCK_BYTES / format->max_length(format_state);
    if (block_messages > LOAD_BLOCK_MESSAGES)
        block_messages = LOAD_BLOCK_MESSAGES;
    if (block_messages < (uint64_t)partitions)
        block_messages = (uint64_t)partitions;
    if (create_block(&block, (size_t)(block_messages / (uint64_t)partitions + 1),
                     format->max_length(format_state)) != 0) {
        snprintf(errstr, errstr_size, "out of memory for %" PRIu64 " messages of %zu bytes",
                 block_messages, format->max_length(format_state));
        goto done;
    }
    queue_messages = LOAD_QUEUE_BYTES / format->max_length(format_state);
    if (queue_messages > LOAD_QUEUE_MESSAGES)
        queue_messages = LOAD_QUEUE_MESSAGES;
    if (queue_messages < block_messages)
        queue_messages = block_messages;
    if (args->rate > 0) {
        limit.rate = args->rate;
        limit.burst = args->rate / 50.0 < 1.0 ? 1.0 : args->rate / 50.0;
        if (limit.burst > (double)block_messages)
            limit.burst = (double)block_messages;
        limit.refilled_at = monotonic_seconds();
        limit.tokens = 1.0;
    }

    started = monotonic_seconds();
    while (produced < args->count) {
        uint64_t count = args->count - produced;

        if (count > block_messages)
            count = block_messages;
        if (args->rate > 0)
            count = take_tokens(&limit, handle, count);
        /* Wait for room; produce_batch() would refuse what the queue cannot hold. */
        while ((uint64_t)rd_kafka_outq_len(handle) + count > queue_messages)
            rd_kafka_poll(handle, 1);
        if (produce_block(handle, topic, partitions, &plan, &block, produced, count, errstr,
                          errstr_size) != 0)
            goto done;
        produced += count;
    }
    while (rd_kafka_outq_len(handle) > 0)
        rd_kafka_poll(handle, 5);
    *seconds_out = monotonic_seconds() - started;
    *invalid_out = plan.invalid_produced;

    if (delivery.failed > 0) {
        snprintf(errstr, errstr_size,
                 "%" PRIu64 " of %" PRIu64 " messages to topic \"%s\" were not delivered: %s%s%s%s",
                 delivery.failed, args->count, args->topic, rd_kafka_err2str(delivery.first_error),
                 delivery.last_client_error[0] != '\0' ? " (last client error: " : "",
                 delivery.last_client_error, delivery.last_client_error[0] != '\0' ? ")" : "");
        goto done;
    }
    result = 0;
done:
    destroy_block(&block);
    if (format_state != NULL)
        format->destroy(format_state);
    if (topic != NULL)
        rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(handle);
    return result;
}

int main(int argc, char **argv) {
    load_args args;
    char errstr[512];
    int partitions = 0;
    double seconds = 0;
    uint64_t invalid = 0;
    int parsed = parse_args(argc, argv, &args, errstr, sizeof(errstr));

    if (parsed == 1)
        return 0;
    if (parsed != 0) {
        fprintf(stderr, "beast-load: %s\n", errstr);
        return 2;
    }
    if (run_load(&args, &partitions, &seconds, &invalid, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "beast-load: %s\n", errstr);
        return 1;
    }
    printf("produced %" PRIu64 " messages to %s (%d partitions) in %.2f s, %.0f msg/s", args.count,
           args.topic, partitions, seconds, seconds > 0 ? (double)args.count / seconds : 0.0);
    if (args.invalid_every > 0)
        printf(", %" PRIu64 " invalid", invalid);
    putchar('\n');
    return 0;
}
