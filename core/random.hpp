#pragma once
// Random numbers. heed uses a counter-based generator, Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011): block k of 128 random bits is a pure function of
// (seed, k). A generator's whole state is (seed, offset), so
//   - a tensor's values do not depend on how many threads filled it;
//   - saving and restoring the state resumes the exact same stream (checkpoints, issue "resume").
#include <array>
#include <cstdint>
#include <mutex>

namespace heed {

// The 128-bit block number `counter` of the stream `key`: Philox4x32 with 10 rounds.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Blocks index, index + 1, ..., index + kPhiloxLanes - 1 of the stream `seed` at once: word w of block
// index + l in out[w][l]. The same bits as Generator::block; with AVX2, computed in vector lanes.
inline constexpr int kPhiloxLanes = 16;
void philox_lanes(uint64_t seed, uint64_t index, std::array<std::array<uint32_t, kPhiloxLanes>, 4>& out);

class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 0x5eed'0000'0000'1234ULL;

  explicit Generator(uint64_t seed = kDefaultSeed) : seed_(seed) {}
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  struct State {
    uint64_t seed = kDefaultSeed;
    uint64_t offset = 0;  // blocks used so far
    friend bool operator==(const State&, const State&) = default;
  };

  void manual_seed(uint64_t seed);  // restarts the stream: offset 0
  uint64_t seed() const;
  State state() const;
  void set_state(State state);

  // Takes n consecutive blocks for the caller; returns the state at which they start.
  State reserve(uint64_t n);

  // Block `index` (absolute) of the stream with this seed.
  static std::array<uint32_t, 4> block(uint64_t seed, uint64_t index);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The generator every random factory uses unless given another one.
Generator& default_generator();
// Seeds the default generator: the same seed gives the same numbers, run after run.
void manual_seed(uint64_t seed);

}  // namespace heed
