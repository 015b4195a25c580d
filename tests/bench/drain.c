/*
 * drain.c — the ceiling beast is measured against (make bench, never a
 * test): a bare librdkafka consumer, configured like beast's own consumer
 * (host/pipeline.c create_consumer), that reads a topic from its low
 * watermark (or the group's committed offset) to its high watermark at start, touches each
 * message's length and nothing else, and prints one line of figures: drain: messages=N bytes=B
 * seconds=S msgs_per_s=R mb_per_s=M cpu_s=C join_s=J seconds and cpu_s (user + system, all threads)
 * run from the first message to the last; join_s from subscribe() to the first message; bytes are
 * payload + key; MB are 10^6 bytes. Exit 0 all drained, 1 timeout or Kafka
 * error, 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "../../tools/common/kafka_properties.h"

#define DRAIN_MAX_PROPERTIES 64
#define DRAIN_METADATA_TIMEOUT_MS 10000
#define DRAIN_WATERMARK_TIMEOUT_MS 10000
#define DRAIN_DEFAULT_TIMEOUT_S 300.0
#define DRAIN_POLL_MS 100

typedef struct drain_args {
    const char *brokers;
    const char *topic;
    char group[64];                               /* --group, or "beast-drain-<pid>" */
    const char *properties[DRAIN_MAX_PROPERTIES]; /* "key=value", from --property */
    int property_count;
    double timeout_s; /* from start, group join included */
} drain_args;

/* One partition's range to read: [low, high) at start; `next` is one past the last offset seen. */
typedef struct drain_partition {
    int64_t low;
    int64_t high;
    int64_t next;
} drain_partition;

/* The last client error librdkafka reported, for the timeout message. */
typedef struct drain_errors {
    char last[256];
} drain_errors;

static double monotonic_seconds(void) {
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* User + system CPU seconds of the whole process (every librdkafka thread too). */
static double process_cpu_seconds(void) {
    struct rusage usage;

    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: drain --brokers B --topic T [--group G] [--property K=V]... [--timeout S]\n"
            "  Consumes T from each partition's low to its high watermark at start, as\n"
            "  beast's consumer would (same librdkafka settings), doing nothing with the\n"
            "  messages, and prints:\n"
            "  drain: messages=N bytes=B seconds=S msgs_per_s=R mb_per_s=M cpu_s=C join_s=J\n"
            "  --group G       consumer group (default beast-drain-<pid>); a group with\n"
            "                  committed offsets reads from them to the high watermarks\n"
            "  --property K=V  a librdkafka consumer property (repeatable)\n"
            "  --timeout S     give up after S seconds, join included (default %.0f)\n"
            "  exit: 0 all drained, 1 timeout or Kafka error, 2 bad arguments\n",
            DRAIN_DEFAULT_TIMEOUT_S);
}

/*
 * Parses argv into *args. Returns 0, 1 if --help was printed, or -1 with a
 * one-line reason in errstr.
 */
static int parse_args(int argc, char **argv, drain_args *args, char *errstr, size_t errstr_size) {
    static const struct option long_options[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"property", required_argument, NULL, 'X'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;

    memset(args, 0, sizeof(*args));
    args->timeout_s = DRAIN_DEFAULT_TIMEOUT_S;
    snprintf(args->group, sizeof(args->group), "beast-drain-%ld", (long)getpid());
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":b:t:g:X:T:h", long_options, NULL)) != -1) {
        switch (option) {
        case 'b':
            args->brokers = optarg;
            break;
        case 't':
            args->topic = optarg;
            break;
        case 'g':
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof(args->group)) {
                snprintf(errstr, errstr_size, "--group \"%s\": must be 1 to %zu characters", optarg,
                         sizeof(args->group) - 1);
                return -1;
            }
            snprintf(args->group, sizeof(args->group), "%s", optarg);
            break;
        case 'X':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
                snprintf(errstr, errstr_size, "--property \"%s\": expected KEY=VALUE", optarg);
                return -1;
            }
            if (args->property_count == DRAIN_MAX_PROPERTIES) {
                snprintf(errstr, errstr_size, "--property: at most %d may be given",
                         DRAIN_MAX_PROPERTIES);
                return -1;
            }
            args->properties[args->property_count++] = optarg;
            break;
        case 'T': {
            char *end = NULL;

            errno = 0;
            args->timeout_s = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(args->timeout_s > 0) ||
                args->timeout_s > 1e6) {
                snprintf(errstr, errstr_size,
                         "--timeout \"%s\": must be a number of seconds above 0", optarg);
                return -1;
            }
            break;
        }
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
    if (args->brokers == NULL || args->topic == NULL) {
        snprintf(errstr, errstr_size, "--brokers and --topic are required (see --help)");
        return -1;
    }
    return 0;
}

/*
 * Client error callback: librdkafka retries these itself; the last one is
 * kept to explain a timeout. @locality the thread calling consumer_poll().
 */
static void on_error(rd_kafka_t *handle, int err, const char *reason, void *opaque) {
    drain_errors *errors = opaque;

    (void)handle;
    snprintf(errors->last, sizeof(errors->last), "%s: %s", rd_kafka_err2name(err), reason);
}

/*
 * Creates the consumer with beast's consumer defaults (host/pipeline.c),
 * then --property overrides. Returns the handle, or NULL with a reason in
 * errstr.
 */
static rd_kafka_t *create_consumer(const drain_args *args, drain_errors *errors, char *errstr,
                                   size_t errstr_size) {
    static const char *const defaults[][2] = {
        /* As beast's consumer: */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"queued.max.messages.kbytes", "16384"},
        {"fetch.max.bytes", "4194304"},
        {"fetch.wait.max.ms", "100"},
        {"enable.partition.eof", "false"},
        /* drain's own: */
        {"client.id", "beast-drain"},
        {"log_level", "3"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *handle;
    char reason[256];

    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", args->brokers, reason, sizeof(reason)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "--brokers \"%s\": %s", args->brokers, reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set(conf, "group.id", args->group, NULL, 0);
    if (kafka_conf_set_properties(conf, args->properties, args->property_count, errstr,
                                  errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, errors);
    handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
    if (handle == NULL) {
        snprintf(errstr, errstr_size, "creating the consumer: %s", reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(handle);
    return handle;
}

/*
 * Asks the cluster how many partitions `topic` has, retrying while leaders
 * are unknown, for up to 10 s. Returns the count, or -1 with a reason.
 */
static int fetch_partition_count(rd_kafka_t *handle, const char *topic_name, char *errstr,
                                 size_t errstr_size) {
    double deadline = monotonic_seconds() + DRAIN_METADATA_TIMEOUT_MS / 1000.0;
    rd_kafka_topic_t *topic = rd_kafka_topic_new(handle, topic_name, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    int partitions = -1;

    while (topic != NULL) {
        const struct rd_kafka_metadata *metadata = NULL;

        err = rd_kafka_metadata(handle, 0, topic, &metadata, DRAIN_METADATA_TIMEOUT_MS);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (metadata->topic_cnt == 1)
                err = metadata->topics[0].err;
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1)
                partitions = metadata->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(metadata);
        }
        if (partitions > 0)
            break;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
        if (monotonic_seconds() >= deadline ||
            (err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
             err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && err != RD_KAFKA_RESP_ERR__TRANSPORT))
            break;
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (topic != NULL)
        rd_kafka_topic_destroy(topic);
    if (partitions > 0)
        return partitions;
    snprintf(errstr, errstr_size, "topic \"%s\": cannot get its partitions: %s", topic_name,
             rd_kafka_err2str(err));
    return -1;
}

/*
 * Reads every partition's low and high watermark into `ranges` (one per
 * partition) and sets `next` to low. Returns 0, or -1 with a reason.
 */
static int read_watermarks(rd_kafka_t *handle, const char *topic, drain_partition *ranges,
                           int partitions, char *errstr, size_t errstr_size) {
    for (int partition = 0; partition < partitions; partition++) {
        drain_partition *range = &ranges[partition];
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            handle, topic, partition, &range->low, &range->high, DRAIN_WATERMARK_TIMEOUT_MS);

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "topic \"%s\" partition %d: cannot read watermarks: %s",
                     topic, partition, rd_kafka_err2str(err));
            return -1;
        }
        range->next = range->low;
    }
    return 0;
}

/*
 * For a group that has committed offsets: the consumer starts at them, so
 * each partition's range starts there (never before low). Returns 0, or -1
 * with a reason.
 */
static int apply_committed(rd_kafka_t *handle, const char *topic, drain_partition *ranges,
                           int partitions, char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    rd_kafka_resp_err_t err;

    for (int partition = 0; partition < partitions; partition++)
        rd_kafka_topic_partition_list_add(list, topic, partition);
    err = rd_kafka_committed(handle, list, DRAIN_WATERMARK_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "topic \"%s\": cannot read the group's offsets: %s", topic,
                 rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(list);
        return -1;
    }
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *committed = &list->elems[i];
        drain_partition *range;

        if (committed->partition < 0 || committed->partition >= partitions ||
            committed->err != RD_KAFKA_RESP_ERR_NO_ERROR || committed->offset < 0)
            continue;
        range = &ranges[committed->partition];
        if (committed->offset > range->next)
            range->next = committed->offset;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return 0;
}

static int subscribe_topic(rd_kafka_t *handle, const char *topic, char *errstr,
                           size_t errstr_size) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(handle, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "subscribing to topic \"%s\": %s", topic,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Describes the first partition not drained yet, for the timeout message. */
static void describe_undrained(const drain_partition *ranges, int partitions, char *out,
                               size_t out_size) {
    int undrained = 0;
    int first = -1;

    for (int partition = 0; partition < partitions; partition++) {
        if (ranges[partition].next < ranges[partition].high) {
            undrained++;
            if (first < 0)
                first = partition;
        }
    }
    if (first < 0) {
        snprintf(out, out_size, "all drained");
        return;
    }
    snprintf(out, out_size,
             "%d of %d partitions not drained (partition %d: at offset %" PRId64
             ", high watermark %" PRId64 ")",
             undrained, partitions, first, ranges[first].next, ranges[first].high);
}

int main(int argc, char **argv) {
    drain_args args;
    drain_errors errors = {{0}};
    drain_partition *ranges = NULL;
    rd_kafka_t *handle = NULL;
    char errstr[1024]; /* room for the timeout line: progress and the last client error */
    int parsed = parse_args(argc, argv, &args, errstr, sizeof(errstr));
    int partitions;
    int remaining = 0; /* partitions whose high watermark is not reached yet */
    uint64_t messages = 0;
    uint64_t bytes = 0;
    double deadline;
    double subscribed_at;
    double first_at = 0;
    double last_at = 0;
    double first_cpu = 0;
    double last_cpu = 0;
    int status = 1;

    if (parsed == 1)
        return 0;
    if (parsed != 0) {
        fprintf(stderr, "drain: %s\n", errstr);
        return 2;
    }
    deadline = monotonic_seconds() + args.timeout_s;
    handle = create_consumer(&args, &errors, errstr, sizeof(errstr));
    if (handle == NULL) {
        fprintf(stderr, "drain: %s\n", errstr);
        return 2;
    }
    partitions = fetch_partition_count(handle, args.topic, errstr, sizeof(errstr));
    if (partitions < 0)
        goto fail;
    ranges = calloc((size_t)partitions, sizeof(*ranges));
    if (ranges == NULL) {
        snprintf(errstr, sizeof(errstr), "out of memory");
        goto fail;
    }
    if (read_watermarks(handle, args.topic, ranges, partitions, errstr, sizeof(errstr)) != 0)
        goto fail;
    if (apply_committed(handle, args.topic, ranges, partitions, errstr, sizeof(errstr)) != 0)
        goto fail;
    for (int partition = 0; partition < partitions; partition++)
        remaining += ranges[partition].next < ranges[partition].high;
    subscribed_at = monotonic_seconds();
    if (remaining > 0 && subscribe_topic(handle, args.topic, errstr, sizeof(errstr)) != 0)
        goto fail;

    while (remaining > 0) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(handle, DRAIN_POLL_MS);

        if (message == NULL) {
            if (monotonic_seconds() >= deadline) {
                char where[256];

                describe_undrained(ranges, partitions, where, sizeof(where));
                snprintf(errstr, sizeof(errstr),
                         "timeout after %.1f s: %" PRIu64 " messages read, %s%s%s", args.timeout_s,
                         messages, where, errors.last[0] != '\0' ? "; last client error: " : "",
                         errors.last);
                goto fail;
            }
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errors.last, sizeof(errors.last), "%s", rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            continue;
        }
        if (messages == 0) {
            first_at = monotonic_seconds();
            first_cpu = process_cpu_seconds();
        }
        messages++;
        bytes += message->len + message->key_len;
        if (message->partition >= 0 && message->partition < partitions) {
            drain_partition *range = &ranges[message->partition];
            bool was_open = range->next < range->high;

            if (message->offset + 1 > range->next)
                range->next = message->offset + 1;
            if (was_open && range->next >= range->high)
                remaining--;
        }
        rd_kafka_message_destroy(message);
    }
    last_at = monotonic_seconds();
    last_cpu = process_cpu_seconds();
    {
        double seconds = messages > 0 ? last_at - first_at : 0;

        printf("drain: messages=%" PRIu64 " bytes=%" PRIu64
               " seconds=%.3f msgs_per_s=%.0f mb_per_s=%.1f cpu_s=%.3f join_s=%.3f\n",
               messages, bytes, seconds, seconds > 0 ? (double)messages / seconds : 0.0,
               seconds > 0 ? (double)bytes / 1e6 / seconds : 0.0,
               messages > 0 ? last_cpu - first_cpu : 0.0,
               messages > 0 ? first_at - subscribed_at : 0.0);
        fflush(stdout);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "drain: %s\n", errstr);
done:
    rd_kafka_consumer_close(handle);
    rd_kafka_destroy(handle);
    free(ranges);
    return status;
}
