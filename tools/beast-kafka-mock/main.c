/*
 * beast-kafka-mock: a local Kafka-protocol cluster for tests, the demo and
 * benchmarks, built on librdkafka's mock cluster. Creates the topics given
 * with --topic, prints the bootstrap list as its first stdout line, then
 * serves until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOCK_MAX_BROKERS 32
#define MOCK_MAX_PARTITIONS 10000

/* One --topic NAME:PARTITIONS argument, parsed. `name` points into argv. */
typedef struct mock_topic {
    const char *name;
    size_t name_len;
    int partitions;
} mock_topic;

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: beast-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
            "  Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGTERM/SIGINT.\n"
            "  The first line on stdout is the bootstrap list (host:port,...).\n"
            "  --brokers N               number of brokers (1-%d, default 1)\n"
            "  --topic NAME:PARTITIONS   create a topic (repeatable, replication 1)\n",
            MOCK_MAX_BROKERS);
}

/*
 * Parses a decimal integer in [min, max] from the whole of `text`.
 * Returns 0 and sets *value, or -1 if `text` is not such a number.
 */
static int parse_int_range(const char *text, int min, int max, int *value) {
    char *end = NULL;
    long parsed;

    if (text[0] == '\0')
        return -1;
    errno = 0;
    parsed = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed < min || parsed > max)
        return -1;
    *value = (int)parsed;
    return 0;
}

/*
 * Keeps the mock cluster's thread awake while the main thread waits on it.
 *
 * librdkafka 2.0.2's mock thread sometimes misses the wake-up for an op put
 * on its queue (the queue's "wake-up already sent" flag stays set), so the op
 * waits for the thread's 1 s poll timeout: creating 100 topics then takes
 * tens of seconds. Any socket activity on a broker listener also wakes the
 * thread, so while `running` is set this thread connects to and disconnects
 * from broker `port` on 127.0.0.1 every millisecond.
 */
typedef struct mock_waker {
    pthread_t thread;
    uint16_t port;
    atomic_bool running;
} mock_waker;

static void *run_waker(void *arg) {
    mock_waker *waker = arg;
    struct sockaddr_in address;
    const struct timespec pause = {0, 1000000};

    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons(waker->port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (atomic_load_explicit(&waker->running, memory_order_relaxed)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd >= 0) {
            (void)connect(fd, (const struct sockaddr *)&address, sizeof(address));
            close(fd);
        }
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/*
 * Starts a waker on the first broker of `bootstraps` ("127.0.0.1:PORT,...").
 * Returns 0, or -1 (and no thread runs) if the list cannot be parsed or the
 * thread cannot start; the caller then simply goes without the workaround.
 */
static int start_waker(mock_waker *waker, const char *bootstraps) {
    const char *colon = strchr(bootstraps, ':');
    int port;
    char port_text[8];
    size_t length;

    if (colon == NULL)
        return -1;
    length = strcspn(colon + 1, ",");
    if (length == 0 || length >= sizeof(port_text))
        return -1;
    memcpy(port_text, colon + 1, length);
    port_text[length] = '\0';
    if (parse_int_range(port_text, 1, 65535, &port) != 0)
        return -1;
    waker->port = (uint16_t)port;
    atomic_store(&waker->running, true);
    if (pthread_create(&waker->thread, NULL, run_waker, waker) != 0) {
        atomic_store(&waker->running, false);
        return -1;
    }
    return 0;
}

/* Stops and joins a waker started by start_waker(). */
static void stop_waker(mock_waker *waker) {
    atomic_store(&waker->running, false);
    pthread_join(waker->thread, NULL);
}

/*
 * Parses "NAME:PARTITIONS" into *topic (the name stays in `arg`).
 * Returns 0, or -1 with a one-line reason in errstr.
 */
static int parse_topic_arg(const char *arg, mock_topic *topic, char *errstr, size_t errstr_size) {
    const char *colon = strrchr(arg, ':');

    if (colon == NULL || colon == arg) {
        snprintf(errstr, errstr_size, "--topic \"%s\": expected NAME:PARTITIONS", arg);
        return -1;
    }
    if (colon - arg > 249) {
        snprintf(errstr, errstr_size, "--topic \"%s\": topic name longer than 249 characters", arg);
        return -1;
    }
    for (const char *c = arg; c < colon; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-')) {
            snprintf(errstr, errstr_size,
                     "--topic \"%s\": topic name may only contain [A-Za-z0-9._-]", arg);
            return -1;
        }
    }
    if (parse_int_range(colon + 1, 1, MOCK_MAX_PARTITIONS, &topic->partitions) != 0) {
        snprintf(errstr, errstr_size, "--topic \"%s\": PARTITIONS must be an integer from 1 to %d",
                 arg, MOCK_MAX_PARTITIONS);
        return -1;
    }
    topic->name = arg;
    topic->name_len = (size_t)(colon - arg);
    return 0;
}

/*
 * Creates every topic in `topics` on `cluster`.
 * Returns 0, or -1 with a one-line reason in errstr.
 */
static int create_topics(rd_kafka_mock_cluster_t *cluster, const mock_topic *topics,
                         int topic_count, char *errstr, size_t errstr_size) {
    for (int i = 0; i < topic_count; i++) {
        char name[256];
        rd_kafka_resp_err_t err;

        snprintf(name, sizeof(name), "%.*s", (int)topics[i].name_len, topics[i].name);
        err = rd_kafka_mock_topic_create(cluster, name, topics[i].partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "creating topic \"%s\" (%d partitions): %s", name,
                     topics[i].partitions, rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

/*
 * Destroys `cluster` and then `handle`. The mock thread's shutdown op can
 * miss its wake-up like any other (see mock_waker), so a waker runs meanwhile.
 * Even so this takes up to 1 s about half the time: librdkafka's internal
 * "mock:0/internal" broker thread notices it must terminate only on its 1 s
 * timer, and the cluster destroy joins it.
 */
static void destroy_cluster(rd_kafka_mock_cluster_t *cluster, rd_kafka_t *handle) {
    mock_waker waker;
    bool waker_started = start_waker(&waker, rd_kafka_mock_cluster_bootstraps(cluster)) == 0;

    rd_kafka_mock_cluster_destroy(cluster);
    if (waker_started)
        stop_waker(&waker);
    rd_kafka_destroy(handle);
}

/* The command line, parsed. `topics` is allocated (caller frees it). */
typedef struct mock_args {
    int brokers;
    mock_topic *topics;
    int topic_count;
} mock_args;

/*
 * Parses argv into *args. Returns 0, 1 if --help was printed, or -1 with a
 * one-line reason in errstr. args->topics is to be freed in every case.
 */
static int parse_args(int argc, char **argv, mock_args *args, char *errstr, size_t errstr_size) {
    static const struct option long_options[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;

    args->brokers = 1;
    args->topic_count = 0;
    args->topics = calloc((size_t)argc, sizeof(*args->topics));
    if (args->topics == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    opterr = 0;
    while ((option = getopt_long(argc, argv, ":b:t:h", long_options, NULL)) != -1) {
        switch (option) {
        case 'b':
            if (parse_int_range(optarg, 1, MOCK_MAX_BROKERS, &args->brokers) != 0) {
                snprintf(errstr, errstr_size, "--brokers \"%s\": must be an integer from 1 to %d",
                         optarg, MOCK_MAX_BROKERS);
                return -1;
            }
            break;
        case 't':
            if (parse_topic_arg(optarg, &args->topics[args->topic_count], errstr, errstr_size) != 0)
                return -1;
            args->topic_count++;
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
    return 0;
}

/*
 * Runs the cluster: creates it and its topics, prints the bootstrap list,
 * serves until SIGTERM/SIGINT, then tears everything down.
 * Returns 0, or -1 with a one-line reason in errstr.
 */
static int run_mock(const mock_args *args, char *errstr, size_t errstr_size) {
    sigset_t stop_signals;
    rd_kafka_conf_t *conf;
    rd_kafka_t *handle;
    rd_kafka_mock_cluster_t *cluster;
    int signal_number = 0;
    mock_waker waker;
    bool waker_started;
    char reason[256];

    /* Block the stop signals before librdkafka starts threads, so they all
     * inherit the mask and only sigwait() below receives them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
    if (handle == NULL) {
        snprintf(errstr, errstr_size, "creating the librdkafka handle: %s", reason);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    cluster = rd_kafka_mock_cluster_new(handle, args->brokers);
    if (cluster == NULL) {
        snprintf(errstr, errstr_size, "creating a mock cluster of %d brokers failed",
                 args->brokers);
        rd_kafka_destroy(handle);
        return -1;
    }
    waker_started = start_waker(&waker, rd_kafka_mock_cluster_bootstraps(cluster)) == 0;
    if (create_topics(cluster, args->topics, args->topic_count, errstr, errstr_size) != 0) {
        if (waker_started)
            stop_waker(&waker);
        destroy_cluster(cluster, handle);
        return -1;
    }
    if (waker_started)
        stop_waker(&waker);

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);

    while (sigwait(&stop_signals, &signal_number) != 0)
        ;
    destroy_cluster(cluster, handle);
    return 0;
}

int main(int argc, char **argv) {
    mock_args args;
    char errstr[512];
    int parsed = parse_args(argc, argv, &args, errstr, sizeof(errstr));
    int result;

    if (parsed != 0) {
        free(args.topics);
        if (parsed == 1)
            return 0;
        fprintf(stderr, "beast-kafka-mock: %s\n", errstr);
        return 2;
    }
    result = run_mock(&args, errstr, sizeof(errstr));
    free(args.topics);
    if (result != 0) {
        fprintf(stderr, "beast-kafka-mock: %s\n", errstr);
        return 1;
    }
    return 0;
}
