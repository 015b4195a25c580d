# schemas/build.mk — descriptor sets of the example schemas (and an encoded
# sample record), built with protoc into $(O)/schemas/.
PROTOC ?= protoc

all: $(O)/schemas/booking.desc $(O)/schemas/booking.bin

$(O)/schemas/%.desc: schemas/%.proto
	@mkdir -p $(dir $@)
	$(PROTOC) -Ischemas --include_imports --descriptor_set_out=$@ $<

# schemas/booking.txtpb encoded: one ~430-byte example.Booking record.
$(O)/schemas/booking.bin: schemas/booking.proto schemas/booking.txtpb
	@mkdir -p $(dir $@)
	$(PROTOC) -Ischemas --encode=example.Booking $< < schemas/booking.txtpb > $@.tmp
	@mv $@.tmp $@
