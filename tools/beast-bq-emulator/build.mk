# beast-bq-emulator: local BigQuery + GCS + OAuth2 token REST stand-in (docs/emulator.md)
LIBS_beast-bq-emulator += -lmicrohttpd -lsqlite3 -lcjson -lcrypto -lz
