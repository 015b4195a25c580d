# plugins/sink_file/build.mk — libraries of the file sink (cJSON: its audit
# operation reads the NDJSON files back).
LIBS_sink_file += -lcjson
