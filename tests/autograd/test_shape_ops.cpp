#include "heed/autograd/node.hpp"
#include "helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace {
Tensor ids(std::initializer_list<double> v) { return tensor(v, kInt64); }
Tensor ids(std::initializer_list<double> v, const Shape& shape) { return tensor(v, shape, kInt64); }
}  // namespace

// ---- joining ------------------------------------------------------------------------------------

TEST_CASE("gradcheck: cat and stack", "[autograd][shape_ops]") {
  Tensor a = leaf({2, 3}), b = leaf({2, 1}), c = leaf({2, 4});
  check_gradients([](Inputs v) { return cat({v[0], v[1], v[2]}, 1); }, {a, b, c});
  check_gradients([](Inputs v) { return cat({v[0], v[1], v[2]}, -1) * cat({v[2], v[0], v[1]}, -1); }, {a, b, c});
  check_gradients([](Inputs v) { return cat({v[0], transpose(v[1], 0, 1)}, 0); }, {leaf({2, 3}), leaf({3, 1})});
  check_gradients([](Inputs v) { return cat({v[0], v[0]}, 0); }, {a});  // the same input twice
  Tensor p = leaf({2, 3}), q = leaf({2, 3});
  for (int64_t dim : {0, 1, 2, -1})
    check_gradients([dim](Inputs v) { return stack({v[0], square(v[1]), v[0]}, dim); }, {p, q});
}

TEST_CASE("cat and stack send gradient only to inputs that need it", "[autograd][shape_ops]") {
  Tensor a = leaf({2, 2}), fixed = ones({2, 1}, kFloat64);
  Tensor y = cat({fixed, a}, 1);
  CHECK(y.grad_fn_name() == "cat");
  sum(y * tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64)).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 3, 5, 6});
  CHECK_FALSE(fixed.grad().defined());
  Tensor s = stack({fixed, fixed}, 0);
  CHECK_FALSE(s.requires_grad());
}

// ---- splitting ----------------------------------------------------------------------------------

TEST_CASE("gradcheck: split, chunk and unbind", "[autograd][shape_ops]") {
  Tensor x = leaf({4, 7});
  check_gradients(
      [](Inputs v) {
        auto p = split(v[0], 3, 1);  // 3, 3, 1
        return cat({p[2] * 2.0, square(p[0]), p[1]}, 1);
      },
      {x});
  check_gradients(
      [](Inputs v) {
        auto p = split(v[0], std::vector<int64_t>{1, 0, 3}, 0);
        return cat({p[2], p[1], exp(p[0])}, 0);
      },
      {x});
  check_gradients([](Inputs v) { return stack(chunk(v[0], 2, 0), 0) * 3.0; }, {x});
  check_gradients(
      [](Inputs v) {
        auto u = unbind(v[0], -1);
        return stack({u[6], u[0] * u[1], u[3]}, 1);
      },
      {x});
}

TEST_CASE("split is one node, and unused pieces get zero gradient", "[autograd][shape_ops]") {
  Tensor x = leaf({3, 5});
  auto pieces = split(x, std::vector<int64_t>{1, 2, 2}, 1);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].grad_fn() == pieces[2].grad_fn());
  CHECK(pieces[0].grad_fn_name() == "split");
  CHECK(pieces[1].shares_storage_with(x));
  sum(pieces[1] * 2.0).backward();  // only the middle piece is used
  Tensor expected = zeros({3, 5}, kFloat64);
  narrow(expected, 1, 1, 2).fill_(2.0);
  CHECK(equal(x.grad(), expected));

  // gradcheck through a function that ignores some pieces
  check_gradients([](Inputs v) { return square(chunk(v[0], 3, 0)[1]); }, {leaf({6, 2})});
  check_gradients([](Inputs v) { return unbind(v[0], 1)[2] * 5.0; }, {leaf({2, 4})});
}

// ---- indexing -----------------------------------------------------------------------------------

TEST_CASE("gradcheck: index_select with repeated indices", "[autograd][shape_ops]") {
  Tensor x = leaf({3, 4, 2});
  Tensor idx = ids({3, 0, 3, 3, 1});
  check_gradients([&](Inputs v) { return index_select(v[0], 1, idx); }, {x});
  check_gradients([&](Inputs v) { return index_select(v[0], 0, ids({2, 2, 0})); }, {x});
  check_gradients([&](Inputs v) { return index_select(transpose(v[0], 0, 2), -1, ids({1, 1})); }, {x});
}

TEST_CASE("gradcheck: gather", "[autograd][shape_ops]") {
  Tensor x = leaf({3, 4});
  check_gradients([](Inputs v) { return gather(v[0], 1, ids({0, 0, 3, 1, 2, 2}, {3, 2})); }, {x});
  check_gradients([](Inputs v) { return gather(v[0], 0, ids({2, 0, 2, 2, 2, 0, 1, 1}, {2, 4})); }, {x});
  check_gradients([](Inputs v) { return gather(v[0], -1, ids({3, 3, 3, 3}, {1, 4})); }, {x});
}

TEST_CASE("gradcheck: scatter_add, for x and src", "[autograd][shape_ops]") {
  Tensor x = leaf({3, 4}), src = leaf({2, 5});
  Tensor idx = ids({0, 2, 2, 1, 2, 0, 0, 1}, {2, 4});  // smaller than src in dim 1
  check_gradients([&](Inputs v) { return scatter_add(v[0], 0, idx, v[1]); }, {x, src});
  Tensor idx1 = ids({3, 3, 0, 1, 1, 1}, {2, 3});
  check_gradients([&](Inputs v) { return scatter_add(v[0], 1, idx1, v[1]); }, {x, leaf({2, 3})});
  // only src requires grad
  check_gradients([&](Inputs v) { return scatter_add(zeros({3, 4}, kFloat64), 0, idx, v[0]); }, {src});
}

TEST_CASE("scatter_add gives src zero gradient beyond the index", "[autograd][shape_ops]") {
  Tensor x = leaf({2, 3}), src = leaf({2, 3});
  Tensor y = scatter_add(x, 0, ids({1, 0}, {1, 2}), src);
  sum(y * tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  // src[0][0] went to y[1][0], src[0][1] to y[0][1]; nothing else of src was used
  CHECK(src.grad().to_vector<double>() == std::vector<double>{4, 2, 0, 0, 0, 0});
}

TEST_CASE("gradcheck: index_add, for x and source", "[autograd][shape_ops]") {
  Tensor x = leaf({3, 4}), source = leaf({3, 5});
  Tensor idx = ids({1, 3, 1, 0, 1});
  check_gradients([&](Inputs v) { return index_add(v[0], 1, idx, v[1]); }, {x, source});
  check_gradients([&](Inputs v) { return index_add(v[0], 0, ids({2, 2}), v[1]); }, {x, leaf({2, 4})});
}

// ---- embedding ----------------------------------------------------------------------------------

TEST_CASE("gradcheck: embedding with repeated indices", "[autograd][shape_ops]") {
  Tensor w = leaf({5, 3});
  Tensor idx = ids({4, 1, 4, 4, 0, 1}, {2, 3});
  check_gradients([&](Inputs v) { return embedding(v[0], idx); }, {w});
  check_gradients([&](Inputs v) { return embedding(v[0], idx) * embedding(v[0], ids({1})); }, {w});
}

TEST_CASE("embedding gives the padding row exactly zero gradient", "[autograd][shape_ops]") {
  Tensor w = leaf({5, 3});
  Tensor idx = ids({2, 4, 2, 0, 2}, {5});
  Tensor weights = randn({5, 3}, kFloat64);
  Tensor y = embedding(w, idx, 2);
  CHECK(equal(y.detach(), embedding(w.detach(), idx)));  // the padding row is still looked up
  sum(y * weights).backward();
  // the reference: the same loss without padding, then row 2 cleared
  Tensor w2 = w.detach().clone().requires_grad_();
  sum(embedding(w2, idx) * weights).backward();
  Tensor expected = w2.grad().clone();
  select(expected, 0, 2).zero_();
  CHECK(equal(select(w.grad(), 0, 2), zeros({3}, kFloat64)));
  CHECK(allclose(w.grad(), expected, 1e-12, 1e-12));
  CHECK_FALSE(equal(select(w2.grad(), 0, 2), zeros({3}, kFloat64)));  // padding really changed something
  CHECK_THROWS_AS(embedding(w, idx, 5), IndexError);
  CHECK_THROWS_WITH(embedding(w, idx, -6), Catch::Contains("embedding") && Catch::Contains("padding_idx -6"));
  // A negative padding_idx counts from the end, as in PyTorch: -3 is row 2 of 5.
  Tensor w3 = w.detach().clone().requires_grad_();
  sum(embedding(w3, idx, -3)).backward();
  CHECK(equal(select(w3.grad(), 0, 2), zeros({3}, kFloat64)));
}

TEST_CASE("index tensors never require grad", "[autograd][shape_ops]") {
  Tensor x = leaf({4, 3});
  Tensor idx = ids({3, 1});
  Tensor gidx = ids({0, 3, 2}, {1, 3});
  Tensor src = leaf({1, 3});
  std::vector<Tensor> outs = {index_select(x, 0, idx), gather(x, 0, gidx), scatter_add(x, 0, gidx, src),
                              index_add(x, 0, idx, leaf({2, 3})), embedding(x, gidx)};
  for (const Tensor& y : outs) {
    CHECK(y.requires_grad());
    sum(y).backward();
  }
  CHECK_FALSE(idx.requires_grad());
  CHECK_FALSE(gidx.requires_grad());
  CHECK_FALSE(idx.grad().defined());
  CHECK_FALSE(gidx.grad().defined());
  CHECK(outs[0].grad_fn()->next_edges().size() == 1);  // x only
  CHECK(outs[2].grad_fn()->next_edges().size() == 2);  // x and src
  CHECK(outs[4].grad_fn()->next_edges().size() == 1);  // the weight only
  CHECK(x.grad().dtype() == kFloat64);
  CHECK(src.grad().to_vector<double>() == std::vector<double>{1, 1, 1});
}

TEST_CASE("float32 embedding trains a float32 weight", "[autograd][shape_ops]") {
  Tensor w = randn({4, 2}).requires_grad_();
  sum(embedding(w, ids({3, 3, 0}))).backward();
  CHECK(w.grad().dtype() == kFloat32);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{1, 1, 0, 0, 0, 0, 2, 2});
}

TEST_CASE("differentiable shape ops report bad input from their kernels", "[autograd][shape_ops]") {
  Tensor x = leaf({2, 3});
  CHECK_THROWS_AS(cat({}, 0), ValueError);
  CHECK_THROWS_WITH(cat({x, leaf({3, 2})}, 0), Catch::Contains("cat"));
  CHECK_THROWS_AS(stack({x, leaf({3})}, 0), ShapeError);
  CHECK_THROWS_AS(split(x, 0, 1), ValueError);
  CHECK_THROWS_AS(chunk(x, 2, 2), IndexError);
  CHECK_THROWS_AS(unbind(x, -3), IndexError);
  CHECK_THROWS_WITH(index_select(x, 1, ids({3})), Catch::Contains("index_select") && Catch::Contains("index 3"));
  CHECK_THROWS_AS(gather(x, 1, tensor({0}, {1, 1}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(scatter_add(x, 1, ids({5}, {1, 1}), leaf({1, 1})), IndexError);
  CHECK_THROWS_AS(index_add(x, 1, ids({0}), leaf({2, 2})), ShapeError);
  CHECK_THROWS_WITH(embedding(x, ids({2})), Catch::Contains("embedding") && Catch::Contains("index 2"));
}
