/*
 * audit.h — `beast audit`: for every partition of a pipeline's topics,
 * compares what Kafka holds (low/high watermarks, the committed offset)
 * with what the sink's destination and the DLQ hold (through the sinks'
 * optional audit operation), and prints expected / found / missing ranges /
 * duplicates. Also the offset-range arithmetic it rests on, kept pure so the
 * unit tests can reach it.
 */
#ifndef HOST_AUDIT_H
#define HOST_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Exit statuses of `beast audit`. */
#define HOST_AUDIT_NO_GAP 0
#define HOST_AUDIT_GAP 1
#define HOST_AUDIT_USAGE 2  /* bad config or usage, or a sink that cannot be audited */
#define HOST_AUDIT_FAILED 3 /* Kafka or a destination could not be read: no verdict */

/* ---------------------------------------------------------------------- */
/* Offset ranges                                                           */
/* ---------------------------------------------------------------------- */

typedef struct host_range {
    int64_t first, last; /* inclusive */
} host_range;

/* A set of offsets as sorted, disjoint, non-adjacent ranges. Zero-initialise
 * it; free with host_range_set_free. */
typedef struct host_range_set {
    host_range *items;
    size_t count, capacity;
} host_range_set;

/* Adds [first, last] (ignored when first > last), merging with what it
 * overlaps or touches. Fast when ranges come in increasing order.
 * 0 ok, -1 out of memory (the set is unchanged). */
int host_range_set_add(host_range_set *set, int64_t first, int64_t last);

/* Adds every range of `other`. 0 ok, -1 out of memory. */
int host_range_set_add_all(host_range_set *set, const host_range_set *other);

/* How many offsets of [from, to) the set holds. */
int64_t host_range_set_count(const host_range_set *set, int64_t from, int64_t to);

/* Writes into `missing` (emptied first) the offsets of [from, to) that
 * `present` does not hold. 0 ok, -1 out of memory. */
int host_range_set_missing(const host_range_set *present, int64_t from, int64_t to,
                           host_range_set *missing);

void host_range_set_clear(host_range_set *set);
void host_range_set_free(host_range_set *set);

/* ---------------------------------------------------------------------- */
/* One partition's verdict                                                 */
/* ---------------------------------------------------------------------- */

/* What must be where, from Kafka's numbers: every offset in [from, to) was
 * committed and is still in Kafka, so it must be in the table or the DLQ;
 * [to, high) is consumed-or-not but not committed ("beyond committed").
 * Offsets below the low watermark were deleted by retention: not asked
 * about. `committed` is the next offset to consume, or < 0 when the group
 * has committed nothing (then nothing is expected). */
typedef struct host_audit_bounds {
    int64_t from, to;         /* the audited range: expected = to - from */
    int64_t beyond_to;        /* [to, beyond_to): not committed yet */
    int committed_below_low;  /* retention deleted offsets never committed */
    int committed_above_high; /* impossible unless the topic was recreated */
} host_audit_bounds;

void host_audit_bounds_compute(int64_t low, int64_t high, int64_t committed,
                               host_audit_bounds *bounds);

/* The numbers printed for one partition. */
typedef struct host_audit_verdict {
    int64_t expected;     /* offsets that must be held */
    int64_t in_table;     /* of those, held by the table */
    int64_t in_dlq_only;  /* of those, held by the DLQ and not the table */
    int64_t found;        /* in_table + in_dlq_only */
    int64_t missing;      /* expected - found */
    int64_t beyond;       /* offsets beyond committed (not committed yet) */
    int64_t beyond_found; /* of those, already in the table or the DLQ */
    host_range_set gaps;  /* the missing offsets as ranges */
} host_audit_verdict;

/* Judges one partition from what the table and the DLQ hold (either set may
 * be empty). 0 ok, -1 out of memory. Free with host_audit_verdict_free. */
int host_audit_judge(const host_audit_bounds *bounds, const host_range_set *table,
                     const host_range_set *dlq, host_audit_verdict *verdict);
void host_audit_verdict_free(host_audit_verdict *verdict);

/* Writes the ranges as "100-199, 300, 400-401" into out, at most
 * `max_ranges` of them, then ", ... (N more ranges)". */
void host_range_set_format(const host_range_set *set, size_t max_ranges, char *out,
                           size_t out_size);

/* ---------------------------------------------------------------------- */
/* The command                                                             */
/* ---------------------------------------------------------------------- */

/* Audits every pipeline of `conf`, or only the one named `only` (NULL: all),
 * printing the report on stdout. Returns an exit status (HOST_AUDIT_*).
 * @locality main thread */
int host_audit_run(const host_conf *conf, const char *only);

#endif
