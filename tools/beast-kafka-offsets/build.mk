LIBS_beast-kafka-offsets += -lrdkafka
