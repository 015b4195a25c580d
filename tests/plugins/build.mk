# Test plugins for the loader: one source, one defect per variant. Each is
# built from sdk/ alone, like any third-party plugin.
TEST_PLUGIN_VARIANTS := good:  abi:-DTEST_ABI_MAJOR=2  magic:-DTEST_MAGIC=0x12345678u \
                        noentry:-DTEST_NO_ENTRY  small:-DTEST_SIZE=16
define test_plugin_rule
$(O)/tests/plugins/$(1)/sink_echo.so: tests/plugins/test_plugin.c sdk/beast/plugin.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PLUGIN_CFLAGS) $(2) -shared -o $$@ $$<
TEST_PLUGINS += $(O)/tests/plugins/$(1)/sink_echo.so
endef
$(foreach v,$(TEST_PLUGIN_VARIANTS),$(eval $(call test_plugin_rule,$(word 1,$(subst :, ,$(v))),$(word 2,$(subst :, ,$(v))))))
