#!/usr/bin/env bash
# The parts of an SEV-SNP launch measurement that measured direct boot adds, computed exactly as
# QEMU builds them (sev-snp-guest ... kernel-hashes=on), plus what the OVMF binary declares.
#
#   scripts/cvm/expected-measurement.sh --kernel bzImage --initrd initrd.cpio.gz
#                                       [--append "console=ttyS0 ..."] [--ovmf OVMF.amdsev.fd] [--json]
#
# Prints:
#   kernel_sha256, initrd_sha256, cmdline_sha256   the three hashes QEMU puts in the SEV hashes
#                                                  table (the command line hashed with its NUL)
#   sev_hashes_table                               the table itself (168 bytes + zero padding to
#                                                  176, hex): the header GUID 9438d606-… with the
#                                                  table length, then the cmdline (97d02dd8-…),
#                                                  initrd (44baf731-…) and kernel (4de79437-…)
#                                                  entries, each GUID ‖ u16 length 50 ‖ SHA-256
# and with --ovmf, from the firmware's footer GUID table:
#   ovmf_sha256, ovmf_gpa                          the image and where it is mapped (4 GiB - size)
#   sev_hashes_table_gpa, hashes_page_sha384       the page the table is copied into, and the
#                                                  SHA-384 of that page's contents (what its
#                                                  PAGE_INFO carries in the launch digest)
#   sev_metadata                                   the OVMF SEV metadata sections (gpa size type)
#
# What this does NOT compute, and why: the launch MEASUREMENT itself. SNP's launch digest is a
# SHA-384 chain over a PAGE_INFO record for every page the VMM adds before launch: each OVMF page
# (contents hashed), the metadata sections (zero, secrets, CPUID pages: by type, not contents),
# the hashes page above, and one VMSA page per vCPU. The VMSA pages depend on the vCPU count, the
# vCPU type (family/model/stepping in the VMSA), the VMM (QEMU vs others), the guest features
# (SEV_FEATURES) and OVMF's reset vector. No tool for this is packaged in Debian (sev-snp-measure
# is a Python package on PyPI), and there is no SNP hardware here to check an implementation
# against, so this script does not guess. Get the full value either way:
#   - sev-snp-measure --mode snp --vcpus N --vcpu-type EPYC-v4 --ovmf OVMF.amdsev.fd \
#       --kernel bzImage --initrd initrd.cpio.gz --append "..."  (on any machine with Python), or
#   - launch the VM once and read MEASUREMENT from its report (cairn-participant attest prints it),
# and check that both agree; the hashes printed here must match the table in any such tool.
# TDX differs: MRTD covers TDVF only; the kernel, initrd and command line are measured by TDVF
# into RTMR1/RTMR2 and the CC event log (docs/operations.md).
set -euo pipefail
kernel=""
initrd=""
append=""
ovmf=""
json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --append) append=$2; shift 2 ;;
    --ovmf) ovmf=$2; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "expected-measurement.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$kernel" ] && [ -f "$kernel" ] || { echo "expected-measurement.sh: --kernel FILE is required" >&2; exit 2; }
[ -z "$initrd" ] || [ -f "$initrd" ] || { echo "expected-measurement.sh: $initrd not found" >&2; exit 2; }
[ -z "$ovmf" ] || [ -f "$ovmf" ] || { echo "expected-measurement.sh: $ovmf not found" >&2; exit 2; }
for tool in sha256sum sha384sum od; do
  command -v "$tool" >/dev/null || { echo "expected-measurement.sh: $tool not found (coreutils)" >&2; exit 1; }
done

# A GUID string in the little-endian byte order EFI stores it, as hex.
guid_le() {
  local g=${1//-/}
  echo "${g:6:2}${g:4:2}${g:2:2}${g:0:2}${g:10:2}${g:8:2}${g:14:2}${g:12:2}${g:16:16}"
}
u16_le() { printf '%02x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )); }
hex_to_bin() { sed 's/\([0-9a-f][0-9a-f]\)/\\x\1/g' | xargs -0 printf '%b'; }
sha() { "sha$1sum" | cut -d' ' -f1; }

kernel_hash=$(sha 256 < "$kernel")
if [ -n "$initrd" ]; then initrd_hash=$(sha 256 < "$initrd"); else initrd_hash=$(printf '' | sha 256); fi
cmdline_hash=$(printf '%s\0' "$append" | sha 256)

entry_len=50                     # 16 GUID + 2 length + 32 SHA-256
table_len=$(( 16 + 2 + 3 * entry_len ))
table=$(guid_le 9438d606-4f22-4cc9-b479-a793d411fd21)$(u16_le $table_len)
table+=$(guid_le 97d02dd8-bd20-4c94-aa78-e7714d36ab2a)$(u16_le $entry_len)$cmdline_hash
table+=$(guid_le 44baf731-3a2f-4bd7-9af1-41e29169781d)$(u16_le $entry_len)$initrd_hash
table+=$(guid_le 4de79437-abd2-427f-b835-d5b172d2045b)$(u16_le $entry_len)$kernel_hash
padded_len=$(( (table_len + 15) / 16 * 16 ))
while [ $(( ${#table} / 2 )) -lt $padded_len ]; do table+=00; done

# --- OVMF footer table ------------------------------------------------------------------------
ovmf_fields=()
if [ -n "$ovmf" ]; then
  size=$(stat -c %s "$ovmf")
  bytes_at() { od -An -tx1 -v -j "$1" -N "$2" "$ovmf" | tr -d ' \n'; }
  le_at() {  # little-endian unsigned integer of $2 bytes at $1
    local h; h=$(bytes_at "$1" "$2"); local v=0 i
    for (( i = ${#h} - 2; i >= 0; i -= 2 )); do v=$(( (v << 8) | 16#${h:i:2} )); done
    echo "$v"
  }
  ovmf_fields+=("ovmf_sha256" "$(sha 256 < "$ovmf")")
  ovmf_fields+=("ovmf_gpa" "$(printf '0x%x' $(( 0x100000000 - size )))")
  footer_guid=$(bytes_at $(( size - 48 )) 16)
  hash_gpa=""
  meta_offset=""
  if [ "$footer_guid" = "$(guid_le 96b582de-1fb2-45f7-baea-a366c55a082d)" ]; then
    table_end=$(( size - 50 ))
    remaining=$(( $(le_at $(( size - 50 )) 2) - 18 ))
    while [ "$remaining" -ge 18 ]; do
      guid=$(bytes_at $(( table_end - 16 )) 16)
      esize=$(le_at $(( table_end - 18 )) 2)
      [ "$esize" -ge 18 ] && [ "$esize" -le "$remaining" ] || { echo "expected-measurement.sh: $ovmf: bad footer table entry" >&2; exit 1; }
      data_at=$(( table_end - esize ))
      case "$guid" in
        "$(guid_le 7255371f-3a3b-4b04-927b-1da6efa8d454)") hash_gpa=$(le_at "$data_at" 4) ;;
        "$(guid_le dc886566-984a-4798-a75e-5585a7bf67cc)") meta_offset=$(le_at "$data_at" 4) ;;
      esac
      table_end=$(( table_end - esize ))
      remaining=$(( remaining - esize ))
    done
  else
    echo "expected-measurement.sh: warning: $ovmf has no OVMF footer table: not an SEV-capable OVMF" >&2
  fi
  if [ -n "$hash_gpa" ]; then
    ovmf_fields+=("sev_hashes_table_gpa" "$(printf '0x%x' "$hash_gpa")")
    page_offset=$(( hash_gpa & 0xfff ))
    page=$(printf '%*s' $(( page_offset * 2 )) '' | tr ' ' 0)$table
    while [ ${#page} -lt 8192 ]; do page+=00; done
    ovmf_fields+=("hashes_page_sha384" "$(printf '%s' "$page" | hex_to_bin | sha 384)")
  else
    echo "expected-measurement.sh: warning: $ovmf declares no SEV hashes table: it cannot do measured direct boot" \
         "(kernel-hashes=on); build OvmfPkg/AmdSev/AmdSevX64.dsc" >&2
  fi
  if [ -n "$meta_offset" ]; then
    start=$(( size - meta_offset ))
    if [ "$(bytes_at "$start" 4)" = "41534556" ]; then   # "ASEV"
      count=$(le_at $(( start + 12 )) 4)
      sections=""
      for (( i = 0; i < count && i < 64; i++ )); do
        at=$(( start + 16 + 12 * i ))
        sections+=$(printf '%s0x%x:0x%x:%d' "${sections:+,}" "$(le_at "$at" 4)" "$(le_at $(( at + 4 )) 4)" "$(le_at $(( at + 8 )) 4)")
      done
      ovmf_fields+=("sev_metadata" "$sections")
    fi
  fi
fi

if [ "$json" -eq 1 ]; then
  printf '{"kernel_sha256":"%s","initrd_sha256":"%s","cmdline_sha256":"%s","sev_hashes_table":"%s"' \
    "$kernel_hash" "$initrd_hash" "$cmdline_hash" "$table"
  for (( i = 0; i < ${#ovmf_fields[@]}; i += 2 )); do printf ',"%s":"%s"' "${ovmf_fields[i]}" "${ovmf_fields[i+1]}"; done
  printf ',"launch_measurement":null,"note":"the full SNP launch measurement also needs the OVMF pages, the vCPU count and type and the VMSA: see --help"}\n'
else
  echo "kernel_sha256 $kernel_hash"
  echo "initrd_sha256 $initrd_hash"
  echo "cmdline_sha256 $cmdline_hash"
  echo "sev_hashes_table $table"
  for (( i = 0; i < ${#ovmf_fields[@]}; i += 2 )); do echo "${ovmf_fields[i]} ${ovmf_fields[i+1]}"; done
  echo "launch_measurement not computed: it also needs the OVMF pages, the vCPU count and type and the VMSA (see --help)"
fi
