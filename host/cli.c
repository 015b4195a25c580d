/*
 * cli.c — the beast command line: run, check, plugins, schema, audit (SPEC §2).
 * Exit codes: 0 ok, 1 runtime failure (audit: a gap), 2 bad config or usage.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api.h"
#include "audit.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "schema_print.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: beast <command> [options]\n"
    "\n"
    "commands:\n"
    "  run -c FILE                 run every pipeline in FILE until SIGTERM/SIGINT\n"
    "                              (also: beast -c FILE)\n"
    "  check -c FILE [--connect]   validate FILE, load and configure every plugin;\n"
    "                              --connect also probes Kafka and the sinks\n"
    "  plugins [--plugin-dir D]    list plugins with their options and defaults\n"
    "  schema --descriptor-set F --message M [--format bigquery|config]\n"
    "                              print the BigQuery schema or a pipeline stanza\n"
    "  audit -c FILE [--pipeline P]\n"
    "                              compare Kafka (watermarks, committed offsets) with\n"
    "                              what the table and the DLQ hold, per partition;\n"
    "                              exit 0 no gap, 1 gap, 2 bad config or a sink that\n"
    "                              cannot be audited, 3 Kafka or the table unreadable\n"
    "\n"
    "  -h, --help                  this text\n"
    "  -V, --version               print the version\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "beast: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return EXIT_USAGE;
}

/* Creates dir and its parents (mkdir -p). 0 ok, -1 with errno. */
static int make_directories(const char *dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---------------------------------------------------------------------- */

static void default_text(const beast_option *option, char *out, size_t size) {
    if (option->required)
        snprintf(out, size, "(required)");
    else if (option->default_value && option->default_value[0])
        snprintf(out, size, "= %s", option->default_value);
    else
        snprintf(out, size, "(optional)");
}

/* One line per option; `markdown` prints a table row instead. */
static void print_option_table(const beast_option *options, const char *indent, int markdown) {
    if (markdown && options && options->name)
        printf("| key | type | default | |\n|---|---|---|---|\n");
    for (const beast_option *option = options; option && option->name; option++) {
        char text[96];
        default_text(option, text, sizeof(text));
        if (markdown)
            printf("| `%s` | %s | %s | %s |\n", option->name, host_option_type_name(option->type),
                   text, option->doc ? option->doc : "");
        else
            printf("%s%-26s %-15s %-18s %s\n", indent, option->name,
                   host_option_type_name(option->type), text, option->doc ? option->doc : "");
    }
}

static void report_refused(const char *message) { fprintf(stderr, "beast: refused %s\n", message); }

static int command_plugins(int argc, char **argv) {
    const char *dir = getenv("BEAST_PLUGIN_DIR") ? getenv("BEAST_PLUGIN_DIR") : "build/plugins";
    int markdown = 0;
    static const struct option long_options[] = {{"plugin-dir", required_argument, NULL, 'd'},
                                                 {"markdown", no_argument, NULL, 'M'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", long_options, NULL)) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'M')
            markdown = 1;
        else if (c == 'h') {
            printf("usage: beast plugins [--plugin-dir D] [--markdown]\n");
            return 0;
        } else
            return usage_error("plugins: unknown option %s", argv[optind - 1]);
    }
    const host_plugin **plugins;
    size_t count;
    char errstr[512];
    if (host_plugin_scan(dir, &plugins, &count, report_refused, errstr, sizeof(errstr)) < 0) {
        fprintf(stderr, "beast: %s\n", errstr);
        return EXIT_USAGE;
    }
    if (markdown) {
        printf("## Top-level keys\n\n");
        print_option_table(host_top_options, "", 1);
        printf(
            "| `metrics` | group | (optional) | `{ listen = \"HOST:PORT\"; }`: /metrics, /healthz, "
            "/readyz |\n| `kafka` | group | (optional) | librdkafka properties, '.' written "
            "'_' |\n| `pipelines` | list | (required) | one group per pipeline |\n");
        printf("\n## Pipeline keys\n\n");
        print_option_table(host_pipeline_options, "", 1);
        printf("| `decoder`, `sink` | group | (required) | `{ plugin = \"name\"; options... }` |\n"
               "| `offsets` | group | `{ plugin = \"kafka\"; }` | where committed offsets live |\n"
               "| `dlq` | group | file DLQ under data_dir | a sink for what cannot be delivered |\n"
               "| `kafka` | group | (optional) | overrides the top-level properties |\n");
        printf("\n## Host keys of every sink block (and the dlq block)\n\n");
        print_option_table(host_sink_options, "", 1);
    } else {
        printf("plugins in %s:\n", dir);
    }
    for (size_t i = 0; i < count; i++) {
        const beast_plugin *plugin = plugins[i]->descriptor;
        if (markdown)
            printf("\n## %s `%s` (version %s, ABI %u.%u)\n\n%s\n\n", host_kind_name(plugin->kind),
                   plugin->name, plugin->version ? plugin->version : "?", plugin->abi_major,
                   plugin->abi_minor, plugin->description ? plugin->description : "");
        else
            printf("\n%s %s  version %s  ABI %u.%u%s\n  %s\n", host_kind_name(plugin->kind),
                   plugin->name, plugin->version ? plugin->version : "?", plugin->abi_major,
                   plugin->abi_minor, plugin->flags & BEAST_FLAG_THREAD_SAFE ? "  thread-safe" : "",
                   plugin->description ? plugin->description : "");
        if (plugin->options && plugin->options->name)
            print_option_table(plugin->options, "    ", markdown);
        else
            printf(markdown ? "No options.\n" : "    (no options)\n");
    }
    if (!markdown) {
        printf("\nhost keys of every sink block (batching, retries, metadata):\n");
        print_option_table(host_sink_options, "    ", 0);
        printf("\nhost keys of every pipeline:\n");
        print_option_table(host_pipeline_options, "    ", 0);
        printf("\ntop-level keys:\n");
        print_option_table(host_top_options, "    ", 0);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */

static int parse_config_args(int argc, char **argv, const char **path, int *connect) {
    static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                                 {"connect", no_argument, NULL, 'C'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", long_options, NULL)) != -1) {
        if (c == 'c')
            *path = optarg;
        else if (c == 'C' && connect)
            *connect = 1;
        else if (c == 'h') {
            fputs(usage_text, stdout);
            return -1;
        } else
            return usage_error("%s: unknown option", argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error("unexpected argument %s", argv[optind]);
    if (!*path)
        return usage_error("%s: -c FILE is required", argv[0]);
    return 0;
}

static void print_pipeline(const host_pipeline_conf *pipeline) {
    printf("pipeline %s: group %s, topics", pipeline->name, pipeline->group_id);
    for (size_t t = 0; t < pipeline->topic_count; t++)
        printf(" %s", pipeline->topics[t]);
    printf("\n  decoder %s, sink %s (batch_rows %lld, linger_ms %lld, workers %lld), offsets %s, "
           "dlq %s\n",
           pipeline->decoder.plugin->descriptor->name, pipeline->sink.plugin->descriptor->name,
           (long long)host_config_int(&pipeline->sink.options, "batch_rows"),
           (long long)host_config_int(&pipeline->sink.options, "linger_ms"),
           (long long)host_config_int(&pipeline->sink.options, "workers"),
           pipeline->offsets.plugin->descriptor->name, pipeline->dlq.plugin->descriptor->name);
}

/* Probes the brokers of a pipeline with a metadata request. */
static int probe_kafka(const host_pipeline_conf *pipeline, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < pipeline->kafka.count; i++)
        rd_kafka_conf_set(conf, pipeline->kafka.items[i].name, pipeline->kafka.items[i].value, NULL,
                          0);
    rd_kafka_t *client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!client)
        return -1;
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(client, 0, NULL, &metadata, 10000);
    if (err)
        snprintf(errstr, errstr_size, "kafka: %s", rd_kafka_err2str(err));
    else
        rd_kafka_metadata_destroy(metadata);
    rd_kafka_destroy(client);
    return err ? -1 : 0;
}

static int command_check(int argc, char **argv) {
    const char *path = NULL;
    int connect = 0;
    int rc = parse_config_args(argc, argv, &path, &connect);
    if (rc)
        return rc < 0 ? 0 : rc;
    host_conf conf;
    char errstr[2048];
    if (host_conf_load(&conf, path, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "beast: %s\n", errstr);
        return EXIT_USAGE;
    }
    int status = 0;
    for (size_t i = 0; i < conf.pipeline_count && status == 0; i++) {
        host_pipeline_conf *pipeline_conf = &conf.pipelines[i];
        host_pipeline *pipeline =
            host_pipeline_create(pipeline_conf, conf.data_dir, errstr, sizeof(errstr));
        if (!pipeline) {
            fprintf(stderr, "beast: %s: %s\n", path, errstr);
            status = EXIT_USAGE;
            break;
        }
        print_pipeline(pipeline_conf);
        if (connect) {
            if (probe_kafka(pipeline_conf, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "beast: pipeline %s: %s\n", pipeline_conf->name, errstr);
                status = EXIT_RUNTIME;
            } else {
                printf("  kafka: reachable\n");
            }
            int sink_status = host_pipeline_probe_sink(pipeline, errstr, sizeof(errstr));
            if (sink_status < 0) {
                fprintf(stderr, "beast: pipeline %s: sink: %s\n", pipeline_conf->name, errstr);
                status = EXIT_RUNTIME;
            } else if (sink_status > 0) {
                printf("  sink: reachable\n");
            }
        }
        host_pipeline_destroy(pipeline);
    }
    if (status == 0)
        printf("%s: ok (%zu pipeline%s)\n", path, conf.pipeline_count,
               conf.pipeline_count == 1 ? "" : "s");
    host_conf_free(&conf);
    return status;
}

/* ---------------------------------------------------------------------- */

static int command_run(int argc, char **argv) {
    const char *path = NULL;
    int rc = parse_config_args(argc, argv, &path, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    host_conf conf;
    char errstr[2048];
    if (host_conf_load(&conf, path, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "beast: %s\n", errstr);
        return EXIT_USAGE;
    }
    if (make_directories(conf.data_dir) != 0) {
        fprintf(stderr, "beast: data_dir %s: %s\n", conf.data_dir, strerror(errno));
        host_conf_free(&conf);
        return EXIT_USAGE;
    }
    if (conf.metrics_listen && host_metrics_start(conf.metrics_listen, errstr, sizeof(errstr))) {
        fprintf(stderr, "beast: %s\n", errstr);
        host_conf_free(&conf);
        return EXIT_USAGE;
    }
    host_metrics_expect_ready((int)conf.pipeline_count);
    host_pipeline **pipelines = calloc(conf.pipeline_count, sizeof(*pipelines));
    int status = pipelines ? 0 : EXIT_RUNTIME;
    size_t created = 0;
    for (; status == 0 && created < conf.pipeline_count; created++) {
        pipelines[created] =
            host_pipeline_create(&conf.pipelines[created], conf.data_dir, errstr, sizeof(errstr));
        if (!pipelines[created]) {
            host_log(BEAST_LOG_ERROR, NULL, "%s", errstr);
            status = EXIT_USAGE;
            break;
        }
        if (host_pipeline_start(pipelines[created], errstr, sizeof(errstr)) != 0) {
            host_log(BEAST_LOG_ERROR, conf.pipelines[created].name, "cannot start: %s", errstr);
            status = EXIT_RUNTIME;
            created++;
            break;
        }
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    int64_t deadline = -1;
    const char *reason = status ? "start failed" : NULL;
    for (;;) {
        if (!reason) {
            struct timespec tick = {0, 200 * 1000 * 1000};
            int signal_number = sigtimedwait(&signals, NULL, &tick);
            if (signal_number == SIGTERM || signal_number == SIGINT)
                reason = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
            for (size_t i = 0; !reason && i < created; i++)
                if (host_pipeline_failed(pipelines[i]))
                    reason = "a pipeline failed";
            if (!reason)
                continue;
            host_log(BEAST_LOG_INFO, NULL, "%s: draining (up to %d s)", reason,
                     conf.shutdown_timeout_s);
            for (size_t i = 0; i < created; i++)
                host_pipeline_stop(pipelines[i]);
            deadline = host_monotonic_us() + (int64_t)conf.shutdown_timeout_s * 1000000;
        }
        int all_finished = 1;
        for (size_t i = 0; i < created; i++)
            all_finished &= host_pipeline_finished(pipelines[i]);
        if (all_finished)
            break;
        if (deadline >= 0 && host_monotonic_us() >= deadline) {
            host_log(BEAST_LOG_WARN, NULL,
                     "shutdown_timeout_s passed: abandoning what is in flight (not committed; "
                     "it will be consumed again)");
            for (size_t i = 0; i < created; i++)
                host_pipeline_abandon(pipelines[i]);
            deadline = -1;
        }
        struct timespec pause = {0, 20 * 1000 * 1000};
        if (sigtimedwait(&signals, NULL, &pause) > 0) {
            host_log(BEAST_LOG_WARN, NULL, "second signal: abandoning what is in flight");
            for (size_t i = 0; i < created; i++)
                host_pipeline_abandon(pipelines[i]);
        }
    }
    uint64_t abandoned = 0;
    for (size_t i = 0; i < created; i++) {
        if (host_pipeline_failed(pipelines[i]))
            status = EXIT_RUNTIME;
        abandoned += host_pipeline_destroy(pipelines[i]);
    }
    free(pipelines);
    if (abandoned && status == 0)
        status = EXIT_RUNTIME;
    if (status == 0)
        host_log(BEAST_LOG_INFO, NULL, "drained and committed; exiting");
    else
        host_log(BEAST_LOG_WARN, NULL,
                 "exiting with status %d (%llu messages not acknowledged; they were not "
                 "committed and will be consumed again)",
                 status, (unsigned long long)abandoned);
    host_metrics_shutdown();
    host_conf_free(&conf);
    return status;
}

/* ---------------------------------------------------------------------- */

static int command_schema(int argc, char **argv) {
    const char *descriptor_set = NULL, *message = NULL, *format = "bigquery";
    const char *dir = getenv("BEAST_PLUGIN_DIR") ? getenv("BEAST_PLUGIN_DIR") : "build/plugins";
    static const struct option long_options[] = {{"descriptor-set", required_argument, NULL, 'd'},
                                                 {"message", required_argument, NULL, 'm'},
                                                 {"format", required_argument, NULL, 'f'},
                                                 {"plugin-dir", required_argument, NULL, 'p'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:m:f:p:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'd':
            descriptor_set = optarg;
            break;
        case 'm':
            message = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'p':
            dir = optarg;
            break;
        case 'h':
            printf("usage: beast schema --descriptor-set F --message M "
                   "[--format bigquery|config] [--plugin-dir D]\n");
            return 0;
        default:
            return usage_error("schema: unknown option %s", argv[optind - 1]);
        }
    }
    if (!descriptor_set || !message)
        return usage_error("%s", "schema: --descriptor-set and --message are required");
    if (strcmp(format, "bigquery") != 0 && strcmp(format, "config") != 0)
        return usage_error("schema: --format must be bigquery or config, not %s", format);
    char errstr[2048];
    host_log_level = BEAST_LOG_WARN; /* stdout is the schema; keep stderr for problems */
    const host_plugin *plugin =
        host_plugin_find(dir, BEAST_KIND_DECODER, "proto", errstr, sizeof(errstr));
    if (!plugin) {
        fprintf(stderr, "beast: %s\n", errstr);
        return EXIT_USAGE;
    }
    /* The options as a config group, validated like any pipeline's. */
    config_t file;
    config_init(&file);
    config_setting_t *root = config_root_setting(&file);
    config_setting_set_string(config_setting_add(root, "descriptor_set", CONFIG_TYPE_STRING),
                              descriptor_set);
    config_setting_set_string(config_setting_add(root, "message", CONFIG_TYPE_STRING), message);
    beast_config options;
    beast_instance instance;
    memset(&instance, 0, sizeof(instance));
    int status = 0;
    if (host_options_apply(root, "schema", plugin->descriptor->options, NULL, NULL, &options,
                           errstr, sizeof(errstr)) != 0 ||
        host_instance_init(&instance, plugin, &options, "schema", ".", errstr, sizeof(errstr)) !=
            0) {
        fprintf(stderr, "beast: %s\n", errstr);
        status = EXIT_USAGE;
    } else {
        const beast_schema *schema = plugin->descriptor->decoder->schema(instance.ctx);
        if (!schema) {
            fprintf(stderr, "beast: the proto decoder published no schema for %s\n", message);
            status = EXIT_USAGE;
        } else if (strcmp(format, "bigquery") == 0) {
            host_schema_print_bigquery(stdout, schema, 1, NULL);
        } else {
            host_schema_print_config(stdout, descriptor_set, message, schema);
        }
        host_instance_destroy(&instance);
    }
    host_options_free(&options);
    config_destroy(&file);
    return status;
}

/* ---------------------------------------------------------------------- */

static int command_audit(int argc, char **argv) {
    const char *path = NULL, *only = NULL;
    static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                                 {"pipeline", required_argument, NULL, 'p'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:h", long_options, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'p')
            only = optarg;
        else if (c == 'h') {
            printf("usage: beast audit -c FILE [--pipeline P]\n"
                   "  For every partition of the pipeline's topics: Kafka's low/high watermarks\n"
                   "  and the group's committed offset against the offsets the table and the\n"
                   "  DLQ hold (their metadata columns). Offsets below the low watermark\n"
                   "  (retention) are not asked about.\n"
                   "  exit: 0 no gap, 1 gap, 2 bad config or usage or a sink that cannot be\n"
                   "  audited, 3 Kafka or a destination could not be read\n");
            return 0;
        } else
            return usage_error("audit: unknown option %s", argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error("unexpected argument %s", argv[optind]);
    if (!path)
        return usage_error("%s", "audit: -c FILE is required");
    host_conf conf;
    char errstr[2048];
    if (host_conf_load(&conf, path, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "beast: %s\n", errstr);
        return EXIT_USAGE;
    }
    /* stdout is the report; keep stderr for problems unless debugging. */
    if (host_log_level > BEAST_LOG_WARN && host_log_level != BEAST_LOG_DEBUG)
        host_log_level = BEAST_LOG_WARN;
    int status = host_audit_run(&conf, only);
    host_conf_free(&conf);
    return status;
}

/* ---------------------------------------------------------------------- */

int host_cli_main(int argc, char **argv) {
    /* Every thread inherits this mask; the main thread takes the signals. */
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(command, "-V") == 0 || strcmp(command, "--version") == 0) {
        printf("beast %s (plugin ABI %d.%d, librdkafka %s)\n", BEAST_VERSION, BEAST_ABI_MAJOR,
               BEAST_ABI_MINOR, rd_kafka_version_str());
        return 0;
    }
    if (command[0] == '-') /* beast -c FILE */
        return command_run(argc, argv);
    if (strcmp(command, "run") == 0)
        return command_run(argc - 1, argv + 1);
    if (strcmp(command, "check") == 0)
        return command_check(argc - 1, argv + 1);
    if (strcmp(command, "plugins") == 0)
        return command_plugins(argc - 1, argv + 1);
    if (strcmp(command, "schema") == 0)
        return command_schema(argc - 1, argv + 1);
    if (strcmp(command, "audit") == 0)
        return command_audit(argc - 1, argv + 1);
    return usage_error("unknown command %s", command);
}
