/*
 * audit.c — the BigQuery sink's audit operation (`beast audit`): which Kafka
 * offsets of a partition the table holds, read from the metadata columns
 * with jobs.query in standard SQL. One aggregate query per asked range
 * (COUNT(*), COUNT(DISTINCT offset)); only when offsets are missing, the
 * distinct offsets are listed in order, page by page, to find the gaps.
 * The same requests work against Google and beast-bq-emulator.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_bigquery.h"

#define AUDIT_PAGE_ROWS 100000
/* How long a query may stay unfinished (jobComplete false) before the
 * audit gives up on it with RETRY. */
#define AUDIT_QUERY_WAIT_US (300LL * 1000000)
#define AUDIT_MAX_PAGES 1000000

/* One query's context: the request's columns quoted, the table, the URL. */
typedef struct audit_query {
    bq_sink *sink;
    bq_http *http;
    const beast_audit_request *request;
    const bq_table *table;
    char queries_url[2048]; /* {endpoint}/bigquery/v2/projects/P/queries */
    char topic[700], partition[700], offset[700];
    char from_table[1400]; /* `project.dataset.table` */
    int table_missing;
} audit_query;

/* Writes `path` ("meta.message_offset") as `meta`.`message_offset`. 0 ok,
 * -1 when it does not fit or holds a backtick. */
static int quote_column(const char *path, char *out, size_t out_size) {
    size_t used = 0;
    for (const char *p = path;; p++) {
        if (used + 4 >= out_size || *p == '`')
            return -1;
        if (p == path || p[-1] == '.')
            out[used++] = '`';
        if (*p == '.' || *p == '\0') {
            out[used++] = '`';
            if (*p == '\0')
                break;
            out[used++] = '.';
            continue;
        }
        out[used++] = *p;
    }
    out[used] = '\0';
    return 0;
}

static void add_parameter(cJSON *parameters, const char *name, const char *type,
                          const char *value) {
    cJSON *parameter = cJSON_CreateObject();
    cJSON_AddStringToObject(parameter, "name", name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(parameter, "parameterType"), "type", type);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(parameter, "parameterValue"), "value", value);
    cJSON_AddItemToArray(parameters, parameter);
}

/* The cell `column` of `row` ({"f":[{"v":...}]}) as an integer; 0 when NULL. */
static int64_t cell_int(const cJSON *row, int column) {
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(row, "f");
    const cJSON *cell = cJSON_GetArrayItem(cells, column);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(cell, "v");
    if (cJSON_IsString(value))
        return strtoll(value->valuestring, NULL, 10);
    if (cJSON_IsNumber(value))
        return (int64_t)value->valuedouble;
    return 0;
}

/* Turns an answer that is not 200 into a result and errstr. A missing
 * table (404 on jobs.query) is not an error: it holds nothing. */
static beast_result classify(audit_query *query, const char *what, const bq_response *response,
                             int is_first, char *errstr, size_t errstr_size) {
    char reason[128], message[512];
    bq_error_describe(response, reason, sizeof(reason), message, sizeof(message));
    long status = response->status;
    if (status == 404 && is_first) {
        query->table_missing = 1;
        return BEAST_OK;
    }
    snprintf(errstr, errstr_size, "%s: HTTP %ld %s%s%s", what, status, reason,
             message[0] ? ": " : "", message);
    if (status == 400)
        return BEAST_REJECT; /* the query itself: e.g. the table lacks the columns */
    if ((status == 401 || status == 403) && !bq_reason_is_quota(reason))
        return BEAST_FATAL;
    return BEAST_RETRY;
}

/* Sends a request and parses its 200 answer into *answer (caller deletes). */
static beast_result send_json(audit_query *query, const char *what, bq_request *request,
                              int is_first, cJSON **answer, char *errstr, size_t errstr_size) {
    bq_response response;
    *answer = NULL;
    beast_result result =
        bq_call(query->sink, query->http, what, request, &response, errstr, errstr_size);
    if (result != BEAST_OK)
        return result;
    if (response.status != 200)
        return classify(query, what, &response, is_first, errstr, errstr_size);
    *answer = cJSON_ParseWithLength(response.body, response.body_len);
    if (!*answer) {
        snprintf(errstr, errstr_size, "%s: the answer is not JSON", what);
        return BEAST_RETRY;
    }
    return BEAST_OK;
}

/* GET .../queries/JOB (jobs.getQueryResults) with a page token or a wait. */
static beast_result get_results(audit_query *query, const cJSON *previous, const char *page_token,
                                cJSON **answer, char *errstr, size_t errstr_size) {
    const cJSON *reference = cJSON_GetObjectItemCaseSensitive(previous, "jobReference");
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(reference, "jobId");
    const cJSON *location = cJSON_GetObjectItemCaseSensitive(reference, "location");
    if (!cJSON_IsString(job)) {
        snprintf(errstr, errstr_size, "jobs.query on %s: the answer has no jobReference.jobId",
                 query->table->label);
        return BEAST_RETRY;
    }
    CURL *easy = query->http->easy;
    char *job_id = curl_easy_escape(easy, job->valuestring, 0);
    char *token = page_token ? curl_easy_escape(easy, page_token, 0) : NULL;
    char *where =
        cJSON_IsString(location) ? curl_easy_escape(easy, location->valuestring, 0) : NULL;
    char url[4096];
    int fits = job_id && (!page_token || token) &&
               snprintf(url, sizeof(url), "%s/%s?maxResults=%d&timeoutMs=10000%s%s%s%s",
                        query->queries_url, job_id, AUDIT_PAGE_ROWS, token ? "&pageToken=" : "",
                        token ? token : "", where ? "&location=" : "",
                        where ? where : "") < (int)sizeof(url);
    curl_free(job_id);
    curl_free(token);
    curl_free(where);
    if (!fits) {
        snprintf(errstr, errstr_size, "jobs.getQueryResults on %s: URL too long",
                 query->table->label);
        return BEAST_FATAL;
    }
    char what[1200];
    snprintf(what, sizeof(what), "jobs.getQueryResults on %s", query->table->label);
    bq_request request = {.method = "GET", .url = url};
    return send_json(query, what, &request, 0, answer, errstr, errstr_size);
}

/* Runs `sql` with the request's parameters; the first page in *answer
 * (NULL when the table does not exist). Waits for jobComplete. */
static beast_result run_query(audit_query *query, const char *sql, cJSON **answer, char *errstr,
                              size_t errstr_size) {
    const beast_audit_request *request = query->request;
    char partition[24], from[24], to[24];
    snprintf(partition, sizeof(partition), "%d", (int)request->partition);
    snprintf(from, sizeof(from), "%lld", (long long)request->from_offset);
    snprintf(to, sizeof(to), "%lld", (long long)request->to_offset);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "query", sql);
    cJSON_AddFalseToObject(body, "useLegacySql");
    cJSON_AddFalseToObject(body, "useQueryCache");
    cJSON_AddStringToObject(body, "parameterMode", "NAMED");
    cJSON_AddNumberToObject(body, "maxResults", AUDIT_PAGE_ROWS);
    cJSON_AddNumberToObject(body, "timeoutMs", 10000);
    cJSON *parameters = cJSON_AddArrayToObject(body, "queryParameters");
    add_parameter(parameters, "topic", "STRING", request->topic);
    add_parameter(parameters, "kafka_partition", "INT64", partition);
    add_parameter(parameters, "from_offset", "INT64", from);
    add_parameter(parameters, "to_offset", "INT64", to);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) {
        snprintf(errstr, errstr_size, "out of memory");
        return BEAST_FATAL;
    }
    char what[1200];
    snprintf(what, sizeof(what), "jobs.query on %s", query->table->label);
    bq_request post = {.method = "POST",
                       .url = query->queries_url,
                       .content_type = "application/json",
                       .body = text,
                       .body_len = strlen(text)};
    beast_result result = send_json(query, what, &post, 1, answer, errstr, errstr_size);
    free(text);
    int64_t deadline = query->sink->api->monotonic_us() + AUDIT_QUERY_WAIT_US;
    while (result == BEAST_OK && *answer &&
           !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*answer, "jobComplete"))) {
        if (query->sink->api->monotonic_us() > deadline) {
            snprintf(errstr, errstr_size, "%s: not complete after %lld s", what,
                     AUDIT_QUERY_WAIT_US / 1000000);
            cJSON_Delete(*answer);
            *answer = NULL;
            return BEAST_RETRY;
        }
        cJSON *next = NULL;
        result = get_results(query, *answer, NULL, &next, errstr, errstr_size);
        cJSON_Delete(*answer);
        *answer = next;
    }
    if (result != BEAST_OK) {
        cJSON_Delete(*answer);
        *answer = NULL;
    }
    return result;
}

/* Lists the distinct offsets in order, page by page, reporting runs. */
static beast_result list_offsets(audit_query *query, const char *where_clause,
                                 beast_audit_report *report, char *errstr, size_t errstr_size) {
    char sql[6000];
    snprintf(sql, sizeof(sql), "SELECT DISTINCT %s AS kafka_offset FROM %s WHERE %s ORDER BY 1",
             query->offset, query->from_table, where_clause);
    cJSON *page = NULL;
    beast_result result = run_query(query, sql, &page, errstr, errstr_size);
    int64_t run_first = -1, run_last = -2;
    for (int pages = 0; result == BEAST_OK && page; pages++) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(page, "rows");
        const cJSON *row;
        cJSON_ArrayForEach(row, rows) {
            int64_t offset = cell_int(row, 0);
            if (offset == run_last + 1) {
                run_last = offset;
                continue;
            }
            if (run_first >= 0 && report->add_present(report, run_first, run_last) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                result = BEAST_FATAL;
                break;
            }
            run_first = run_last = offset;
        }
        const cJSON *token = cJSON_GetObjectItemCaseSensitive(page, "pageToken");
        cJSON *next = NULL;
        if (result == BEAST_OK && cJSON_IsString(token) && token->valuestring[0] &&
            pages < AUDIT_MAX_PAGES)
            result = get_results(query, page, token->valuestring, &next, errstr, errstr_size);
        cJSON_Delete(page);
        page = next;
    }
    cJSON_Delete(page);
    if (result == BEAST_OK && run_first >= 0 &&
        report->add_present(report, run_first, run_last) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        result = BEAST_FATAL;
    }
    return result;
}

beast_result bq_audit(void *ctx, const beast_audit_request *request, beast_audit_report *report,
                      char *errstr, size_t errstr_size) {
    bq_sink *sink = ctx;
    audit_query query = {.sink = sink, .request = request};
    query.table = sink->fixed_table ? sink->fixed_table : bq_table_for(sink, request->topic);
    if (!query.table) {
        snprintf(errstr, errstr_size, "out of memory");
        return BEAST_FATAL;
    }
    snprintf(report->where, sizeof(report->where), "%s", query.table->label);
    if (quote_column(request->topic_column, query.topic, sizeof(query.topic)) != 0 ||
        quote_column(request->partition_column, query.partition, sizeof(query.partition)) != 0 ||
        quote_column(request->offset_column, query.offset, sizeof(query.offset)) != 0) {
        snprintf(errstr, errstr_size, "cannot quote the columns %s, %s, %s", request->topic_column,
                 request->partition_column, request->offset_column);
        return BEAST_REJECT;
    }
    /* dataset_url is {endpoint}/bigquery/v2/projects/P/datasets/D. */
    size_t prefix = strlen(sink->dataset_url) - strlen("/datasets/") - strlen(sink->dataset);
    if (snprintf(query.queries_url, sizeof(query.queries_url), "%.*s/queries", (int)prefix,
                 sink->dataset_url) >= (int)sizeof(query.queries_url) ||
        snprintf(query.from_table, sizeof(query.from_table), "`%s.%s.%s`", sink->project,
                 sink->dataset, query.table->name) >= (int)sizeof(query.from_table)) {
        snprintf(errstr, errstr_size, "table name too long for a query: %s", query.table->label);
        return BEAST_REJECT;
    }
    char where_clause[3000], sql[6000];
    snprintf(where_clause, sizeof(where_clause),
             "%s = @topic AND %s = @kafka_partition AND %s >= @from_offset AND %s < @to_offset",
             query.topic, query.partition, query.offset, query.offset);
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) AS row_count, COUNT(DISTINCT %s) AS distinct_offsets FROM %s "
             "WHERE %s",
             query.offset, query.from_table, where_clause);

    query.http = bq_http_checkout(sink);
    if (!query.http) {
        snprintf(errstr, errstr_size, "out of memory (curl handle)");
        return BEAST_RETRY;
    }
    cJSON *answer = NULL;
    beast_result result = run_query(&query, sql, &answer, errstr, errstr_size);
    if (result == BEAST_OK && answer) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(answer, "rows");
        const cJSON *row = cJSON_GetArrayItem(rows, 0);
        report->rows = row ? cell_int(row, 0) : 0;
        report->distinct = row ? cell_int(row, 1) : 0;
        int64_t expected = request->to_offset - request->from_offset;
        if (report->distinct >= expected) {
            /* Everything is there: no need to list a single offset. */
            if (report->add_present(report, request->from_offset, request->to_offset - 1) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                result = BEAST_FATAL;
            }
        } else if (report->distinct > 0) {
            result = list_offsets(&query, where_clause, report, errstr, errstr_size);
        }
    }
    cJSON_Delete(answer);
    bq_http_checkin(sink, query.http);
    return result;
}
