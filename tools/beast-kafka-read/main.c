/*
 * beast-kafka-read: prints message values from one partition of a topic, one
 * per line, starting at an offset (default: the oldest kept). A test helper:
 * e.g. to check what beast-load wrote, or what landed in a topic.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define READ_TIMEOUT_MS 10000

typedef struct read_args {
    const char *brokers;
    const char *topic;
    int32_t partition;
    int64_t offset; /* RD_KAFKA_OFFSET_BEGINNING unless --offset */
    int64_t count;
    int with_offset; /* print "OFFSET KEY VALUE" instead of the value alone */
} read_args;

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
    fprintf(out, "usage: beast-kafka-read --brokers B --topic T [--partition P] [--offset O]\n"
                 "                        [--count N] [--with-offset]\n"
                 "  Prints the values of N messages (default 1) of partition P (default 0)\n"
                 "  from offset O (default: the oldest kept), one per line; --with-offset\n"
                 "  prefixes each with \"OFFSET KEY \". Waits up to 10 s for them.\n"
                 "  exit: 0 all N printed, 1 fewer or a Kafka error, 2 bad arguments\n");
}

static int parse_int64_range(const char *text, int64_t min, int64_t max, int64_t *value) {
    char *end = NULL;
    long long parsed;

    if (text[0] == '\0')
        return -1;
    errno = 0;
    parsed = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

/* Returns 0, 1 if --help was printed, or -1 with a reason in errstr. */
static int parse_args(int argc, char **argv, read_args *args, char *errstr, size_t errstr_size) {
    static const struct option long_options[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"offset", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'n'},
        {"with-offset", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;
    int64_t number;

    memset(args, 0, sizeof(*args));
    args->offset = RD_KAFKA_OFFSET_BEGINNING;
    args->count = 1;
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":b:t:p:o:n:wh", long_options, NULL)) != -1) {
        switch (option) {
        case 'b':
            args->brokers = optarg;
            break;
        case 't':
            args->topic = optarg;
            break;
        case 'p':
            if (parse_int64_range(optarg, 0, INT32_MAX, &number) != 0) {
                snprintf(errstr, errstr_size, "--partition \"%s\": must be an integer >= 0",
                         optarg);
                return -1;
            }
            args->partition = (int32_t)number;
            break;
        case 'o':
            if (parse_int64_range(optarg, 0, INT64_MAX, &args->offset) != 0) {
                snprintf(errstr, errstr_size, "--offset \"%s\": must be an integer >= 0", optarg);
                return -1;
            }
            break;
        case 'n':
            if (parse_int64_range(optarg, 1, INT64_MAX, &args->count) != 0) {
                snprintf(errstr, errstr_size, "--count \"%s\": must be an integer >= 1", optarg);
                return -1;
            }
            break;
        case 'w':
            args->with_offset = 1;
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
 * Creates a consumer for assign(), which librdkafka 2.0.2 refuses without a
 * group.id; the group is never joined and nothing is committed.
 * Returns it, or NULL with a reason in errstr.
 */
static rd_kafka_t *create_consumer(const read_args *args, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char reason[256];
    rd_kafka_t *handle;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", args->brokers, reason, sizeof(reason)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "--brokers \"%s\": %s", args->brokers, reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set(conf, "group.id", "beast-kafka-read", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "false", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
    rd_kafka_conf_set_error_cb(conf, on_error);
    handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
    if (handle == NULL) {
        snprintf(errstr, errstr_size, "creating the consumer: %s", reason);
        rd_kafka_conf_destroy(conf);
    }
    return handle;
}

static double monotonic_seconds(void) {
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Prints one message as asked. */
static void print_message(const read_args *args, const rd_kafka_message_t *message) {
    if (args->with_offset)
        printf("%" PRId64 " %.*s ", message->offset, (int)message->key_len,
               message->key != NULL ? (const char *)message->key : "");
    fwrite(message->payload, 1, message->len, stdout);
    putchar('\n');
}

/* Reads and prints args->count messages. Returns 0, or -1 with a reason in errstr. */
static int read_messages(rd_kafka_t *handle, const read_args *args, char *errstr,
                         size_t errstr_size) {
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(1);
    double deadline = monotonic_seconds() + READ_TIMEOUT_MS / 1000.0;
    int64_t printed = 0;
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(assignment, args->topic, args->partition)->offset =
        args->offset;
    err = rd_kafka_assign(handle, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "assigning topic \"%s\" partition %" PRId32 ": %s",
                 args->topic, args->partition, rd_kafka_err2str(err));
        return -1;
    }
    while (printed < args->count && monotonic_seconds() < deadline) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(handle, 100);

        if (message == NULL)
            continue;
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "reading topic \"%s\" partition %" PRId32 ": %s",
                     args->topic, args->partition, rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            return -1;
        }
        print_message(args, message);
        printed++;
        rd_kafka_message_destroy(message);
    }
    if (printed < args->count) {
        snprintf(errstr, errstr_size,
                 "topic \"%s\" partition %" PRId32 ": only %" PRId64 " of %" PRId64
                 " messages within %d s",
                 args->topic, args->partition, printed, args->count, READ_TIMEOUT_MS / 1000);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    read_args args;
    char errstr[512];
    rd_kafka_t *handle;
    int parsed = parse_args(argc, argv, &args, errstr, sizeof(errstr));
    int result;

    if (parsed == 1)
        return 0;
    if (parsed != 0) {
        fprintf(stderr, "beast-kafka-read: %s\n", errstr);
        return 2;
    }
    handle = create_consumer(&args, errstr, sizeof(errstr));
    if (handle == NULL) {
        fprintf(stderr, "beast-kafka-read: %s\n", errstr);
        return 1;
    }
    result = read_messages(handle, &args, errstr, sizeof(errstr));
    fflush(stdout);
    rd_kafka_poll(handle, 0); /* serves on_error() for pending client errors */
    if (result != 0)
        fprintf(stderr, "beast-kafka-read: %s%s%s%s\n", errstr,
                last_client_error[0] != '\0' ? " (last client error: " : "", last_client_error,
                last_client_error[0] != '\0' ? ")" : "");
    rd_kafka_consumer_close(handle);
    rd_kafka_destroy(handle);
    return result == 0 ? 0 : 1;
}
