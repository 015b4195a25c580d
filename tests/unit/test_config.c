/*
 * test_config.c — beast.conf loading: defaults, ${VAR} expansion, and every
 * error path giving `file:line: key: reason`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char config_path[256];
static char errstr[2048];

/* Writes text (with PLUGINS standing for the plugin dir line) and loads it. */
static int load_text(host_conf *conf, const char *text) {
    FILE *file = fopen(config_path, "w");
    assert_non_null(file);
    fprintf(file, "plugin_dir = \"%s/plugins\";\n%s", getenv("O") ? getenv("O") : "build", text);
    fclose(file);
    errstr[0] = '\0';
    return host_conf_load(conf, config_path, errstr, sizeof(errstr));
}

#define PIPELINE(extra_sink, extra)                                                                \
    "pipelines = ( {\n"                                                                            \
    "  name = \"orders\";\n"                                                                       \
    "  topics = [ \"orders\" ];\n"                                                                 \
    "  decoder = { plugin = \"json\"; };\n"                                                        \
    "  sink = { plugin = \"file\"; path = \"/tmp/beast-test-out\"; " extra_sink " };\n" extra      \
    "} );\n"

static void expect_error(const char *text, const char *needle) {
    host_conf conf;
    assert_int_equal(load_text(&conf, text), -1);
    if (!strstr(errstr, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, errstr);
}

static void test_minimal_config_gets_defaults(void **state) {
    (void)state;
    host_conf conf;
    if (load_text(&conf, PIPELINE("", "")) != 0)
        fail_msg("%s", errstr);
    assert_int_equal(conf.pipeline_count, 1);
    host_pipeline_conf *pipeline = &conf.pipelines[0];
    assert_string_equal(pipeline->group_id, "beast-orders");
    assert_string_equal(pipeline->offsets.plugin->descriptor->name, "kafka");
    assert_string_equal(pipeline->dlq.plugin->descriptor->name, "file");
    assert_int_equal(host_config_int(&pipeline->sink.options, "batch_rows"), 500);
    assert_int_equal(host_config_bool(&pipeline->sink.options, "fsync"), 1);
    assert_int_equal(host_config_is_set(&pipeline->sink.options, "fsync"), 0);
    assert_int_equal(conf.shutdown_timeout_s, 30);
    assert_string_equal(conf.data_dir, "beast-data");
    host_conf_free(&conf);
}

static void test_env_expansion(void **state) {
    (void)state;
    setenv("BEAST_TEST_BROKERS", "127.0.0.1:1234", 1);
    unsetenv("BEAST_TEST_UNSET");
    host_conf conf;
    if (load_text(&conf, "data_dir = \"${BEAST_TEST_UNSET:-/tmp/fallback}/x\";\n"
                         "kafka = { bootstrap_servers = \"${BEAST_TEST_BROKERS}\"; };\n" PIPELINE(
                             "batch_rows = \"${BEAST_TEST_UNSET:-42}\";", "")) != 0)
        fail_msg("%s", errstr);
    assert_string_equal(conf.data_dir, "/tmp/fallback/x");
    host_pipeline_conf *pipeline = &conf.pipelines[0];
    assert_int_equal(host_config_int(&pipeline->sink.options, "batch_rows"), 42);
    int found = 0;
    for (size_t i = 0; i < pipeline->kafka.count; i++)
        if (strcmp(pipeline->kafka.items[i].name, "bootstrap.servers") == 0) {
            assert_string_equal(pipeline->kafka.items[i].value, "127.0.0.1:1234");
            found = 1;
        }
    assert_true(found);
    host_conf_free(&conf);
}

static void test_unset_variable_is_an_error(void **state) {
    (void)state;
    unsetenv("BEAST_TEST_UNSET");
    expect_error("data_dir = \"${BEAST_TEST_UNSET}\";\n" PIPELINE("", ""),
                 ":2: data_dir: environment variable BEAST_TEST_UNSET is not set");
}

static void test_misspelt_sink_key(void **state) {
    (void)state;
    expect_error(PIPELINE("batch_rowz = 10;", ""),
                 ":6: pipelines.orders.sink.batch_rowz: unknown key (valid keys: path, fsync, "
                 "batch_rows");
}

static void test_unknown_top_level_key(void **state) {
    (void)state;
    expect_error("log_levle = \"debug\";\n" PIPELINE("", ""), ":2: log_levle: unknown key");
}

static void test_wrong_type(void **state) {
    (void)state;
    expect_error(PIPELINE("batch_rows = true;", ""),
                 ":6: pipelines.orders.sink.batch_rows: expected an integer");
    expect_error("shutdown_timeout_s = \"soon\";\n" PIPELINE("", ""),
                 ":2: shutdown_timeout_s: expected an integer, got \"soon\"");
}

static void test_out_of_range(void **state) {
    (void)state;
    expect_error(PIPELINE("batch_rows = 0;", ""),
                 "pipelines.orders.sink.batch_rows: must be between 1 and 50000");
}

static void test_missing_required_keys(void **state) {
    (void)state;
    expect_error("pipelines = ( { name = \"a\"; decoder = { plugin = \"json\"; }; sink = { "
                 "plugin = \"file\"; path = \"/tmp/x\"; }; } );\n",
                 "pipelines.a.topics: required key is missing");
    expect_error("pipelines = ( { name = \"a\"; topics = [\"t\"]; decoder = { plugin = \"json\"; "
                 "}; sink = { plugin = \"file\"; }; } );\n",
                 "pipelines.a.sink.path: required key is missing");
    expect_error("pipelines = ( { name = \"a\"; topics = [\"t\"]; sink = { plugin = \"file\"; "
                 "path = \"/tmp/x\"; }; } );\n",
                 "pipelines.a.decoder: required block is missing");
    expect_error("log_level = \"info\";\n", "pipelines: required key is missing");
}

static void test_syntax_error_names_line(void **state) {
    (void)state;
    expect_error("log_level = \"info\"\nbroken = ;\n", ":3: syntax error");
}

static void test_unknown_plugin_lists_available(void **state) {
    (void)state;
    expect_error("pipelines = ( { name = \"a\"; topics = [\"t\"]; decoder = { plugin = \"xml\"; "
                 "}; sink = { plugin = \"file\"; path = \"/tmp/x\"; }; } );\n",
                 "pipelines.a.decoder: no decoder plugin \"xml\"");
    expect_error("pipelines = ( { name = \"a\"; topics = [\"t\"]; decoder = { plugin = \"xml\"; "
                 "}; sink = { plugin = \"file\"; path = \"/tmp/x\"; }; } );\n",
                 "(available: ");
}

static void test_bad_kafka_property(void **state) {
    (void)state;
    expect_error(
        "kafka = {\n  bootstrap_servers = \"x\";\n  fetch_wait_max_mz = 5;\n};\n" PIPELINE("", ""),
        ":4: kafka.fetch.wait.max.mz: No such configuration property");
}

static void test_pipeline_kafka_overrides_top_level(void **state) {
    (void)state;
    host_conf conf;
    if (load_text(&conf,
                  "kafka = { bootstrap_servers = \"a:1\"; client_rack = \"r1\"; };\n" PIPELINE(
                      "", "  kafka = { bootstrap_servers = \"b:2\"; };\n")) != 0)
        fail_msg("%s", errstr);
    host_pipeline_conf *pipeline = &conf.pipelines[0];
    int seen = 0;
    for (size_t i = 0; i < pipeline->kafka.count; i++) {
        if (strcmp(pipeline->kafka.items[i].name, "bootstrap.servers") == 0) {
            assert_string_equal(pipeline->kafka.items[i].value, "b:2");
            seen++;
        }
        if (strcmp(pipeline->kafka.items[i].name, "client.rack") == 0)
            seen++;
    }
    assert_int_equal(seen, 2);
    host_conf_free(&conf);
}

static void test_duplicate_pipeline_names(void **state) {
    (void)state;
    expect_error("pipelines = ( { name = \"a\"; topics = [\"t\"]; decoder = { plugin = \"json\"; "
                 "}; sink = { plugin = \"file\"; path = \"/tmp/x\"; }; },\n"
                 "{ name = \"a\"; topics = [\"t\"]; decoder = { plugin = \"json\"; "
                 "}; sink = { plugin = \"file\"; path = \"/tmp/x\"; }; } );\n",
                 "name: another pipeline has this name");
}

static void test_missing_file(void **state) {
    (void)state;
    host_conf conf;
    assert_int_equal(host_conf_load(&conf, "/nonexistent/beast.conf", errstr, sizeof(errstr)), -1);
    assert_non_null(strstr(errstr, "/nonexistent/beast.conf: cannot read config file"));
}

int main(void) {
    snprintf(config_path, sizeof(config_path), "/tmp/beast-test-config-%d.conf", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_config_gets_defaults),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_unset_variable_is_an_error),
        cmocka_unit_test(test_misspelt_sink_key),
        cmocka_unit_test(test_unknown_top_level_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_missing_required_keys),
        cmocka_unit_test(test_syntax_error_names_line),
        cmocka_unit_test(test_unknown_plugin_lists_available),
        cmocka_unit_test(test_bad_kafka_property),
        cmocka_unit_test(test_pipeline_kafka_overrides_top_level),
        cmocka_unit_test(test_duplicate_pipeline_names),
        cmocka_unit_test(test_missing_file),
    };
    int failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);
    unlink(config_path);
    return failed;
}
