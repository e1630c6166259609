// Plaintext left in freed memory: this test binary replaces the global operator new and delete
// (freed_scan.cc); while armed, every block freed through sized operator delete (what
// std::vector's deallocation calls) is scanned for a marker value, as float32 or as double (a
// weighted running sum with weight 1).
#pragma once

#include <atomic>

namespace cairn::freed_scan {

inline constexpr float kMarker = 1234.5677f;
extern std::atomic<bool> armed;
extern std::atomic<int> hits;  // freed blocks that held the marker while armed

}  // namespace cairn::freed_scan
