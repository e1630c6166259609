#!/usr/bin/env bash
# Launches the aggregator in an AMD SEV-SNP guest with QEMU, by measured direct boot: OVMF (the
# AmdSev build) hashes the kernel, initrd and command line into a table that is part of the launch
# measurement (kernel-hashes=on), so the measurement pins the aggregator binary (in the initrd,
# see build-initrd.sh) and every cairn.* setting on the command line.
#
#   scripts/cvm/launch-snp.sh --ovmf OVMF.amdsev.fd --kernel bzImage --initrd build/cvm/initrd.cpio.gz
#       [--append "EXTRA KERNEL ARGS"] [--state-image state.img] [--vcpus 2] [--memory 4G]
#       [--cpu EPYC-v4] [--policy 0x30000] [--cbitpos 51] [--reduced-phys-bits 1]
#       [--net user|tap:IFNAME] [--ports 7700,7701,7702] [--metrics 9464] [--serial FILE]
#       [--qemu qemu-system-x86_64] [--dry-run]
#
# The kernel command line is "console=ttyS0 cairn.* ... EXTRA": the script prints it; give the
# very same string to expected-measurement.sh. With --net user (default) the guest is 10.0.2.15
# and the ports are forwarded from the host; with a tap interface give cairn.ip/cairn.gw in
# --append. --state-image is a raw disk with an ext4 file system for the state folder (checkpoint
# sealed with the SNP-derived key, results); without it the state is lost at power-off.
# --dry-run prints the QEMU command (one argument per line) instead of running it.
#
# Needs: a host kernel and firmware with SEV-SNP enabled, QEMU >= 9.1 (upstream SNP support:
# sev-snp-guest, memory-backend-memfd with guest_memfd), and OVMF built from
# OvmfPkg/AmdSev/AmdSevX64.dsc. NOT TESTED on hardware in this project (no SNP machine here): the
# command line follows QEMU's documentation (docs/system/i386/amd-memory-encryption.rst); the test
# checks only its shape (--dry-run).
set -euo pipefail
qemu=qemu-system-x86_64
ovmf="" kernel="" initrd="" extra="" state="" serial=""
vcpus=2 memory=4G cpu=EPYC-v4 policy=0x30000 cbitpos=51 rpb=1 net=user ports=7700,7701,7702 metrics=""
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ovmf) ovmf=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --append) extra=$2; shift 2 ;;
    --state-image) state=$2; shift 2 ;;
    --vcpus) vcpus=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --policy) policy=$2; shift 2 ;;
    --cbitpos) cbitpos=$2; shift 2 ;;
    --reduced-phys-bits) rpb=$2; shift 2 ;;
    --net) net=$2; shift 2 ;;
    --ports) ports=$2; shift 2 ;;
    --metrics) metrics=$2; shift 2 ;;
    --serial) serial=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "launch-snp.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for pair in "ovmf:$ovmf" "kernel:$kernel" "initrd:$initrd"; do
  name=${pair%%:*} file=${pair#*:}
  [ -n "$file" ] || { echo "launch-snp.sh: --$name is required (try --help)" >&2; exit 2; }
  [ "$dry" -eq 1 ] || [ -f "$file" ] || { echo "launch-snp.sh: $file not found" >&2; exit 2; }
done

cmdline="console=ttyS0"
if [ "$net" = user ]; then cmdline+=" cairn.ip=10.0.2.15/24 cairn.gw=10.0.2.2"; fi
[ -z "$state" ] || cmdline+=" cairn.state=/dev/vda"
[ -z "$metrics" ] || cmdline+=" cairn.metrics=0.0.0.0:$metrics"
cmdline+=" cairn.attestation=sev-snp cairn.sealing=sev-snp"
[ -z "$extra" ] || cmdline+=" $extra"

args=("$qemu"
  -enable-kvm
  -machine "q35,confidential-guest-support=sev0,memory-backend=ram1"
  -cpu "$cpu" -smp "$vcpus" -m "$memory"
  -object "memory-backend-memfd,id=ram1,size=$memory,share=true,prealloc=false"
  -object "sev-snp-guest,id=sev0,cbitpos=$cbitpos,reduced-phys-bits=$rpb,policy=$policy,kernel-hashes=on"
  -bios "$ovmf"
  -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
  -nographic -no-reboot
)
if [ -n "$serial" ]; then args+=(-serial "file:$serial"); else args+=(-serial mon:stdio); fi
# virtio devices of a confidential guest must use the platform DMA API (bounce buffers in shared
# memory): iommu_platform=on; no option ROM (romfile=), which OVMF would run unmeasured.
if [ "$net" = user ]; then
  fwd=""
  IFS=, read -r -a plist <<< "$ports"
  [ -z "$metrics" ] || plist+=("$metrics")
  for p in "${plist[@]}"; do fwd+=",hostfwd=tcp::$p-:$p"; done
  args+=(-netdev "user,id=net0$fwd")
elif [[ "$net" == tap:* ]]; then
  args+=(-netdev "tap,id=net0,ifname=${net#tap:},script=no,downscript=no")
else
  echo "launch-snp.sh: --net must be user or tap:IFNAME" >&2; exit 2
fi
args+=(-device "virtio-net-pci,netdev=net0,disable-legacy=on,iommu_platform=on,romfile=")
if [ -n "$state" ]; then
  args+=(-drive "if=none,id=state,file=$state,format=raw,cache=none"
         -device "virtio-blk-pci,drive=state,disable-legacy=on,iommu_platform=on")
fi

echo "launch-snp.sh: kernel command line (measured): $cmdline" >&2
if [ "$dry" -eq 1 ]; then
  printf '%s\n' "${args[@]}"
  exit 0
fi
command -v "$qemu" >/dev/null || { echo "launch-snp.sh: $qemu not found" >&2; exit 1; }
exec "${args[@]}"
