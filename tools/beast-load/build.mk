LIBS_beast-load += -lrdkafka
