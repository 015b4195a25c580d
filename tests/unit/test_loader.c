/*
 * test_loader.c — the plugin loader refuses every incompatible variant of
 * tests/plugins/test_plugin.c with a message naming the file and the field,
 * loads the good one (built from sdk/ alone), and lists what is available
 * when a name is unknown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"
#include "loader.h"
#include "options.h"

static const char *build_dir(void) { return getenv("O") ? getenv("O") : "build"; }

static void variant_path(char *out, size_t size, const char *variant) {
    snprintf(out, size, "%s/tests/plugins/%s/sink_echo.so", build_dir(), variant);
}

static void expect_refused(const char *variant, const char *needle) {
    char path[512], errstr[1024] = "";
    variant_path(path, sizeof(path), variant);
    assert_null(host_plugin_load(path, errstr, sizeof(errstr)));
    if (!strstr(errstr, needle) || !strstr(errstr, path))
        fail_msg("variant %s: message \"%s\" lacks \"%s\" or the path", variant, errstr, needle);
}

static void test_wrong_abi_major_is_refused(void **state) {
    (void)state;
    expect_refused("abi",
                   "not binary compatible: host has abi_major = 1, library has abi_major = 2");
}

static void test_wrong_magic_is_refused(void **state) {
    (void)state;
    expect_refused("magic", "not binary compatible: host has magic");
}

static void test_missing_entry_is_refused(void **state) {
    (void)state;
    expect_refused("noentry", "not a beast plugin: no beast_plugin_entry symbol");
}

static void test_too_small_descriptor_is_refused(void **state) {
    (void)state;
    expect_refused("small", "library has struct_size = 16");
}

static void test_good_plugin_loads_and_runs(void **state) {
    (void)state;
    char path[512], errstr[1024] = "";
    variant_path(path, sizeof(path), "good");
    const host_plugin *plugin = host_plugin_load(path, errstr, sizeof(errstr));
    if (!plugin)
        fail_msg("%s", errstr);
    assert_string_equal(plugin->descriptor->name, "echo");
    assert_int_equal(plugin->descriptor->kind, BEAST_KIND_SINK);
    /* Configure and write one row through the host API. */
    beast_config options;
    assert_int_equal(host_options_apply(NULL, "sink", plugin->descriptor->options, NULL, NULL,
                                        &options, errstr, sizeof(errstr)),
                     0);
    assert_string_equal(host_config_string(&options, "greeting"), "hello");
    beast_instance instance;
    memset(&instance, 0, sizeof(instance));
    assert_int_equal(
        host_instance_init(&instance, plugin, &options, "p", ".", errstr, sizeof(errstr)), 0);
    beast_row row = {.value = {.type = BEAST_TYPE_RECORD}};
    beast_batch batch = {.struct_size = sizeof(batch), .count = 1, .rows = &row};
    assert_int_equal(plugin->descriptor->sink->write(instance.ctx, &batch, errstr, sizeof(errstr)),
                     BEAST_OK);
    assert_int_equal(row.status, BEAST_ROW_DONE);
    host_instance_destroy(&instance);
    host_options_free(&options);
    /* Loading the same path again returns the same plugin. */
    assert_ptr_equal(host_plugin_load(path, errstr, sizeof(errstr)), plugin);
}

static void test_failing_init_reports_prefix(void **state) {
    (void)state;
    char path[512], errstr[1024] = "";
    variant_path(path, sizeof(path), "good");
    const host_plugin *plugin = host_plugin_load(path, errstr, sizeof(errstr));
    assert_non_null(plugin);
    beast_config options;
    assert_int_equal(host_options_apply(NULL, "sink", plugin->descriptor->options, NULL, NULL,
                                        &options, errstr, sizeof(errstr)),
                     0);
    options.values[1].integer = 1; /* fail_init */
    beast_instance instance;
    memset(&instance, 0, sizeof(instance));
    assert_int_equal(
        host_instance_init(&instance, plugin, &options, "orders", ".", errstr, sizeof(errstr)), -1);
    assert_non_null(strstr(errstr, "sink:echo:orders"));
    host_options_free(&options);
}

static void test_unknown_name_lists_available(void **state) {
    (void)state;
    char dir[512], errstr[1024] = "";
    snprintf(dir, sizeof(dir), "%s/plugins", build_dir());
    assert_null(host_plugin_find(dir, BEAST_KIND_SINK, "bigqueryz", errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "no sink plugin \"bigqueryz\""));
    assert_non_null(strstr(errstr, "available: "));
    assert_non_null(strstr(errstr, "file"));
    const host_plugin *file =
        host_plugin_find(dir, BEAST_KIND_SINK, "file", errstr, sizeof(errstr));
    if (!file)
        fail_msg("%s", errstr);
    assert_string_equal(file->descriptor->name, "file");
}

static void collect_refusal(const char *message) { (void)message; }

static void test_scan_skips_refused(void **state) {
    (void)state;
    char dir[512], errstr[512];
    snprintf(dir, sizeof(dir), "%s/plugins", build_dir());
    const host_plugin **plugins;
    size_t count = 0;
    assert_true(host_plugin_scan(dir, &plugins, &count, collect_refusal, errstr, sizeof(errstr)) >=
                4);
    int kinds[4] = {0};
    for (size_t i = 0; i < count; i++)
        kinds[plugins[i]->descriptor->kind]++;
    assert_true(kinds[BEAST_KIND_DECODER] >= 1);
    assert_true(kinds[BEAST_KIND_SINK] >= 1);
    assert_true(kinds[BEAST_KIND_OFFSETS] >= 2);
    assert_int_equal(
        host_plugin_scan("/nonexistent-dir", &plugins, &count, NULL, errstr, sizeof(errstr)), -1);
    assert_non_null(strstr(errstr, "/nonexistent-dir"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_abi_major_is_refused),
        cmocka_unit_test(test_wrong_magic_is_refused),
        cmocka_unit_test(test_missing_entry_is_refused),
        cmocka_unit_test(test_too_small_descriptor_is_refused),
        cmocka_unit_test(test_good_plugin_loads_and_runs),
        cmocka_unit_test(test_failing_init_reports_prefix),
        cmocka_unit_test(test_unknown_name_lists_available),
        cmocka_unit_test(test_scan_skips_refused),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
