# callpark: the two commands of the README.
#   make demo   builds FreeSWITCH where it is missing (scripts/freeswitch.sh), the library,
#               header and module, installs them and plays the first scenario on a switch
#               of its own, then stays up for softphones
#   make test   installs what the tests need (FreeSWITCH 1.10.12 and master included), then
#               runs every test
# Other targets: all (build only), freeswitch, install, check-config, board (the park
# board, target/release/callpark-board: docs/board.md), clean.
#
# FREESWITCH_VERSION (1.10.12, the default, or master) picks the switch; FREESWITCH_PREFIX
# is where it is (default: what scripts/freeswitch.sh --print-prefix says for the version).
# FREESWITCH_SOURCES names a folder of source archives (see docs/admin-guide.md, "Installing FreeSWITCH").

FREESWITCH_VERSION ?= 1.10.12
FREESWITCH_PREFIX ?= $(shell scripts/freeswitch.sh $(FREESWITCH_VERSION) --print-prefix)
export FREESWITCH_VERSION FREESWITCH_PREFIX
export PKG_CONFIG_PATH := $(FREESWITCH_PREFIX)/lib/pkgconfig:$(PKG_CONFIG_PATH)
have_fs = $(shell PKG_CONFIG_PATH=$(PKG_CONFIG_PATH) pkg-config --exists freeswitch 2>/dev/null && echo yes)

.PHONY: all lib module freeswitch install demo test check-config board clean

all: module

lib:
	@scripts/deps.sh build
	cargo build --release --features heap-count
	@echo "built target/release/libcallpark.so, include/callpark.h and target/release/callpark"

# The module where FreeSWITCH is installed; the library and header alone where it is not.
module: lib
	@if [ "$(have_fs)" = yes ]; then $(MAKE) -C freeswitch; \
	else echo "*** FreeSWITCH is not in $(FREESWITCH_PREFIX) (make freeswitch builds it): built the library and header only."; fi

# Builds and installs FreeSWITCH $(FREESWITCH_VERSION) into $(FREESWITCH_PREFIX) unless it is there.
freeswitch:
	scripts/freeswitch.sh $(FREESWITCH_VERSION) --prefix $(FREESWITCH_PREFIX)

install: lib
	@[ "$(have_fs)" = yes ] || { echo "*** FreeSWITCH is not in $(FREESWITCH_PREFIX): make freeswitch first"; exit 1; }
	$(MAKE) -C freeswitch install

board:
	cargo build --release -p callpark-board
	@echo "built target/release/callpark-board (start: target/release/callpark-board --config <file>; docs/board.md)"

check-config: lib
	target/release/callpark check freeswitch/conf/autoload_configs/callpark.conf.xml

demo: freeswitch lib
	@scripts/deps.sh demo
	$(MAKE) -C freeswitch install
	demo/run.sh

test:
	@scripts/deps.sh test
	scripts/test.sh

clean:
	cargo clean
	rm -rf tests/c/build freeswitch/build
