# SPDX-License-Identifier: GPL-2.0
#
# make [KVER=<release>] [KAISER_VMLINUZ=<bzImage>]   build kaiser.ko
# make clean
# make deb        the kaiser-dkms package (scripts/build-deb), in out/deb/
#
# KVER defaults to the running kernel; the headers of that kernel must be
# installed (/lib/modules/$(KVER)/build). KAISER_VMLINUZ defaults to
# /boot/vmlinuz-$(KVER): the site table is read from it.

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
KAISER_VMLINUZ ?= /boot/vmlinuz-$(KVER)

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) KAISER_VMLINUZ=$(KAISER_VMLINUZ) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf generated

deb:
	scripts/build-deb

.PHONY: all modules clean deb
