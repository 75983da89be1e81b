#include "heed/core/copy.hpp"

#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"

#include <algorithm>

namespace heed::kernel {
namespace {

// A copy whose destination runs along a dim where the source has a large stride (x.t().contiguous(),
// a permute) reads one element per cache line in the element-wise loop. When the source is contiguous
// along another dim, the two dims are copied in tiles of kTile x kTile elements, each tile read along
// the source's unit dim and written along the destination's, both in cache.
constexpr int64_t kTile = 32;

template <class E>  // E: the element's C++ type
void copy_tiles(const detail::Loop<2>& loop, int64_t d) {
  const int64_t nd = loop.shape.size(), inner = nd - 1;
  const int64_t rows = loop.shape[d], cols = loop.shape[inner];
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  const int64_t outer = loop.numel / (rows * cols);
  // Destination strides along (d, inner) and source strides, in elements.
  const int64_t dr = loop.strides[0][static_cast<size_t>(d)] / int64_t{sizeof(E)};
  const int64_t dc = loop.strides[0][static_cast<size_t>(inner)] / int64_t{sizeof(E)};
  const int64_t sr = loop.strides[1][static_cast<size_t>(d)] / int64_t{sizeof(E)};
  const int64_t sc = loop.strides[1][static_cast<size_t>(inner)] / int64_t{sizeof(E)};
  parallel_for(outer * tiles_r * tiles_c, kTile * kTile, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t o = t / (tiles_r * tiles_c), tile = t % (tiles_r * tiles_c);
      // The byte offsets of outer index o over the dims other than d and inner.
      int64_t off_dst = 0, off_src = 0;
      for (int64_t k = inner - 1; k >= 0; --k) {
        if (k == d) continue;
        const int64_t i = o % loop.shape[k];
        o /= loop.shape[k];
        off_dst += i * loop.strides[0][static_cast<size_t>(k)];
        off_src += i * loop.strides[1][static_cast<size_t>(k)];
      }
      E* dst = reinterpret_cast<E*>(loop.base[0] + off_dst);
      const E* src = reinterpret_cast<const E*>(loop.base[1] + off_src);
      const int64_t r0 = tile / tiles_c * kTile, c0 = tile % tiles_c * kTile;
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      // Through a buffer, so that each cache line is read whole and written whole: the lines of a tile
      // are a power-of-two stride apart, they fall into the same cache sets, and a loop that wrote
      // one element to each of the tile's rows in turn had them evicted between its writes.
      E buf[kTile][kTile];
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) buf[c - c0][r - r0] = src[r * sr + c * sc];
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[r * dr + c * dc] = buf[c - c0][r - r0];
    }
  });
}

}  // namespace

namespace detail {

bool copy_transposing(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() != src.dtype() || dst.shape() != src.shape() || dst.numel() < kTile * kTile) return false;
  const auto loop = detail::make_loop<2>(dst.shape(), {&dst, &src});
  const int64_t nd = loop.shape.size(), e = static_cast<int64_t>(dst.element_size());
  if (nd < 2 || loop.strides[0][static_cast<size_t>(nd - 1)] != e || loop.strides[1][static_cast<size_t>(nd - 1)] == e)
    return false;
  int64_t d = -1;  // the source's unit-stride dim, if any
  for (int64_t k = nd - 2; k >= 0 && d < 0; --k)
    if (loop.strides[1][static_cast<size_t>(k)] == e) d = k;
  if (d < 0 || loop.shape[d] < kTile / 4) return false;  // too few rows to gain from tiles
  dispatch_all(dst.dtype(), [&]<class T>() { copy_tiles<T>(loop, d); });
  return true;
}

}  // namespace detail
}  // namespace heed::kernel
