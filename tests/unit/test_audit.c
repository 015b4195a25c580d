/*
 * test_audit.c — the arithmetic of `beast audit`: range sets (runs in any
 * order, overlapping, touching; checked against a bitmap), the complement
 * that gives missing ranges, the bounds from watermarks and the committed
 * offset (retention, nothing committed, committed outside the watermarks),
 * and the verdict combining the table and the DLQ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audit.h"

/* The set is sorted, disjoint and never holds two touching ranges. */
static void assert_canonical(const host_range_set *set) {
    for (size_t i = 0; i < set->count; i++) {
        assert_true(set->items[i].first <= set->items[i].last);
        if (i > 0)
            assert_true(set->items[i - 1].last + 1 < set->items[i].first);
    }
}

static void test_add_merges_in_order(void **state) {
    (void)state;
    host_range_set set = {0};
    assert_int_equal(host_range_set_add(&set, 0, 9), 0);
    assert_int_equal(host_range_set_add(&set, 10, 19), 0); /* touches: merged */
    assert_int_equal(host_range_set_add(&set, 30, 30), 0);
    assert_int_equal(host_range_set_add(&set, 5, 12), 0); /* inside */
    assert_int_equal(host_range_set_add(&set, 7, 3), 0);  /* empty: ignored */
    assert_int_equal(set.count, 2);
    assert_int_equal(set.items[0].first, 0);
    assert_int_equal(set.items[0].last, 19);
    assert_int_equal(set.items[1].first, 30);
    /* One range bridging everything. */
    assert_int_equal(host_range_set_add(&set, 20, 29), 0);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.items[0].last, 30);
    host_range_set_free(&set);
}

static void test_add_out_of_order_matches_bitmap(void **state) {
    (void)state;
    enum { SPAN = 2000 };
    unsigned seed = 4242;
    for (int round = 0; round < 300; round++) {
        host_range_set set = {0};
        char held[SPAN] = {0};
        int adds = 1 + rand_r(&seed) % 60;
        for (int a = 0; a < adds; a++) {
            int64_t first = rand_r(&seed) % SPAN;
            int64_t len = rand_r(&seed) % (round % 3 == 0 ? 3 : 80);
            int64_t last = first + len < SPAN ? first + len : SPAN - 1;
            assert_int_equal(host_range_set_add(&set, first, last), 0);
            memset(held + first, 1, (size_t)(last - first + 1));
            assert_canonical(&set);
        }
        int64_t from = rand_r(&seed) % SPAN, to = from + rand_r(&seed) % (SPAN - from + 1);
        int64_t want = 0;
        for (int64_t o = from; o < to; o++)
            want += held[o];
        assert_int_equal(host_range_set_count(&set, from, to), want);
        host_range_set missing = {0};
        assert_int_equal(host_range_set_missing(&set, from, to, &missing), 0);
        assert_canonical(&missing);
        /* Every offset of [from, to) is held xor missing. */
        for (int64_t o = from; o < to; o++)
            assert_int_equal(host_range_set_count(&missing, o, o + 1), !held[o]);
        assert_int_equal(host_range_set_count(&missing, 0, SPAN), (to - from) - want);
        host_range_set_free(&missing);
        host_range_set_free(&set);
    }
}

static void test_missing_edges(void **state) {
    (void)state;
    host_range_set set = {0}, missing = {0};
    /* Nothing held: the whole range is missing. */
    assert_int_equal(host_range_set_missing(&set, 5, 10, &missing), 0);
    assert_int_equal(missing.count, 1);
    assert_int_equal(missing.items[0].first, 5);
    assert_int_equal(missing.items[0].last, 9);
    /* Empty range: nothing missing. */
    assert_int_equal(host_range_set_missing(&set, 7, 7, &missing), 0);
    assert_int_equal(missing.count, 0);
    /* Held ranges sticking out on both sides. */
    host_range_set_add(&set, 0, 6);
    host_range_set_add(&set, 8, 8);
    host_range_set_add(&set, 12, 100);
    assert_int_equal(host_range_set_missing(&set, 3, 20, &missing), 0);
    assert_int_equal(missing.count, 2);
    assert_int_equal(missing.items[0].first, 7);
    assert_int_equal(missing.items[0].last, 7);
    assert_int_equal(missing.items[1].first, 9);
    assert_int_equal(missing.items[1].last, 11);
    char text[128];
    host_range_set_format(&missing, 10, text, sizeof(text));
    assert_string_equal(text, "7, 9-11");
    host_range_set_format(&missing, 1, text, sizeof(text));
    assert_string_equal(text, "7, ... (1 more ranges)");
    host_range_set_free(&set);
    host_range_set_free(&missing);
}

static void test_bounds(void **state) {
    (void)state;
    host_audit_bounds b;
    /* Clean: everything committed. */
    host_audit_bounds_compute(0, 1000, 1000, &b);
    assert_int_equal(b.from, 0);
    assert_int_equal(b.to, 1000);
    assert_int_equal(b.beyond_to, 1000);
    assert_false(b.committed_below_low || b.committed_above_high);
    /* Retention: offsets below the low watermark are not asked about. */
    host_audit_bounds_compute(400, 1000, 900, &b);
    assert_int_equal(b.from, 400);
    assert_int_equal(b.to, 900);
    assert_int_equal(b.beyond_to, 1000);
    /* Nothing committed: nothing expected, all of it beyond. */
    host_audit_bounds_compute(0, 50, -1, &b);
    assert_int_equal(b.to - b.from, 0);
    assert_int_equal(b.beyond_to - b.to, 50);
    /* Retention overtook the commit: flagged, nothing expected. */
    host_audit_bounds_compute(500, 800, 300, &b);
    assert_true(b.committed_below_low);
    assert_int_equal(b.to - b.from, 0);
    assert_int_equal(b.to, 500);
    assert_int_equal(b.beyond_to, 800);
    /* A commit past the high watermark is capped and flagged. */
    host_audit_bounds_compute(0, 10, 12, &b);
    assert_true(b.committed_above_high);
    assert_int_equal(b.to, 10);
    /* An empty partition. */
    host_audit_bounds_compute(0, 0, -1, &b);
    assert_int_equal(b.beyond_to - b.from, 0);
}

static void test_verdict_table_and_dlq(void **state) {
    (void)state;
    host_audit_bounds b;
    host_audit_bounds_compute(100, 1200, 1000, &b);
    host_range_set table = {0}, dlq = {0};
    /* Rows below the low watermark (kept by the table) do not count. */
    host_range_set_add(&table, 0, 499);
    host_range_set_add(&table, 520, 998);
    host_range_set_add(&table, 1000, 1049); /* beyond committed: in flight */
    host_range_set_add(&dlq, 500, 509);     /* dead-lettered */
    host_range_set_add(&dlq, 600, 600);     /* also in the table: counted once */
    host_audit_verdict v;
    assert_int_equal(host_audit_judge(&b, &table, &dlq, &v), 0);
    assert_int_equal(v.expected, 900);
    assert_int_equal(v.in_table, 400 + 479);
    assert_int_equal(v.in_dlq_only, 10);
    assert_int_equal(v.found, 889);
    assert_int_equal(v.missing, 11); /* 510-519 and 999 */
    assert_int_equal(v.gaps.count, 2);
    assert_int_equal(v.gaps.items[0].first, 510);
    assert_int_equal(v.gaps.items[0].last, 519);
    assert_int_equal(v.gaps.items[1].first, 999);
    assert_int_equal(v.beyond, 200);
    assert_int_equal(v.beyond_found, 50);
    host_audit_verdict_free(&v);
    host_range_set_free(&table);
    host_range_set_free(&dlq);
}

static void test_verdict_clean_and_empty(void **state) {
    (void)state;
    host_audit_bounds b;
    host_range_set table = {0}, dlq = {0};
    host_audit_bounds_compute(0, 12500, 12500, &b);
    host_range_set_add(&table, 0, 12499);
    host_audit_verdict v;
    assert_int_equal(host_audit_judge(&b, &table, &dlq, &v), 0);
    assert_int_equal(v.missing, 0);
    assert_int_equal(v.found, 12500);
    assert_int_equal(v.gaps.count, 0);
    host_audit_verdict_free(&v);
    /* An empty table with everything committed: one missing range. */
    host_range_set_clear(&table);
    assert_int_equal(host_audit_judge(&b, &table, &dlq, &v), 0);
    assert_int_equal(v.missing, 12500);
    assert_int_equal(v.gaps.count, 1);
    host_audit_verdict_free(&v);
    host_range_set_free(&table);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_merges_in_order),
        cmocka_unit_test(test_add_out_of_order_matches_bitmap),
        cmocka_unit_test(test_missing_edges),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_verdict_table_and_dlq),
        cmocka_unit_test(test_verdict_clean_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
