#include "tests/aggregator/freed_scan.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace cairn::freed_scan {

std::atomic<bool> armed{false};
std::atomic<int> hits{0};

namespace {
void Scan(const void* p, std::size_t n) {
  if (p == nullptr || !armed.load(std::memory_order_relaxed)) return;
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint32_t f;
  std::memcpy(&f, &kMarker, 4);
  const double dm = kMarker;
  std::uint64_t d;
  std::memcpy(&d, &dm, 8);
  for (std::size_t i = 0; i + 4 <= n; i += 4) {
    std::uint32_t v;
    std::memcpy(&v, b + i, 4);
    if (v == f) {
      hits.fetch_add(1);
      return;
    }
  }
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, b + i, 8);
    if (v == d) {
      hits.fetch_add(1);
      return;
    }
  }
}
}  // namespace

}  // namespace cairn::freed_scan

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t n) noexcept {
  cairn::freed_scan::Scan(p, n);
  std::free(p);
}
