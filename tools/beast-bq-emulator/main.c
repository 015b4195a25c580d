/* main.c — beast-bq-emulator: a local BigQuery v2 + Cloud Storage + OAuth2 token
 * REST stand-in. Parses flags, opens the store, starts the HTTP server, prints
 * "listening on http://HOST:PORT" as the first stdout line and runs until
 * SIGTERM/SIGINT, then exits 0. See docs/emulator.md. */
#include "codec.h"
#include "emulator.h"
#include "faults.h"
#include "http_server.h"
#include "storage.h"
#include "token.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: beast-bq-emulator --listen HOST:PORT [options]\n"
            "\n"
            "A local BigQuery v2 + Cloud Storage JSON API + OAuth2 token endpoint.\n"
            "\n"
            "  --listen HOST:PORT     address to serve (port 0 picks a free port); required\n"
            "  --data DIR             SQLite store directory (default ./emulator-data)\n"
            "  --public-key PEM       verify JWT signatures with this RSA key; requires tokens\n"
            "  --require-auth         require Bearer tokens without checking JWT signatures\n"
            "  --token-ttl S          lifetime of issued access tokens (default 3600)\n"
            "  --token-audience URL   also accept this JWT \"aud\" (default: this server's /token\n"
            "                         and Google's token URLs)\n"
            "  --fast                 insertAll counts and dedups rows in memory, stores nothing\n"
            "  --error-rate F         answer this fraction of data requests with an error\n"
            "  --error-codes LIST     codes for --error-rate (default 500,503,429)\n"
            "  --latency-ms N         delay every data request by N ms\n"
            "  --drop-rate F          close this fraction of data requests without an answer\n"
            "  --drop-after-rate F    store, then close without an answer (forces replays)\n"
            "  --burst-429 N          answer the next N data requests with 429\n"
            "  --seed N               seed of the fault generator (default: random)\n"
            "  --help                 this text\n"
            "\n"
            "Data requests are insertAll and GCS uploads; /admin/faults changes faults at run\n"
            "time, /admin/stats reports counters.\n");
}

static bool parse_rate(const char *text, double *out) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || value < 0 || value > 1)
        return false;
    *out = value;
    return true;
}

static bool parse_int(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

/* Splits "HOST:PORT" or "[V6]:PORT". */
static bool parse_listen(const char *text, char **host, int *port) {
    const char *colon;
    const char *host_start = text;
    size_t host_len;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return false;
        host_start = text + 1;
        host_len = (size_t)(close - host_start);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return false;
        host_len = (size_t)(colon - text);
    }
    long value;
    if (host_len == 0 || !parse_int(colon + 1, 0, 65535, &value))
        return false;
    *host = xstrndup(host_start, host_len);
    *port = (int)value;
    return true;
}

static void emulator_free(struct emulator *emu) {
    fast_insert_destroy(emu->fast_insert);
    query_jobs_destroy(emu->jobs);
    token_registry_destroy(emu->tokens);
    faults_destroy(emu->faults);
    store_close(emu->store);
    free(emu->config.listen_host);
    free(emu->config.data_dir);
    free(emu->config.public_key_path);
    free(emu->config.token_audience);
}

int main(int argc, char **argv) {
    enum {
        OPT_LISTEN = 1000,
        OPT_DATA,
        OPT_PUBLIC_KEY,
        OPT_REQUIRE_AUTH,
        OPT_TOKEN_TTL,
        OPT_TOKEN_AUDIENCE,
        OPT_FAST,
        OPT_ERROR_RATE,
        OPT_ERROR_CODES,
        OPT_LATENCY,
        OPT_DROP,
        OPT_DROP_AFTER,
        OPT_BURST,
        OPT_SEED,
        OPT_HELP,
    };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"data", required_argument, NULL, OPT_DATA},
        {"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
        {"require-auth", no_argument, NULL, OPT_REQUIRE_AUTH},
        {"token-ttl", required_argument, NULL, OPT_TOKEN_TTL},
        {"token-audience", required_argument, NULL, OPT_TOKEN_AUDIENCE},
        {"fast", no_argument, NULL, OPT_FAST},
        {"error-rate", required_argument, NULL, OPT_ERROR_RATE},
        {"error-codes", required_argument, NULL, OPT_ERROR_CODES},
        {"latency-ms", required_argument, NULL, OPT_LATENCY},
        {"drop-rate", required_argument, NULL, OPT_DROP},
        {"drop-after-rate", required_argument, NULL, OPT_DROP_AFTER},
        {"burst-429", required_argument, NULL, OPT_BURST},
        {"seed", required_argument, NULL, OPT_SEED},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    static struct emulator emu;
    struct fault_settings faults = {.codes = {500, 503, 429}, .code_count = 3};
    emu.config.token_ttl_s = 3600;
    uint64_t seed = 0;
    const char *listen = NULL;
    int opt;
    long number;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_DATA:
            free(emu.config.data_dir);
            emu.config.data_dir = xstrdup(optarg);
            break;
        case OPT_PUBLIC_KEY:
            free(emu.config.public_key_path);
            emu.config.public_key_path = xstrdup(optarg);
            emu.config.require_auth = true;
            break;
        case OPT_REQUIRE_AUTH:
            emu.config.require_auth = true;
            break;
        case OPT_TOKEN_TTL:
            ok = parse_int(optarg, 1, 86400 * 365, &number);
            emu.config.token_ttl_s = (int)number;
            break;
        case OPT_TOKEN_AUDIENCE:
            free(emu.config.token_audience);
            emu.config.token_audience = xstrdup(optarg);
            break;
        case OPT_FAST:
            emu.config.fast = true;
            break;
        case OPT_ERROR_RATE:
            ok = parse_rate(optarg, &faults.error_rate);
            break;
        case OPT_ERROR_CODES:
            ok = faults_parse_codes(optarg, &faults);
            break;
        case OPT_LATENCY:
            ok = parse_int(optarg, 0, 600000, &number);
            faults.latency_ms = (int)number;
            break;
        case OPT_DROP:
            ok = parse_rate(optarg, &faults.drop_rate);
            break;
        case OPT_DROP_AFTER:
            ok = parse_rate(optarg, &faults.drop_after_rate);
            break;
        case OPT_BURST:
            ok = parse_int(optarg, 0, 1000000000, &number);
            faults.burst_429 = number;
            break;
        case OPT_SEED:
            ok = parse_int(optarg, 1, __LONG_MAX__, &number);
            seed = (uint64_t)number;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "beast-bq-emulator: invalid value for --%s: %s\n",
                    options[opt - OPT_LISTEN].name, optarg);
            emulator_free(&emu);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "beast-bq-emulator: unexpected argument: %s\n", argv[optind]);
        emulator_free(&emu);
        return 2;
    }
    if (!listen || !parse_listen(listen, &emu.config.listen_host, &emu.config.listen_port)) {
        fprintf(stderr, "beast-bq-emulator: --listen HOST:PORT is required (got %s)\n",
                listen ? listen : "nothing");
        usage(stderr);
        emulator_free(&emu);
        return 2;
    }
    if (!emu.config.data_dir)
        emu.config.data_dir = xstrdup("emulator-data");

    char err[512];
    /* the key first: a bad flag should not leave a data directory behind */
    if (token_registry_create(emu.config.public_key_path, emu.config.token_ttl_s, &emu.tokens, err,
                              sizeof err) != 0 ||
        store_open(emu.config.data_dir, &emu.store, err, sizeof err) != 0) {
        fprintf(stderr, "beast-bq-emulator: %s\n", err);
        emulator_free(&emu);
        return 1;
    }
    emu.faults = faults_create(&faults, seed ? seed : random_u64() | 1);
    emu.jobs = query_jobs_create();
    emu.fast_insert = fast_insert_create();

    /* every thread started from here on inherits the blocked set; main waits */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct http_server *server = NULL;
    int port = 0;
    if (http_server_start(&emu, emu.config.listen_host, emu.config.listen_port, &server, &port, err,
                          sizeof err) != 0) {
        fprintf(stderr, "beast-bq-emulator: %s\n", err);
        emulator_free(&emu);
        return 1;
    }
    bool v6 = strchr(emu.config.listen_host, ':') != NULL;
    snprintf(emu.base_url, sizeof emu.base_url, "http://%s%s%s:%d", v6 ? "[" : "",
             emu.config.listen_host, v6 ? "]" : "", port);
    printf("listening on %s\n", emu.base_url);
    fflush(stdout);
    fprintf(stderr, "beast-bq-emulator: data in %s, auth %s%s%s\n", emu.config.data_dir,
            emu.config.require_auth ? "required" : "none",
            emu.config.public_key_path ? " (JWT signatures checked)" : "",
            emu.config.fast ? ", --fast: rows are counted, not stored" : "");

    int signal_number = 0;
    while (sigwait(&stop_signals, &signal_number) != 0)
        ;
    fprintf(stderr, "beast-bq-emulator: %s, stopping\n", strsignal(signal_number));
    http_server_stop(server);
    emulator_free(&emu);
    return 0;
}
