# plugins/sink_bigquery/build.mk — libraries of the BigQuery sink. (The .so
# itself comes from the Makefile's generic plugin rule; its integration tests
# are tests/integration/50_bigquery_*.sh.)
LIBS_sink_bigquery += -lcurl -lcrypto -lz -lcjson -lpthread
