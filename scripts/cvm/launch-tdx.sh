#!/usr/bin/env bash
# Launches the aggregator in an Intel TDX trust domain with QEMU, booting the kernel and initrd
# directly through TDVF. TDX has no kernel-hashes table: MRTD measures TDVF itself, and TDVF
# measures the kernel, the initrd and the command line into RTMR1/RTMR2 (and the CC event log),
# so participants pin MRTD plus RTMR1/RTMR2 ([tdx] mrtd, rtmr1, rtmr2 in their policy) to pin
# the aggregator binary and its settings.
#
#   scripts/cvm/launch-tdx.sh --tdvf OVMF.tdx.fd --kernel bzImage --initrd build/cvm/initrd.cpio.gz
#       [--append "EXTRA KERNEL ARGS"] [--state-image state.img] [--vcpus 2] [--memory 4G]
#       [--qgs-port 4050] [--net user|tap:IFNAME] [--ports 7700,7701,7702] [--metrics 9464]
#       [--serial FILE] [--qemu qemu-system-x86_64] [--dry-run]
#
# Quotes: the guest asks for a quote through configfs-tsm; QEMU forwards the request to the
# host's Quote Generation Service (QGS, from Intel's DCAP packages) on vsock port --qgs-port.
# Sealing: TDX has no key derived from the measurement, so the checkpoint key must come from a
# key broker (cairn.sealing=none here means no checkpoint: see docs/operations.md).
# --dry-run prints the QEMU command (one argument per line) instead of running it.
#
# Needs: a TDX-enabled host kernel and KVM, QEMU >= 10.1 (upstream TDX support: tdx-guest,
# guest_memfd), TDVF (OvmfPkg/IntelTdx/IntelTdxX64.dsc), and QGS for quotes. NOT TESTED on
# hardware in this project (no TDX machine here): the command line follows QEMU's documentation
# (docs/system/i386/tdx.rst); the test checks only its shape (--dry-run).
set -euo pipefail
qemu=qemu-system-x86_64
tdvf="" kernel="" initrd="" extra="" state="" serial=""
vcpus=2 memory=4G qgs=4050 net=user ports=7700,7701,7702 metrics=""
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tdvf) tdvf=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --append) extra=$2; shift 2 ;;
    --state-image) state=$2; shift 2 ;;
    --vcpus) vcpus=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --qgs-port) qgs=$2; shift 2 ;;
    --net) net=$2; shift 2 ;;
    --ports) ports=$2; shift 2 ;;
    --metrics) metrics=$2; shift 2 ;;
    --serial) serial=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "launch-tdx.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for pair in "tdvf:$tdvf" "kernel:$kernel" "initrd:$initrd"; do
  name=${pair%%:*} file=${pair#*:}
  [ -n "$file" ] || { echo "launch-tdx.sh: --$name is required (try --help)" >&2; exit 2; }
  [ "$dry" -eq 1 ] || [ -f "$file" ] || { echo "launch-tdx.sh: $file not found" >&2; exit 2; }
done

cmdline="console=ttyS0"
if [ "$net" = user ]; then cmdline+=" cairn.ip=10.0.2.15/24 cairn.gw=10.0.2.2"; fi
[ -z "$state" ] || cmdline+=" cairn.state=/dev/vda"
[ -z "$metrics" ] || cmdline+=" cairn.metrics=0.0.0.0:$metrics"
cmdline+=" cairn.attestation=tdx cairn.sealing=none"
[ -z "$extra" ] || cmdline+=" $extra"

args=("$qemu"
  -accel kvm
  -cpu host -smp "$vcpus" -m "$memory"
  -machine "q35,kernel_irqchip=split,confidential-guest-support=tdx0,memory-backend=ram1"
  -object "{\"qom-type\":\"tdx-guest\",\"id\":\"tdx0\",\"quote-generation-socket\":{\"type\":\"vsock\",\"cid\":\"2\",\"port\":\"$qgs\"}}"
  -object "memory-backend-memfd,id=ram1,size=$memory"
  -bios "$tdvf"
  -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
  -nographic -no-reboot
)
if [ -n "$serial" ]; then args+=(-serial "file:$serial"); else args+=(-serial mon:stdio); fi
if [ "$net" = user ]; then
  fwd=""
  IFS=, read -r -a plist <<< "$ports"
  [ -z "$metrics" ] || plist+=("$metrics")
  for p in "${plist[@]}"; do fwd+=",hostfwd=tcp::$p-:$p"; done
  args+=(-netdev "user,id=net0$fwd")
elif [[ "$net" == tap:* ]]; then
  args+=(-netdev "tap,id=net0,ifname=${net#tap:},script=no,downscript=no")
else
  echo "launch-tdx.sh: --net must be user or tap:IFNAME" >&2; exit 2
fi
args+=(-device "virtio-net-pci,netdev=net0,disable-legacy=on,iommu_platform=on,romfile=")
if [ -n "$state" ]; then
  args+=(-drive "if=none,id=state,file=$state,format=raw,cache=none"
         -device "virtio-blk-pci,drive=state,disable-legacy=on,iommu_platform=on")
fi

echo "launch-tdx.sh: kernel command line (measured into RTMR2): $cmdline" >&2
if [ "$dry" -eq 1 ]; then
  printf '%s\n' "${args[@]}"
  exit 0
fi
command -v "$qemu" >/dev/null || { echo "launch-tdx.sh: $qemu not found" >&2; exit 1; }
exec "${args[@]}"
