/*
 * insertall_flood.c — load driver for beast-bq-emulator (make bench, never a
 * test): N threads, each with its own keep-alive libcurl handle, POST
 * pre-built insertAll bodies (R rows of about B bytes of JSON each, shaped like
 * beast's rows: many short fields, nested objects, metadata columns) for S
 * seconds. Only the insertIds change between requests (fixed-width digits
 * rewritten in place), so every row is new unless --repeat.
 * Reports rows/s, MB/s and, with --pid, the emulator's CPU time per row from
 * /proc/PID/stat (utime + stime), which is what the emulator costs a benchmark.
 *   insertall_flood --url http://127.0.0.1:PORT [--pid PID] [--threads 4]
 *     [--seconds 10] [--rows 500] [--row-bytes 1400] [--project bench]
 *     [--dataset bench] [--table flood] [--create] [--repeat]
 *   insertall_flood --dump FILE [--rows R] [--row-bytes B]   (one body, to look at)
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ID_DIGITS 12

struct options {
    const char *url;
    const char *project, *dataset, *table;
    long pid;
    int threads;
    double seconds;
    int rows;
    int row_bytes;
    bool create;
    bool repeat;
    const char *dump; /* write one body there and exit */
};

struct body {
    char *data;
    size_t len;
    size_t *id_digits; /* offset of each row's ID_DIGITS-digit id field */
};

struct worker {
    pthread_t thread;
    const struct options *options;
    const char *insert_url;
    struct body body;
    uint64_t requests, rows, failures;
    char last_error[256];
};

static atomic_uint_fast64_t next_batch;
static atomic_bool stopping;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void append(char **buf, size_t *len, size_t *cap, const char *text, size_t n) {
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 65536;
        *buf = realloc(*buf, *cap);
        if (!*buf) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    char text[512];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    append(buf, len, cap, text, (size_t)n);
}

/* One row's "json" object of about `target` bytes. */
static void append_row_json(char **buf, size_t *len, size_t *cap, int row, int target) {
    size_t start = *len;
    appendf(buf, len, cap,
            "{\"seq\":%d,\"id\":\"evt-%06d\",\"user_id\":\"user-4242\",\"amount\":1234.56,"
            "\"currency\":\"EUR\",\"active\":true,\"tags\":[\"alpha\",\"beta\",\"gamma\"],"
            "\"created_at\":\"2026-11-24T16:30:53.123Z\",\"nested\":{\"city\":\"Berlin\","
            "\"lat\":52.52,\"lon\":13.405,\"zip\":\"10115\"},\"device\":{\"os\":\"android\","
            "\"version\":\"14.2\",\"model\":\"Pixel 8\"}",
            row, row);
    for (int k = 0; (int)(*len - start) < target - 90; k++) {
        if (k % 3 == 2)
            appendf(buf, len, cap, ",\"metric_%02d\":%d.%03d", k, 1000 + k * 37, k * 11 % 1000);
        else
            appendf(buf, len, cap, ",\"attr_%02d\":\"value %02d of the row, text\"", k, k);
    }
    appendf(buf, len, cap,
            ",\"message_topic\":\"events\",\"message_partition\":%d,\"message_offset\":%d}",
            row % 4, row);
}

static void build_body(const struct options *options, struct body *body) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    body->id_digits = calloc((size_t)options->rows, sizeof *body->id_digits);
    const char *head = "{\"kind\":\"bigquery#tableDataInsertAllRequest\",\"skipInvalidRows\":false,"
                       "\"ignoreUnknownValues\":false,\"rows\":[";
    append(&buf, &len, &cap, head, strlen(head));
    for (int r = 0; r < options->rows; r++) {
        appendf(&buf, &len, &cap, "%s{\"insertId\":\"flood:", r ? "," : "");
        body->id_digits[r] = len;
        appendf(&buf, &len, &cap, "%0*d\",\"json\":", ID_DIGITS, 0);
        append_row_json(&buf, &len, &cap, r, options->row_bytes);
        append(&buf, &len, &cap, "}", 1);
    }
    append(&buf, &len, &cap, "]}", 2);
    body->data = buf;
    body->len = len;
}

/* Writes `number` as ID_DIGITS decimal digits at `at`. */
static void write_digits(char *at, uint64_t number) {
    for (int i = ID_DIGITS - 1; i >= 0; i--) {
        at[i] = (char)('0' + number % 10);
        number /= 10;
    }
}

struct response {
    char text[4096];
    size_t len;
};

static size_t collect(char *data, size_t size, size_t count, void *user) {
    struct response *response = user;
    size_t n = size * count;
    size_t room = sizeof response->text - 1 - response->len;
    size_t keep = n < room ? n : room;
    memcpy(response->text + response->len, data, keep);
    response->len += keep;
    response->text[response->len] = '\0';
    return n;
}

static CURL *new_handle(const char *url, struct curl_slist *headers, struct response *response) {
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    return curl;
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    const struct options *options = w->options;
    struct response response;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    CURL *curl = new_handle(w->insert_url, headers, &response);
    while (!atomic_load(&stopping)) {
        uint64_t batch = options->repeat ? 0 : atomic_fetch_add(&next_batch, 1);
        for (int r = 0; r < options->rows; r++)
            write_digits(w->body.data + w->body.id_digits[r], batch * (uint64_t)options->rows + r);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, w->body.data);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->body.len);
        response.len = 0;
        response.text[0] = '\0';
        CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        w->requests++;
        if (rc != CURLE_OK || status != 200 || strstr(response.text, "insertErrors")) {
            w->failures++;
            snprintf(w->last_error, sizeof w->last_error, "%s, HTTP %ld: %.180s",
                     rc == CURLE_OK ? "ok" : curl_easy_strerror(rc), status, response.text);
        } else {
            w->rows += (uint64_t)options->rows;
        }
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    return NULL;
}

/* utime + stime of a process in seconds, -1 when unreadable. */
static double process_cpu_seconds(long pid) {
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static void create_table(const struct options *options) {
    char url[1024], body[512];
    snprintf(url, sizeof url, "%s/bigquery/v2/projects/%s/datasets/%s/tables", options->url,
             options->project, options->dataset);
    snprintf(body, sizeof body,
             "{\"tableReference\":{\"tableId\":\"%s\"},\"schema\":{\"fields\":["
             "{\"name\":\"seq\",\"type\":\"INTEGER\"}]}}",
             options->table);
    struct response response = {0};
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *curl = new_handle(url, headers, &response);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK || (status != 200 && status != 409)) {
        fprintf(stderr, "insertall_flood: creating the table: %s, HTTP %ld: %s\n",
                curl_easy_strerror(rc), status, response.text);
        exit(1);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: insertall_flood --url http://127.0.0.1:PORT [--pid PID] "
                    "[--threads N] [--seconds S] [--rows R] [--row-bytes B]\n"
                    "       [--project P] [--dataset D] [--table T] [--create] [--repeat]\n"
                    "       insertall_flood --dump FILE [--rows R] [--row-bytes B]\n");
    exit(2);
}

int main(int argc, char **argv) {
    struct options options = {.project = "bench",
                              .dataset = "bench",
                              .table = "flood",
                              .threads = 4,
                              .seconds = 10,
                              .rows = 500,
                              .row_bytes = 1400};
    static const struct option long_options[] = {
        {"url", required_argument, NULL, 'u'},
        {"pid", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"seconds", required_argument, NULL, 's'},
        {"rows", required_argument, NULL, 'r'},
        {"row-bytes", required_argument, NULL, 'b'},
        {"project", required_argument, NULL, 'P'},
        {"dataset", required_argument, NULL, 'D'},
        {"table", required_argument, NULL, 'T'},
        {"create", no_argument, NULL, 'c'},
        {"repeat", no_argument, NULL, 'R'},
        {"dump", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'u':
            options.url = optarg;
            break;
        case 'p':
            options.pid = atol(optarg);
            break;
        case 't':
            options.threads = atoi(optarg);
            break;
        case 's':
            options.seconds = atof(optarg);
            break;
        case 'r':
            options.rows = atoi(optarg);
            break;
        case 'b':
            options.row_bytes = atoi(optarg);
            break;
        case 'P':
            options.project = optarg;
            break;
        case 'D':
            options.dataset = optarg;
            break;
        case 'T':
            options.table = optarg;
            break;
        case 'c':
            options.create = true;
            break;
        case 'R':
            options.repeat = true;
            break;
        case 'd':
            options.dump = optarg;
            break;
        default:
            usage();
        }
    }
    if (options.dump) {
        struct body body;
        build_body(&options, &body);
        FILE *out = fopen(options.dump, "wb");
        if (!out || fwrite(body.data, 1, body.len, out) != body.len || fclose(out) != 0) {
            perror(options.dump);
            return 1;
        }
        return 0;
    }
    if (!options.url || options.threads < 1 || options.rows < 1 || options.seconds <= 0)
        usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (options.create)
        create_table(&options);
    char insert_url[1024];
    snprintf(insert_url, sizeof insert_url,
             "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll", options.url,
             options.project, options.dataset, options.table);

    struct worker *workers = calloc((size_t)options.threads, sizeof *workers);
    for (int i = 0; i < options.threads; i++) {
        workers[i].options = &options;
        workers[i].insert_url = insert_url;
        build_body(&options, &workers[i].body);
    }
    size_t body_len = workers[0].body.len;
    printf("insertall_flood: %d threads, %d rows/request, %.0f B/row, %.0f KB/request, %.1f s\n",
           options.threads, options.rows, (double)body_len / options.rows, body_len / 1024.0,
           options.seconds);

    double cpu_before = options.pid ? process_cpu_seconds(options.pid) : -1;
    double self_before = self_cpu_seconds();
    double started = now_seconds();
    for (int i = 0; i < options.threads; i++)
        pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]);
    while (now_seconds() - started < options.seconds)
        usleep(20000);
    atomic_store(&stopping, true);
    uint64_t requests = 0, rows = 0, failures = 0;
    const char *last_error = NULL;
    for (int i = 0; i < options.threads; i++) {
        pthread_join(workers[i].thread, NULL);
        requests += workers[i].requests;
        rows += workers[i].rows;
        failures += workers[i].failures;
        if (workers[i].failures)
            last_error = workers[i].last_error;
    }
    double elapsed = now_seconds() - started;
    double cpu_after = options.pid ? process_cpu_seconds(options.pid) : -1;
    double self_cpu = self_cpu_seconds() - self_before;

    printf("requests %llu (%llu failed), rows %llu, %.0f rows/s, %.1f MB/s of JSON\n",
           (unsigned long long)requests, (unsigned long long)failures, (unsigned long long)rows,
           rows / elapsed, (double)(requests - failures) * body_len / elapsed / 1e6);
    if (cpu_before >= 0 && cpu_after >= 0 && rows > 0)
        printf("emulator pid %ld: %.2f s CPU in %.2f s (%.0f%% of a core), %.3f CPU-us/row\n",
               options.pid, cpu_after - cpu_before, elapsed,
               100 * (cpu_after - cpu_before) / elapsed, (cpu_after - cpu_before) * 1e6 / rows);
    if (rows > 0)
        printf("this client: %.2f s CPU, %.3f CPU-us/row\n", self_cpu, self_cpu * 1e6 / rows);
    if (last_error)
        printf("last failure: %s\n", last_error);
    for (int i = 0; i < options.threads; i++) {
        free(workers[i].body.data);
        free(workers[i].body.id_digits);
    }
    free(workers);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
