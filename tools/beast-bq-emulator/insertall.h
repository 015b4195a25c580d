/* insertall.h — what tabledata.insertAll's two modes share: the request
 * limits, the answer's shapes, and the --fast handler (insertall_fast.c). */
#ifndef BQEMU_INSERTALL_H
#define BQEMU_INSERTALL_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct http_request;
struct http_reply;

#define INSERTALL_MAX_BYTES 10485760
#define INSERTALL_MAX_ROWS 50000

/* {"kind":"bigquery#tableDataInsertAllResponse"}; caller owns it. */
cJSON *insertall_response(void);
/* One entry of an insertErrors "errors" list; caller owns it. */
cJSON *insertall_error_item(const char *reason, const char *location, const char *message);

/* insertAll under --fast, for the body after Content-Encoding (len bytes):
 * scans it (insertall_scan.h), counts the rows and dedups their insertIds in
 * memory, stores nothing. Answers what insertall_handle would, row checks
 * aside: only a row without a "json" object is invalid. */
void insertall_fast(struct http_request *req, struct http_reply *reply, const char *body,
                    size_t len, const char *project, const char *dataset, const char *table);

#endif
