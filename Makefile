# SPDX-License-Identifier: GPL-2.0
#
# make [KVER=<release>] [KAISER_VMLINUZ=<bzImage>]   build kaiser.ko
# make clean
# make deb        the kaiser-dkms package (scripts/ship/build-deb), in out/deb/
#
# KVER defaults to the running kernel; the headers of that kernel must be
# installed (/lib/modules/$(KVER)/build). KAISER_VMLINUZ defaults to the
# kernel's image, /boot/vmlinuz-$(KVER) or <modules dir>/vmlinuz: the site
# table is read from it.

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
# Debian 12 and 13 install the image in /boot; from 7.x (linux-binary-*)
# it is only in the modules directory.
KAISER_VMLINUZ ?= $(firstword $(wildcard /boot/vmlinuz-$(KVER) \
				       /usr/lib/modules/$(KVER)/vmlinuz \
				       /lib/modules/$(KVER)/vmlinuz))

all: modules

modules:
ifeq ($(KAISER_VMLINUZ),)
	$(error kaiser: no image of kernel $(KVER) in /boot or /usr/lib/modules/$(KVER): kaiser reads its patch sites from it; set KAISER_VMLINUZ=<path of the kernel image>)
endif
	$(MAKE) -C $(KDIR) M=$(CURDIR) KAISER_VMLINUZ=$(KAISER_VMLINUZ) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf generated

deb:
	scripts/ship/build-deb

.PHONY: all modules clean deb
