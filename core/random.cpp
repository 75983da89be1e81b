#include "heed/core/random.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace heed {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;    // round multipliers
  constexpr uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;  // key schedule increments
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t{kMul0} * c[0], p1 = uint64_t{kMul1} * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

#if defined(__AVX2__)
namespace {
// One Philox round on 8 blocks, one per 32-bit lane. AVX2 multiplies the even 32-bit lanes to 64 bits
// (_mm256_mul_epu32); the odd lanes are shifted down for a second multiply, and the halves of the
// products are blended back into lane order.
struct Lanes8 {
  __m256i c0, c1, c2, c3;
};
inline void philox_round8(Lanes8& v, __m256i m0, __m256i m1, __m256i k0, __m256i k1) {
  const __m256i p0_even = _mm256_mul_epu32(v.c0, m0), p0_odd = _mm256_mul_epu32(_mm256_srli_epi64(v.c0, 32), m0);
  const __m256i p1_even = _mm256_mul_epu32(v.c2, m1), p1_odd = _mm256_mul_epu32(_mm256_srli_epi64(v.c2, 32), m1);
  const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(p0_even, 32), p0_odd, 0xAA);
  const __m256i lo0 = _mm256_blend_epi32(p0_even, _mm256_slli_epi64(p0_odd, 32), 0xAA);
  const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(p1_even, 32), p1_odd, 0xAA);
  const __m256i lo1 = _mm256_blend_epi32(p1_even, _mm256_slli_epi64(p1_odd, 32), 0xAA);
  v.c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, v.c1), k0);
  v.c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, v.c3), k1);
  v.c1 = lo1;
  v.c3 = lo0;
}
}  // namespace
#endif

void philox_lanes(uint64_t seed, uint64_t index, std::array<std::array<uint32_t, kPhiloxLanes>, 4>& out) {
  constexpr uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
  constexpr uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;
#if defined(__AVX2__)
  static_assert(kPhiloxLanes == 16, "two groups of 8 lanes, interleaved to hide the multiplies' latency");
  alignas(32) uint32_t lo[16], hi[16];
  for (int l = 0; l < 16; ++l) {
    const uint64_t counter = index + static_cast<uint64_t>(l);
    lo[l] = static_cast<uint32_t>(counter);
    hi[l] = static_cast<uint32_t>(counter >> 32);
  }
  const __m256i zero = _mm256_setzero_si256();
  Lanes8 a{_mm256_load_si256(reinterpret_cast<const __m256i*>(lo)),
           _mm256_load_si256(reinterpret_cast<const __m256i*>(hi)), zero, zero};
  Lanes8 b{_mm256_load_si256(reinterpret_cast<const __m256i*>(lo + 8)),
           _mm256_load_si256(reinterpret_cast<const __m256i*>(hi + 8)), zero, zero};
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kMul0)), m1 = _mm256_set1_epi32(static_cast<int>(kMul1));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m256i vk0 = _mm256_set1_epi32(static_cast<int>(k0)), vk1 = _mm256_set1_epi32(static_cast<int>(k1));
    philox_round8(a, m0, m1, vk0, vk1);
    philox_round8(b, m0, m1, vk0, vk1);
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  const __m256i* words[2][4] = {{&a.c0, &a.c1, &a.c2, &a.c3}, {&b.c0, &b.c1, &b.c2, &b.c3}};
  for (int g = 0; g < 2; ++g)
    for (int w = 0; w < 4; ++w)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[static_cast<size_t>(w)].data() + 8 * g), *words[g][w]);
#else
  (void)kMul0, (void)kMul1, (void)kWeyl0, (void)kWeyl1;
  for (int l = 0; l < kPhiloxLanes; ++l) {
    const std::array<uint32_t, 4> b = Generator::block(seed, index + static_cast<uint64_t>(l));
    for (int w = 0; w < 4; ++w) out[static_cast<size_t>(w)][static_cast<size_t>(l)] = b[static_cast<size_t>(w)];
  }
#endif
}

std::array<uint32_t, 4> Generator::block(uint64_t seed, uint64_t index) {
  return philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0, 0},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() const {
  std::lock_guard lock(mutex_);
  return seed_;
}

Generator::State Generator::state() const {
  std::lock_guard lock(mutex_);
  return {seed_, offset_};
}

void Generator::set_state(State state) {
  std::lock_guard lock(mutex_);
  seed_ = state.seed;
  offset_ = state.offset;
}

Generator::State Generator::reserve(uint64_t n) {
  std::lock_guard lock(mutex_);
  State s{seed_, offset_};
  offset_ += n;
  return s;
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace heed
