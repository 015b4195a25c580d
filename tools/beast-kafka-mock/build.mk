LIBS_beast-kafka-mock += -lrdkafka
