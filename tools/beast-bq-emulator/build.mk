# beast-bq-emulator: local BigQuery + GCS + OAuth2 token REST stand-in (docs/emulator.md)
LIBS_beast-bq-emulator += -lmicrohttpd -lsqlite3 -lcjson -lcrypto -lz

# `make fuzz` (see tests/build.mk): the --fast insertAll scanner against cJSON.
FUZZ_TARGETS += insertall_scan
FUZZ_SRCS_insertall_scan = tools/beast-bq-emulator/insertall_scan.c tools/beast-bq-emulator/codec.c \
  tools/beast-bq-emulator/fuzz/fuzz_insertall_scan.c
FUZZ_CFLAGS_insertall_scan = -Itools/beast-bq-emulator
FUZZ_LIBS_insertall_scan = -lcjson -lz -lcrypto -lm
FUZZ_CORPUS_insertall_scan = tools/beast-bq-emulator/fuzz/corpus
