#!/bin/sh
# /init of the emulator test's guests (BusyBox, no disk). Loads the NE2000 driver for v86's ne2k,
# gives eth0 the address the kernel command line names (ifapi.addr=198.18.0.1/24, left by the
# kernel for init to read) and brings it up, then says "ifapi-guest: ready" and runs a shell on
# the serial console, which the test drives.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

addr=
for word in $(cat /proc/cmdline); do
  case "$word" in ifapi.addr=*) addr=${word#ifapi.addr=} ;; esac
done

# ne2k-pci needs 8390's symbols: insmod, unlike modprobe, does not resolve dependencies.
for module in 8390 ne2k-pci; do
  insmod "/lib/modules/$module.ko" || echo "ifapi-guest: insmod $module failed"
done
ip link set lo up
if [ -n "$addr" ] && ip addr add "$addr" dev eth0 && ip link set eth0 up; then
  echo "ifapi-guest: ready eth0 $addr mtu $(cat /sys/class/net/eth0/mtu)"
else
  echo "ifapi-guest: no network (addr '$addr')"
  ip link
fi

# No job control needed: the test sends whole command lines and reads their output.
export PS1='# '
while :; do sh; done
