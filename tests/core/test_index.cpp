#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/index.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <functional>

using namespace heed;
using namespace heed::kernel;

namespace {

using Pos = std::vector<int64_t>;

Tensor iota(const Shape& shape, DType dtype = kFloat64) {
  return reshape(arange(0, static_cast<double>(shape_numel(shape)), 1.0, dtype), shape);
}
Tensor ids(std::initializer_list<double> v) { return tensor(v, kInt64); }
Tensor ids(std::initializer_list<double> v, const Shape& shape) { return tensor(v, shape, kInt64); }

// t[pos] as a double, read through t's strides (the naive reference for every kernel below).
double at(const Tensor& t, const Pos& pos) {
  int64_t off = 0;
  for (size_t d = 0; d < pos.size(); ++d) off += pos[d] * t.strides()[static_cast<int64_t>(d)];
  return dispatch_all(t.dtype(),
                      [&]<class T>() { return static_cast<double>(static_cast<const T*>(t.raw_data())[off]); });
}

int64_t iat(const Tensor& t, const Pos& pos) { return static_cast<int64_t>(at(t, pos)); }

// Calls f(pos) for every position of `shape`, in row-major order.
void for_each_pos(const Shape& shape, const std::function<void(const Pos&)>& f) {
  if (shape_numel(shape) == 0) return;
  Pos pos(static_cast<size_t>(shape.size()), 0);
  while (true) {
    f(pos);
    int64_t d = shape.size() - 1;
    for (; d >= 0; --d) {
      if (++pos[static_cast<size_t>(d)] < shape[d]) break;
      pos[static_cast<size_t>(d)] = 0;
    }
    if (d < 0) return;
  }
}

Pos with(Pos pos, int64_t dim, int64_t value) {
  pos[static_cast<size_t>(dim)] = value;
  return pos;
}

Shape sizes_of(const std::vector<Tensor>& ts, int64_t dim) {
  Shape s;
  for (const Tensor& t : ts) s.push_back(t.shape()[dim]);
  return s;
}

}  // namespace

// ---- cat and stack --------------------------------------------------------------------------------

TEST_CASE("cat joins along any dim, reading strided inputs", "[core][index]") {
  Tensor a = iota({2, 3, 4});
  Tensor b = transpose(randn({2, 4, 5}, kFloat64), 1, 2);  // (2, 5, 4), not contiguous
  Tensor c = narrow(randn({2, 3, 4}, kFloat64), 1, 1, 1);  // (2, 1, 4)
  for (int64_t dim : {1, -2}) {
    Tensor y = cat({a, b, c}, dim);
    REQUIRE(y.shape() == Shape{2, 9, 4});
    CHECK(y.is_contiguous());
    for_each_pos(y.shape(), [&](const Pos& p) {
      int64_t j = p[1];
      double expected = j < 3 ? at(a, p) : j < 8 ? at(b, with(p, 1, j - 3)) : at(c, with(p, 1, j - 8));
      REQUIRE(at(y, p) == expected);
    });
  }
  Tensor first = cat({a, iota({1, 3, 4})}, 0);
  CHECK(first.shape() == Shape{3, 3, 4});
  CHECK(at(first, {2, 1, 3}) == 7);
  Tensor last = cat({a, transpose(iota({2, 2, 3}), 1, 2)}, -1);
  CHECK(last.shape() == Shape{2, 3, 6});
  CHECK(at(last, {1, 2, 5}) == at(iota({2, 2, 3}), {1, 1, 2}));
}

TEST_CASE("cat keeps 0-size pieces, other dtypes, and copies a single input", "[core][index]") {
  Tensor a = iota({2, 3}), e = zeros({2, 0}, kFloat64);
  CHECK(cat({e, a, e}, 1).to_vector<double>() == a.to_vector<double>());
  CHECK(cat({e, e}, 1).shape() == Shape{2, 0});
  Tensor one = cat({a}, 0);
  CHECK_FALSE(one.shares_storage_with(a));
  CHECK(one.to_vector<double>() == a.to_vector<double>());
  CHECK(cat({ids({1, 2}), ids({3})}).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  CHECK(cat({tensor({1, 0}, kBool), tensor({1}, kBool)}).to_vector<bool>() == std::vector<bool>{true, false, true});
}

TEST_CASE("stack inserts a new dim", "[core][index]") {
  Tensor a = iota({2, 3}), b = transpose(randn({3, 2}, kFloat64), 0, 1), c = full({2, 3}, 7.0, kFloat64);
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    Tensor y = stack({a, b, c}, dim);
    int64_t d = dim < 0 ? dim + 3 : dim;
    Shape expected = a.shape();
    expected.insert(d, 3);
    REQUIRE(y.shape() == expected);
    for_each_pos(y.shape(), [&](const Pos& p) {
      Pos q = p;
      q.erase(q.begin() + d);
      const Tensor& src = p[static_cast<size_t>(d)] == 0 ? a : p[static_cast<size_t>(d)] == 1 ? b : c;
      REQUIRE(at(y, p) == at(src, q));
    });
  }
  CHECK(stack({scalar_tensor(1, kFloat64), scalar_tensor(2, kFloat64)}).to_vector<double>() ==
        std::vector<double>{1, 2});
}

// ---- split, chunk, unbind --------------------------------------------------------------------------

TEST_CASE("split returns views that share storage with the input", "[core][index]") {
  Tensor x = iota({3, 7});
  auto pieces = split(x, 3, 1);
  REQUIRE(pieces.size() == 3);
  CHECK(sizes_of(pieces, 1) == Shape{3, 3, 1});
  int64_t offset = 0;
  for (const Tensor& p : pieces) {
    CHECK(p.shares_storage_with(x));
    for_each_pos(p.shape(), [&](const Pos& q) { REQUIRE(at(p, q) == at(x, with(q, 1, q[1] + offset))); });
    offset += p.shape()[1];
  }
  fill_(pieces[1], -1.0);  // a write through a piece is seen by x
  CHECK(at(x, {2, 4}) == -1);
  CHECK(at(x, {2, 6}) == 20);

  auto by_sizes = split(x, std::vector<int64_t>{2, 0, 5}, -1);
  CHECK(sizes_of(by_sizes, 1) == Shape{2, 0, 5});
  CHECK(by_sizes[1].numel() == 0);
  CHECK(by_sizes[2].shares_storage_with(x));
  CHECK(at(by_sizes[2], {1, 0}) == at(x, {1, 2}));
  CHECK(split(x, {3}, 0).size() == 1);  // a braced list is a list of sizes
  CHECK(split(x, 1, 0).size() == 3);
  CHECK(split(x, 10, 1).size() == 1);
  auto empty = split(zeros({0, 2}), 4, 0);  // a 0-size dim gives one empty piece, as in PyTorch
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].shape() == Shape{0, 2});
}

TEST_CASE("chunk sizes pieces like PyTorch", "[core][index]") {
  Tensor x = iota({5, 2});
  CHECK(sizes_of(chunk(x, 3, 0), 0) == Shape{2, 2, 1});
  CHECK(sizes_of(chunk(x, 4, 0), 0) == Shape{2, 2, 1});  // ceil(5 / 4) = 2: only 3 pieces
  CHECK(sizes_of(chunk(x, 5, 0), 0) == Shape{1, 1, 1, 1, 1});
  CHECK(sizes_of(chunk(x, 9, 0), 0) == Shape{1, 1, 1, 1, 1});
  CHECK(sizes_of(chunk(iota({6}), 3), 0) == Shape{2, 2, 2});
  CHECK(sizes_of(chunk(x, 2, -1), 1) == Shape{1, 1});
  CHECK(sizes_of(chunk(zeros({0, 2}), 3, 0), 0) == Shape{0, 0, 0});
  auto c = chunk(x, 2, 0);
  CHECK(c[1].shares_storage_with(x));
  CHECK(c[1].to_vector<double>() == std::vector<double>{6, 7, 8, 9});
}

TEST_CASE("unbind returns one view per index", "[core][index]") {
  Tensor x = iota({2, 3, 4});
  for (int64_t dim : {1, -2}) {
    auto parts = unbind(x, dim);
    REQUIRE(parts.size() == 3);
    for (int64_t i = 0; i < 3; ++i) {
      const Tensor& p = parts[static_cast<size_t>(i)];
      CHECK(p.shape() == Shape{2, 4});
      CHECK(p.shares_storage_with(x));
      for_each_pos(p.shape(), [&](const Pos& q) { REQUIRE(at(p, q) == at(x, {q[0], i, q[1]})); });
    }
  }
  CHECK(unbind(zeros({0, 3}), 0).empty());
  CHECK(unbind(iota({4}), 0)[3].item() == 3);
}

// ---- index_select, gather, scatter_add, index_add --------------------------------------------------

TEST_CASE("index_select matches a naive loop, contiguous or not", "[core][index]") {
  Tensor idx = ids({2, 0, 2, 1});
  Tensor base = randn({3, 3, 5}, kFloat64);
  for (const Tensor& x : {base, transpose(base, 0, 2), narrow(base, 2, 1, 3)}) {
    for (int64_t dim : {0, 1, -1}) {
      Tensor y = index_select(x, dim, idx);
      int64_t d = dim < 0 ? dim + 3 : dim;
      Shape expected = x.shape();
      expected[d] = 4;
      REQUIRE(y.shape() == expected);
      for_each_pos(y.shape(), [&](const Pos& p) {
        REQUIRE(at(y, p) == at(x, with(p, d, iat(idx, {p[static_cast<size_t>(d)]}))));
      });
    }
  }
  CHECK(index_select(iota({3, 2}), 0, ids({})).shape() == Shape{0, 2});
  CHECK(index_select(iota({4}, kInt64), 0, ids({3, 3})).to_vector<int64_t>() == std::vector<int64_t>{3, 3});
  Tensor strided_idx = slice(ids({0, 9, 2, 9}), 0, 0, std::nullopt, 2);  // {0, 2}, stride 2
  CHECK(index_select(iota({3}), 0, strided_idx).to_vector<double>() == std::vector<double>{0, 2});
}

TEST_CASE("gather matches a naive loop in every dim", "[core][index]") {
  Tensor base = randn({3, 4, 5}, kFloat64);
  for (const Tensor& x : {base, contiguous(transpose(base, 0, 1)), permute(base, {2, 0, 1})}) {
    for (int64_t dim : {0, 1, 2, -1}) {
      int64_t d = dim < 0 ? dim + 3 : dim;
      Shape ishape = {2, 3, 2};  // smaller than x in every dim
      ishape[d] = 6;             // and longer than x along dim (repeats)
      Tensor index = randint(0, x.shape()[d], ishape);
      Tensor y = gather(x, dim, index);
      REQUIRE(y.shape() == ishape);
      for_each_pos(ishape, [&](const Pos& p) { REQUIRE(at(y, p) == at(x, with(p, d, iat(index, p)))); });
    }
  }
  // index read through strides, and the hand-worked example of PyTorch's docs
  Tensor t = tensor({1, 2, 3, 4}, {2, 2}, kFloat64);
  CHECK(gather(t, 1, ids({0, 0, 1, 0}, {2, 2})).to_vector<double>() == std::vector<double>{1, 1, 4, 3});
  CHECK(gather(t, 1, transpose(ids({0, 1, 0, 0}, {2, 2}), 0, 1)).to_vector<double>() ==
        std::vector<double>{1, 1, 4, 3});
  CHECK(gather(t, 0, ids({}, {0, 2})).shape() == Shape{0, 2});
}

TEST_CASE("scatter_add accumulates repeated indices and leaves x untouched", "[core][index]") {
  Tensor x = randn({4, 3, 5}, kFloat64);
  for (int64_t dim : {0, 1, -1}) {
    int64_t d = dim < 0 ? dim + 3 : dim;
    Shape ishape = {3, 2, 4};
    ishape[d] = 7;
    Tensor index = randint(0, x.shape()[d], ishape);
    Shape sshape = ishape;
    sshape[0] += 1;  // src may be larger than index
    sshape[2] += 2;
    Tensor src = transpose(randn({sshape[2], sshape[1], sshape[0]}, kFloat64), 0, 2);  // not contiguous
    Tensor before = clone(x);
    Tensor y = scatter_add(x, dim, index, src);
    CHECK(equal(x, before));
    Tensor expected = clone(x);
    double* e = expected.data_ptr<double>();
    for_each_pos(ishape, [&](const Pos& p) {
      Pos q = with(p, d, iat(index, p));
      e[(q[0] * 3 + q[1]) * 5 + q[2]] += at(src, p);
    });
    CHECK(allclose(y, expected, 1e-12, 1e-12));
  }
  Tensor hand = scatter_add(zeros({3}, kInt64), 0, ids({1, 1, 0, 1}), ids({1, 2, 3, 4}));
  CHECK(hand.to_vector<int64_t>() == std::vector<int64_t>{3, 7, 0});
}

TEST_CASE("index_add accumulates repeated indices", "[core][index]") {
  Tensor x = randn({3, 4, 2}, kFloat64);
  Tensor idx = ids({3, 0, 3, 3, 1});
  Tensor source = permute(randn({2, 5, 3}, kFloat64), {2, 1, 0});  // (3, 5, 2), not contiguous
  Tensor y = index_add(x, 1, idx, source);
  Tensor expected = clone(x);
  double* e = expected.data_ptr<double>();
  for_each_pos(source.shape(), [&](const Pos& p) { e[(p[0] * 4 + iat(idx, {p[1]})) * 2 + p[2]] += at(source, p); });
  CHECK(allclose(y, expected, 1e-12, 1e-12));
  Tensor rows = index_add(zeros({3, 2}, kFloat64), 0, ids({2, 2}), tensor({1, 2, 10, 20}, {2, 2}, kFloat64));
  CHECK(rows.to_vector<double>() == std::vector<double>{0, 0, 0, 0, 11, 22});
  Tensor last = index_add(zeros({2, 3}, kFloat64), -1, ids({0, 0}), ones({2, 2}, kFloat64));
  CHECK(last.to_vector<double>() == std::vector<double>{2, 0, 0, 2, 0, 0});
}

TEST_CASE("large gathers and scatters (parallel paths) match a naive loop", "[core][index]") {
  Tensor x = randn({200, 300}, kFloat64);
  Tensor idx = randint(0, 200, {250});
  Tensor y = index_select(transpose(x, 0, 1), 1, idx);  // (300, 250), strided path
  Tensor z = index_select(x, 0, idx);                   // (250, 300), memcpy path
  for_each_pos(y.shape(), [&](const Pos& p) {
    REQUIRE(at(y, p) == at(x, {iat(idx, {p[1]}), p[0]}));
    REQUIRE(at(z, {p[1], p[0]}) == at(y, p));
  });
  Tensor gidx = randint(0, 300, {200, 300});
  Tensor g = gather(x, 1, gidx);
  for_each_pos(g.shape(), [&](const Pos& p) { REQUIRE(at(g, p) == at(x, {p[0], iat(gidx, p)})); });
  Tensor sidx = randint(0, 200, {200, 300});
  Tensor s = scatter_add(zeros({200, 300}, kFloat64), 0, sidx, x);
  Tensor expected = zeros({200, 300}, kFloat64);
  double* e = expected.data_ptr<double>();
  for_each_pos(x.shape(), [&](const Pos& p) { e[iat(sidx, p) * 300 + p[1]] += at(x, p); });
  CHECK(equal(s, expected));  // one thread per column: the same order of sums
}

// ---- embedding ------------------------------------------------------------------------------------

TEST_CASE("embedding looks up rows for indices of any shape", "[core][index]") {
  Tensor w = iota({5, 3});
  Tensor idx = ids({4, 0, 4, 2, 1, 3}, {2, 3});
  for (const Tensor& weight : {w, transpose(contiguous(transpose(w, 0, 1)), 0, 1)}) {
    Tensor y = embedding(weight, idx);
    REQUIRE(y.shape() == Shape{2, 3, 3});
    for_each_pos(y.shape(), [&](const Pos& p) { REQUIRE(at(y, p) == at(w, {iat(idx, {p[0], p[1]}), p[2]})); });
  }
  CHECK(embedding(w, scalar_tensor(2, kInt64)).to_vector<double>() == std::vector<double>{6, 7, 8});
  CHECK(embedding(w, ids({}, {2, 0})).shape() == Shape{2, 0, 3});
}

TEST_CASE("embedding_backward sums repeated indices and skips the padding row", "[core][index]") {
  Tensor idx = ids({1, 3, 1, 1, 0, 3}, {3, 2});
  Tensor grad = randn({3, 2, 4}, kFloat64);
  auto naive = [&](int64_t padding_idx) {
    Tensor dw = zeros({5, 4}, kFloat64);
    double* p = dw.data_ptr<double>();
    for_each_pos(grad.shape(), [&](const Pos& q) {
      int64_t v = iat(idx, {q[0], q[1]});
      if (v != padding_idx) p[v * 4 + q[2]] += at(grad, q);
    });
    return dw;
  };
  CHECK(equal(embedding_backward(grad, idx, 5), naive(-1)));
  Tensor padded = embedding_backward(grad, idx, 5, 1);
  CHECK(equal(padded, naive(1)));
  CHECK(equal(select(padded, 0, 1), zeros({4}, kFloat64)));
  CHECK(equal(select(padded, 0, 4), zeros({4}, kFloat64)));  // never looked up
  // a strided gradient, float32
  Tensor g32 = transpose(ones({4, 6}), 0, 1);  // (6, 4)
  Tensor dw = embedding_backward(g32, ids({2, 2, 2, 0, 2, 2}), 3);
  CHECK(dw.dtype() == kFloat32);
  CHECK(dw.to_vector<float>() == std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0, 5, 5, 5, 5});
}

TEST_CASE("embedding_backward on large inputs (parallel over columns) matches a serial loop", "[core][index]") {
  const int64_t V = 17, N = 400, D = 300;
  Tensor idx = randint(0, V, {N});
  Tensor grad = randn({N, D}, kFloat64);
  Tensor dw = embedding_backward(grad, idx, V, 3);
  Tensor expected = zeros({V, D}, kFloat64);
  double* e = expected.data_ptr<double>();
  const double* g = grad.data_ptr<double>();
  const int64_t* ip = idx.data_ptr<int64_t>();
  for (int64_t n = 0; n < N; ++n)
    if (ip[n] != 3)
      for (int64_t c = 0; c < D; ++c) e[ip[n] * D + c] += g[n * D + c];
  CHECK(equal(dw, expected));
}

// ---- bad input ------------------------------------------------------------------------------------

TEST_CASE("cat and stack reject bad input", "[core][index]") {
  Tensor a = zeros({2, 3}), b = zeros({2, 4});
  CHECK_THROWS_AS(cat({}, 0), ValueError);
  CHECK_THROWS_WITH(cat({}, 0), Catch::Contains("cat") && Catch::Contains("empty"));
  CHECK_THROWS_AS(cat({a, b}, 0), ShapeError);
  CHECK_THROWS_WITH(cat({a, a, b}, 0), Catch::Contains("cat") && Catch::Contains("tensor 2") &&
                                           Catch::Contains("[2, 4]") && Catch::Contains("dim 0"));
  CHECK_NOTHROW(cat({a, b}, 1));
  CHECK_THROWS_AS(cat({a, zeros({2, 3, 1})}, 0), ShapeError);
  CHECK_THROWS_AS(cat({a, zeros({2, 3}, kFloat64)}, 0), DTypeError);
  CHECK_THROWS_WITH(cat({a, zeros({2, 3}, kFloat64)}, 0), Catch::Contains("cat") && Catch::Contains("float64"));
  CHECK_THROWS_AS(cat({a, a}, 2), IndexError);
  CHECK_THROWS_AS(cat({a, a}, -3), IndexError);
  CHECK_THROWS_WITH(cat({a, a}, 2), Catch::Contains("cat"));
  CHECK_THROWS_AS(cat({scalar_tensor(1), scalar_tensor(2)}, 0), ShapeError);
  CHECK_THROWS_AS(cat({a, Tensor{}}, 0), StateError);

  CHECK_THROWS_AS(stack({}, 0), ValueError);
  CHECK_THROWS_AS(stack({a, b}, 0), ShapeError);
  CHECK_THROWS_WITH(stack({a, b}, 0), Catch::Contains("stack") && Catch::Contains("tensor 1"));
  CHECK_THROWS_AS(stack({a, zeros({2, 3}, kInt64)}, 0), DTypeError);
  CHECK_THROWS_AS(stack({a, a}, 3), IndexError);
  CHECK_NOTHROW(stack({a, a}, -3));
}

TEST_CASE("split, chunk and unbind reject bad input", "[core][index]") {
  Tensor x = zeros({4, 5});
  CHECK_THROWS_AS(split(x, 0, 0), ValueError);
  CHECK_THROWS_AS(split(x, -2, 0), ValueError);
  CHECK_THROWS_WITH(split(x, 0, 0), Catch::Contains("split"));
  CHECK_THROWS_AS(split(x, std::vector<int64_t>{2, 2}, 1), ShapeError);
  CHECK_THROWS_WITH(split(x, std::vector<int64_t>{2, 2}, 1), Catch::Contains("split") && Catch::Contains("sum to 4"));
  CHECK_THROWS_AS(split(x, std::vector<int64_t>{6, -1}, 1), ValueError);
  CHECK_THROWS_AS(split(x, 2, 2), IndexError);
  CHECK_THROWS_AS(split(scalar_tensor(1), 1, 0), ShapeError);
  CHECK_THROWS_AS(chunk(x, 0, 0), ValueError);
  CHECK_THROWS_WITH(chunk(x, 0, 0), Catch::Contains("chunk"));
  CHECK_THROWS_AS(chunk(x, 2, -3), IndexError);
  CHECK_THROWS_AS(unbind(x, 2), IndexError);
  CHECK_THROWS_WITH(unbind(x, 2), Catch::Contains("unbind"));
  CHECK_THROWS_AS(unbind(scalar_tensor(1), 0), ShapeError);
}

TEST_CASE("index_select and gather reject bad indices", "[core][index]") {
  Tensor x = zeros({3, 5});
  CHECK_THROWS_AS(index_select(x, 1, tensor({0, 1})), DTypeError);
  CHECK_THROWS_WITH(index_select(x, 1, tensor({0, 1})), Catch::Contains("index_select") && Catch::Contains("int64"));
  CHECK_THROWS_AS(index_select(x, 1, ids({0, 5})), IndexError);
  CHECK_THROWS_WITH(index_select(x, 1, ids({0, 7})),
                    Catch::Contains("index_select") && Catch::Contains("index 7") && Catch::Contains("< 5"));
  CHECK_THROWS_WITH(index_select(x, 0, ids({-1})),
                    Catch::Contains("index_select") && Catch::Contains("index -1") && Catch::Contains("< 3"));
  CHECK_THROWS_AS(index_select(x, 0, ids({0, 1}, {1, 2})), ShapeError);
  CHECK_THROWS_AS(index_select(x, 2, ids({0})), IndexError);
  CHECK_THROWS_AS(index_select(scalar_tensor(1), 0, ids({0})), ShapeError);

  CHECK_THROWS_AS(gather(x, 1, tensor({0, 1}, {2, 1})), DTypeError);
  CHECK_THROWS_WITH(gather(x, 1, ids({0, 5}, {2, 1})),
                    Catch::Contains("gather") && Catch::Contains("index 5") && Catch::Contains("< 5"));
  CHECK_THROWS_AS(gather(x, 1, ids({0, -2}, {2, 1})), IndexError);
  CHECK_THROWS_AS(gather(x, 1, ids({0, 1})), ShapeError);                // fewer dims than x
  CHECK_THROWS_AS(gather(x, 1, ids({0, 0, 0, 0}, {4, 1})), ShapeError);  // larger than x in dim 0
  CHECK_THROWS_WITH(gather(x, 1, ids({0, 0, 0, 0}, {4, 1})), Catch::Contains("gather") && Catch::Contains("dim 0"));
  CHECK_THROWS_AS(gather(x, -3, ids({0}, {1, 1})), IndexError);
}

TEST_CASE("scatter_add and index_add reject bad input", "[core][index]") {
  Tensor x = zeros({3, 5}), src = ones({2, 2});
  CHECK_THROWS_AS(scatter_add(x, 0, tensor({0, 1}, {1, 2}), src), DTypeError);
  CHECK_THROWS_AS(scatter_add(x, 0, ids({0, 1}, {1, 2}), ones({2, 2}, kFloat64)), DTypeError);
  CHECK_THROWS_WITH(scatter_add(x, 0, ids({0, 1}, {1, 2}), ones({2, 2}, kFloat64)),
                    Catch::Contains("scatter_add") && Catch::Contains("src"));
  CHECK_THROWS_WITH(scatter_add(x, 0, ids({0, 3}, {1, 2}), src),
                    Catch::Contains("scatter_add") && Catch::Contains("index 3") && Catch::Contains("< 3"));
  CHECK_THROWS_AS(scatter_add(x, 0, ids({0, -1}, {1, 2}), src), IndexError);
  CHECK_THROWS_AS(scatter_add(x, 0, ids({0, 0, 0}, {1, 3}), src), ShapeError);  // larger than src
  CHECK_THROWS_AS(scatter_add(x, 0, ids({0, 1}), ones({2})), ShapeError);       // wrong number of dims
  CHECK_THROWS_AS(scatter_add(x, 2, ids({0}, {1, 1}), src), IndexError);
  CHECK_THROWS_AS(scatter_add(zeros({2}, kBool), 0, ids({0}), zeros({1}, kBool)), DTypeError);

  CHECK_THROWS_AS(index_add(x, 0, tensor({0}), ones({1, 5})), DTypeError);
  CHECK_THROWS_WITH(index_add(x, 0, ids({1, 4}), ones({2, 5})),
                    Catch::Contains("index_add") && Catch::Contains("index 4") && Catch::Contains("< 3"));
  CHECK_THROWS_AS(index_add(x, 0, ids({1, 1}), ones({3, 5})), ShapeError);
  CHECK_THROWS_WITH(index_add(x, 0, ids({1, 1}), ones({3, 5})),
                    Catch::Contains("index_add") && Catch::Contains("[2, 5]"));
  CHECK_THROWS_AS(index_add(x, 0, ids({1}), ones({1, 5}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(index_add(x, 0, ids({1}, {1, 1}), ones({1, 5})), ShapeError);
  CHECK_THROWS_AS(index_add(x, -3, ids({1}), ones({1, 5})), IndexError);
  // a failed scatter writes nothing
  CHECK_THROWS(index_add(x, 0, ids({0, 1, 9}), ones({3, 5})));
  CHECK(equal(x, zeros({3, 5})));
}

TEST_CASE("embedding and embedding_backward reject bad input", "[core][index]") {
  Tensor w = zeros({4, 2});
  CHECK_THROWS_AS(embedding(w, tensor({0, 1})), DTypeError);
  CHECK_THROWS_WITH(embedding(w, tensor({0, 1})), Catch::Contains("embedding") && Catch::Contains("int64"));
  CHECK_THROWS_AS(embedding(w, ids({0, 4})), IndexError);
  CHECK_THROWS_WITH(embedding(w, ids({0, 4})),
                    Catch::Contains("embedding") && Catch::Contains("index 4") && Catch::Contains("< 4"));
  CHECK_THROWS_WITH(embedding(w, ids({-3})), Catch::Contains("embedding") && Catch::Contains("index -3"));
  CHECK_THROWS_AS(embedding(zeros({4}), ids({0})), ShapeError);

  Tensor g = zeros({3, 2}), idx = ids({0, 1, 2});
  CHECK_NOTHROW(embedding_backward(g, idx, 4, 3));
  CHECK_THROWS_AS(embedding_backward(g, tensor({0, 1, 2}), 4), DTypeError);
  CHECK_THROWS_WITH(embedding_backward(g, ids({0, 1, 9}), 4),
                    Catch::Contains("embedding_backward") && Catch::Contains("index 9") && Catch::Contains("< 4"));
  CHECK_THROWS_AS(embedding_backward(g, idx, 4, 4), IndexError);
  CHECK_THROWS_AS(embedding_backward(g, idx, 4, -2), IndexError);
  CHECK_THROWS_WITH(embedding_backward(g, idx, 4, 4), Catch::Contains("padding_idx 4"));
  CHECK_THROWS_AS(embedding_backward(zeros({2, 2}), idx, 4), ShapeError);
  CHECK_THROWS_AS(embedding_backward(zeros({3}), idx, 4), ShapeError);
  CHECK_THROWS_AS(embedding_backward(zeros({3, 2}, kInt64), idx, 4), DTypeError);
  CHECK_THROWS_AS(embedding_backward(g, idx, -1), ValueError);
}
