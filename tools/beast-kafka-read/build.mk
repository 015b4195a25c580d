LIBS_beast-kafka-read += -lrdkafka
