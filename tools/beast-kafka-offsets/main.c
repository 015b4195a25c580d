/*
 * beast-kafka-offsets: prints, for every partition of a topic, its low and
 * high watermarks and the offset a consumer group has committed, one line
 * each: "partition low high committed" (committed is -1 when there is none).
 * Tests use it to check totals and commits.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define OFFSETS_TIMEOUT_MS 10000

typedef struct offsets_args {
    const char *brokers;
    const char *topic;
    const char *group; /* NULL: committed is -1 on every line */
} offsets_args;

/* The last client error librdkafka reported (it retries them itself); explains a later failure. */
static char last_client_error[256];

/* Client error callback. @locality the thread calling rd_kafka_poll(). */
static void on_error(rd_kafka_t *handle, int err, const char *reason, void *opaque) {
    (void)handle;
    (void)err;
    (void)opaque;
    snprintf(last_client_error, sizeof(last_client_error), "%s", reason);
}

static void print_usage(FILE *out) {
    fprintf(out, "usage: beast-kafka-offsets --brokers B --topic T [--group G]\n"
                 "  Prints one line per partition of T: \"partition low high committed\",\n"
                 "  committed being group G's committed offset, or -1 if none (or no --group).\n"
                 "  exit: 0 ok, 1 a Kafka error, 2 bad arguments\n");
}

/* Returns 0, 1 if --help was printed, or -1 with a reason in errstr. */
static int parse_args(int argc, char **argv, offsets_args *args, char *errstr, size_t errstr_size) {
    static const struct option long_options[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;

    memset(args, 0, sizeof(*args));
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":b:t:g:h", long_options, NULL)) != -1) {
        switch (option) {
        case 'b':
            args->brokers = optarg;
            break;
        case 't':
            args->topic = optarg;
            break;
        case 'g':
            args->group = optarg;
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
    if (args->brokers == NULL || args->topic == NULL) {
        snprintf(errstr, errstr_size, "--brokers and --topic are required (see --help)");
        return -1;
    }
    return 0;
}

/*
 * Creates a consumer handle (never subscribed: it only asks questions) in
 * group args->group, or in no group. Returns it, or NULL with a reason.
 */
static rd_kafka_t *create_consumer(const offsets_args *args, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char reason[256];
    rd_kafka_t *handle;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", args->brokers, reason, sizeof(reason)) !=
            RD_KAFKA_CONF_OK ||
        (args->group != NULL && rd_kafka_conf_set(conf, "group.id", args->group, reason,
                                                  sizeof(reason)) != RD_KAFKA_CONF_OK)) {
        snprintf(errstr, errstr_size, "%s", reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
    rd_kafka_conf_set_error_cb(conf, on_error);
    handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
    if (handle == NULL) {
        snprintf(errstr, errstr_size, "creating the consumer: %s", reason);
        rd_kafka_conf_destroy(conf);
    }
    return handle;
}

/*
 * Returns a new list of every partition of args->topic (caller destroys it),
 * or NULL with a reason in errstr.
 */
static rd_kafka_topic_partition_list_t *list_partitions(rd_kafka_t *handle, const char *topic_name,
                                                        char *errstr, size_t errstr_size) {
    rd_kafka_topic_t *topic = rd_kafka_topic_new(handle, topic_name, NULL);
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_topic_partition_list_t *partitions = NULL;
    rd_kafka_resp_err_t err;

    if (topic == NULL) {
        snprintf(errstr, errstr_size, "topic \"%s\": %s", topic_name,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return NULL;
    }
    err = rd_kafka_metadata(handle, 0, topic, &metadata, OFFSETS_TIMEOUT_MS);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1)
        err = metadata->topics[0].err;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1) {
        const rd_kafka_metadata_topic_t *described = &metadata->topics[0];

        partitions = rd_kafka_topic_partition_list_new(described->partition_cnt);
        /* Metadata need not list partitions in order: add ids 0..count-1. */
        for (int i = 0; i < described->partition_cnt; i++)
            rd_kafka_topic_partition_list_add(partitions, topic_name, i);
    } else {
        snprintf(errstr, errstr_size, "topic \"%s\": cannot get its partitions: %s", topic_name,
                 rd_kafka_err2str(
                     err == RD_KAFKA_RESP_ERR_NO_ERROR ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC : err));
    }
    if (metadata != NULL)
        rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(topic);
    return partitions;
}

/* Prints the lines for every partition. Returns 0, or -1 with a reason in errstr. */
static int print_offsets(rd_kafka_t *handle, const offsets_args *args, char *errstr,
                         size_t errstr_size) {
    rd_kafka_topic_partition_list_t *partitions =
        list_partitions(handle, args->topic, errstr, errstr_size);
    rd_kafka_resp_err_t err;
    int result = -1;

    if (partitions == NULL)
        return -1;
    if (args->group != NULL) {
        err = rd_kafka_committed(handle, partitions, OFFSETS_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "group \"%s\": fetching committed offsets: %s",
                     args->group, rd_kafka_err2str(err));
            goto done;
        }
    }
    for (int i = 0; i < partitions->cnt; i++) {
        const rd_kafka_topic_partition_t *partition = &partitions->elems[i];
        int64_t low = -1;
        int64_t high = -1;
        int64_t committed = -1;

        err = rd_kafka_query_watermark_offsets(handle, args->topic, partition->partition, &low,
                                               &high, OFFSETS_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size,
                     "topic \"%s\" partition %" PRId32 ": querying watermarks: %s", args->topic,
                     partition->partition, rd_kafka_err2str(err));
            goto done;
        }
        if (args->group != NULL) {
            if (partition->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(errstr, errstr_size, "group \"%s\" topic \"%s\" partition %" PRId32 ": %s",
                         args->group, args->topic, partition->partition,
                         rd_kafka_err2str(partition->err));
                goto done;
            }
            if (partition->offset >= 0)
                committed = partition->offset;
        }
        printf("%" PRId32 " %" PRId64 " %" PRId64 " %" PRId64 "\n", partition->partition, low, high,
               committed);
    }
    result = 0;
done:
    rd_kafka_topic_partition_list_destroy(partitions);
    return result;
}

int main(int argc, char **argv) {
    offsets_args args;
    char errstr[512];
    rd_kafka_t *handle;
    int parsed = parse_args(argc, argv, &args, errstr, sizeof(errstr));
    int result;

    if (parsed == 1)
        return 0;
    if (parsed != 0) {
        fprintf(stderr, "beast-kafka-offsets: %s\n", errstr);
        return 2;
    }
    handle = create_consumer(&args, errstr, sizeof(errstr));
    if (handle == NULL) {
        fprintf(stderr, "beast-kafka-offsets: %s\n", errstr);
        return 1;
    }
    result = print_offsets(handle, &args, errstr, sizeof(errstr));
    rd_kafka_poll(handle, 0); /* serves on_error() for pending client errors */
    if (result != 0)
        fprintf(stderr, "beast-kafka-offsets: %s%s%s%s\n", errstr,
                last_client_error[0] != '\0' ? " (last client error: " : "", last_client_error,
                last_client_error[0] != '\0' ? ")" : "");
    rd_kafka_destroy(handle);
    return result == 0 ? 0 : 1;
}
