// Factories of the individual evidence providers (MakeEvidenceProvider picks among them), and the
// pieces tests exercise directly. Internal.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "common/attestation/attestation.h"

namespace cairn::attestation::internal {

Result<std::unique_ptr<EvidenceProvider>> MakeSimProvider(const ProviderOptions& options);

// configfs-tsm. `hook` (tests only) is called at each step with the entry folder and the step:
// "created" (after mkdir), "written" (after inblob and options were written), "read" (after outblob
// and auxblob were read, before generation is read again), so a test can play the kernel's part on a
// plain folder. `expected` = "sev-snp", "tdx" or "" (any).
using ConfigfsHook = std::function<void(const std::filesystem::path& entry, std::string_view step)>;
Result<std::unique_ptr<EvidenceProvider>> MakeConfigfsTsmProvider(const ProviderOptions& options,
                                                                  std::string_view expected,
                                                                  ConfigfsHook hook);
// /dev/sev-guest SNP_GET_EXT_REPORT.
Result<std::unique_ptr<EvidenceProvider>> MakeSevGuestProvider(const ProviderOptions& options);

// The SNP certificate table (GHCB spec: entries of GUID[16], offset u32, length u32, ended by an
// all-zero entry; offsets from the table start). Returns the DER certificates it holds (VCEK/VLEK,
// ASK/ASVK, ARK, in table order); entries whose data is not a certificate are skipped. GUIDs are
// accepted in both byte orders (string order and the little-endian EFI layout).
Result<std::vector<Bytes>> ParseSnpCertTable(ByteSpan table);
// Builds a table (GUIDs in string byte order), for tests and fakes. `kinds`: "vcek", "vlek",
// "ask", "ark".
Bytes BuildSnpCertTable(const std::vector<std::pair<std::string, Bytes>>& entries);

}  // namespace cairn::attestation::internal
