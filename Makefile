# callpark: the two commands of the README.
#   make demo   builds the library, header and (where FreeSWITCH is installed) the
#               module, installs it and starts a demo switch on loopback
#   make test   installs what the tests need, then runs every test
# Other targets: all (build only), install, check-config, clean.

FS_PKG := /usr/local/freeswitch/lib/pkgconfig
export PKG_CONFIG_PATH := $(FS_PKG):$(PKG_CONFIG_PATH)
HAVE_FS := $(shell PKG_CONFIG_PATH=$(PKG_CONFIG_PATH) pkg-config --exists freeswitch 2>/dev/null && echo yes)

.PHONY: all lib module install demo test check-config clean

all: module

lib:
	@scripts/deps.sh build
	cargo build --release --features heap-count
	@echo "built target/release/libcallpark.so, include/callpark.h and target/release/callpark"

module: lib
ifeq ($(HAVE_FS),yes)
	$(MAKE) -C freeswitch
else
	@echo "*** FreeSWITCH is not installed (pkg-config freeswitch fails): built the library and header only."
endif

install: module
ifeq ($(HAVE_FS),yes)
	$(MAKE) -C freeswitch install
else
	@echo "*** FreeSWITCH is not installed: nothing to install into." ; exit 1
endif

check-config: lib
	target/release/callpark check freeswitch/conf/autoload_configs/callpark.conf.xml

demo: module
ifeq ($(HAVE_FS),yes)
	$(MAKE) -C freeswitch install
	demo/run.sh
else
	@echo "*** FreeSWITCH is not installed: the demo needs it. Checking the sample configuration instead."
	target/release/callpark check freeswitch/conf/autoload_configs/callpark.conf.xml
endif

test:
	@scripts/deps.sh test
	scripts/test.sh

clean:
	cargo clean
	rm -rf tests/c/build
	-$(MAKE) -C freeswitch clean
