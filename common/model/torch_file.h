// Writes a flat parameter vector as a file that PyTorch's torch.load and libtorch's
// torch::pickle_load read as a dict of named tensors (a state_dict), without linking libtorch.
//
// The file is torch.save's zip format (PyTorch >= 1.6, file format version 3):
//
//   archive/data.pkl    pickle protocol 2: {name: torch._utils._rebuild_tensor_v2(
//                         persistent_id(("storage", torch.FloatStorage, "<i>", "cpu", numel)),
//                         0, shape, contiguous strides, False, collections.OrderedDict()), …}
//   archive/byteorder   "little" (newer PyTorch versions write and read it; 1.13 ignores it)
//   archive/data/<i>    tensor i's values, raw little-endian float32
//   archive/version     "3\n"
//
// Every record is stored (no compression) with correct CRC-32 and sizes in the local header
// (no data descriptors) and its data aligned to 64 bytes by an "FB" padding extra field, as
// PyTorch's writer does. No zip64: the archive must stay below 4 GiB (kMaxParams keeps it so).
//
// The top-level object is a plain dict, not the OrderedDict that torch.save(state_dict) writes:
// libtorch 1.13's unpickler only knows OrderedDict as a tensor's (empty) backward-hooks argument
// and turns it into None, so torch::pickle_load fails on an OrderedDict at the top. A dict keeps
// insertion order in Python >= 3.7 and in c10::Dict, and model.load_state_dict() accepts it.
//
//   Python:  sd = torch.load("global.pt"); model.load_state_dict(sd)
//   C++:     auto dict = torch::pickle_load(bytes).toGenericDict();
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/model/model_spec.h"

namespace cairn::model {

// The archive bytes. Fails when values.size() != spec.num_params() or the spec is invalid.
Result<Bytes> EncodeTorchFile(const ModelSpec& spec, std::span<const float> values);

// The same archive streamed to `path` through AtomicFileWriter (no whole-file buffer; a crash
// leaves the old file or the new one).
Status SaveTorchFile(const std::filesystem::path& path, const ModelSpec& spec,
                     std::span<const float> values);

// CRC-32 as zip uses it (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF):
// folded with carry-less multiplication where the CPU has it (x86-64 PCLMULQDQ), else by tables.
std::uint32_t Crc32(ByteSpan data);
// The same by tables alone, whatever the CPU: for tests and benchmarks of the fast path.
std::uint32_t Crc32WithTables(ByteSpan data);

}  // namespace cairn::model
