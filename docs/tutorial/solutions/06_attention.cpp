// Solutions to the exercises of chapter 6 (docs/tutorial/exercises/06_attention.md). Each solution
// checks its answer and the program exits with status 1 if one is wrong.
// docs/tutorial/solutions/06_attention.md quotes the blocks between "// [tutorial:NAME]" and
// "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

namespace {

// Prints the rows of a 2-d tensor, 4 decimals.
void print_rows(const Tensor& m) {
  std::vector<double> v = m.to(heed::kFloat64).contiguous().to_vector<double>();
  for (int64_t i = 0; i < m.size(0); ++i) {
    fmt::print(" ");
    for (int64_t j = 0; j < m.size(1); ++j) fmt::print(" {:.4f}", v[size_t(i * m.size(1) + j)]);
    fmt::print("\n");
  }
}

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== 1. sharper and flatter ==\n");
  // [tutorial:sharpness]
  // The chapter's worked example: scores q · k_j / sqrt(4) = (2, 0, 0.5). Scale the query by c.
  Tensor q = heed::tensor({1, 0, 1, 0}, {1, 4}, heed::kFloat64);
  Tensor k = heed::tensor({2, 0, 2, 0, 0, 1, 0, 1, 1, 1, 0, 0}, {3, 4}, heed::kFloat64);
  for (double c : {0.0, 1.0, 10.0}) {
    fmt::print("c = {:4}:", c);
    print_rows(heed::softmax(heed::matmul(q * c, k.t()) / 2.0, -1));
  }
  // [tutorial:end]
  {
    std::vector<double> flat = heed::softmax(heed::matmul(q * 0.0, k.t()) / 2.0, -1).to_vector<double>();
    std::vector<double> sharp = heed::softmax(heed::matmul(q * 10.0, k.t()) / 2.0, -1).to_vector<double>();
    check(std::abs(flat[0] - 1.0 / 3) < 1e-15 && std::abs(flat[2] - 1.0 / 3) < 1e-15 && sharp[0] > 0.999999,
          "c = 0 is uniform, c = 10 is nearly one-hot");
  }

  fmt::print("\n== 2. Luong's general score by hand ==\n");
  // [tutorial:general]
  // score(q, k) = qᵀ W k, with W = the module's weight (Dq, Dk): in rows, scores = q (k Wᵀ)ᵀ.
  const int64_t B = 2, Lq = 3, Lk = 5, Dq = 4, Dk = 6;
  heed::nn::GeneralAttention general(/*query_size=*/Dq, /*key_size=*/Dk);
  Tensor query = heed::randn({B, Lq, Dq}), keys = heed::randn({B, Lk, Dk});
  Tensor pad = heed::ge(heed::arange(0, Lk, 1, heed::kInt64).reshape({1, Lk}),
                        heed::tensor({5, 3}, {B, 1}, heed::kInt64));  // (B, Lk): sequence 1 has 3 keys
  heed::nn::AttentionResult theirs = general(query, keys, keys, pad);

  Tensor wk = heed::matmul(keys, general.weight->weight.t());  // (B, Lk, Dq): W k_j
  Tensor scores = heed::matmul(query, wk.transpose(1, 2));     // (B, Lq, Lk)
  Tensor weights = heed::softmax(heed::masked_fill(scores, pad.reshape({B, 1, Lk}), -INFINITY), -1);
  Tensor context = heed::matmul(weights, keys);  // (B, Lq, Dk)
  fmt::print("same weights: {}, same context: {}\n", heed::allclose(weights, theirs.weights, 1e-5, 1e-6),
             heed::allclose(context, theirs.context, 1e-5, 1e-6));
  // [tutorial:end]
  check(heed::allclose(weights, theirs.weights, 1e-5, 1e-6) && heed::allclose(context, theirs.context, 1e-5, 1e-6),
        "Luong's general score by hand equals nn::GeneralAttention");

  fmt::print("\n== 3. the rows of the scores' gradient ==\n");
  // [tutorial:row_sums]
  // Any loss of the output; the gradient that reaches the scores, through the softmax, sums to 0 on every row.
  Tensor qs = heed::randn({4, 8}, heed::kFloat64), ks = heed::randn({6, 8}, heed::kFloat64);
  Tensor vs = heed::randn({6, 8}, heed::kFloat64);
  Tensor s = heed::matmul(qs, ks.t()).requires_grad_();  // (4, 6), a leaf so that its gradient is kept
  Tensor mask = heed::tensor({0, 0, 0, 0, 1, 1}, {1, 6}, heed::kBool);
  Tensor out = heed::matmul(heed::softmax(heed::masked_fill(s, mask, -INFINITY), -1), vs);
  heed::sum(out * heed::randn({4, 8}, heed::kFloat64)).backward();
  const double largest = heed::max_abs_diff(heed::sum(s.grad(), -1), heed::zeros({4}, heed::kFloat64));
  fmt::print("every row of the scores' gradient sums to 0 (to 1e-15): {}\n", largest < 1e-15 ? "yes" : "no");
  fmt::print("gradient of the masked scores: {}\n", s.grad().narrow(1, 4, 2).flatten());
  // And the consequence: adding a constant to a row of scores changes no weight.
  Tensor w1 = heed::softmax(s.detach(), -1), w2 = heed::softmax(s.detach() + 123.0, -1);
  fmt::print("softmax(s + 123) == softmax(s): {}\n", heed::allclose(w1, w2, 1e-12, 1e-15));
  // [tutorial:end]
  check(largest < 1e-15, "each row of the scores' gradient sums to 0");
  check(heed::max_abs_diff(s.grad().narrow(1, 4, 2), heed::zeros({4, 2}, heed::kFloat64)) == 0,
        "masked scores get no gradient");

  fmt::print("\n== 4. masking at the wrong place ==\n");
  // [tutorial:wrong_mask]
  // Self-attention of 4 tokens, the last one padding; two versions of its value (the padding's content
  // should not matter). Right: mask the scores. Wrong: attend to everything, then blank the padded rows.
  Tensor x = heed::randn({4, 3}, heed::kFloat64);
  Tensor is_pad = heed::tensor({0, 0, 0, 1}, {1, 4}, heed::kBool);
  auto right = [&](const Tensor& v) { return heed::scaled_dot_product_attention(x, x, v, is_pad).output; };
  auto wrong = [&](const Tensor& v) {
    Tensor o = heed::scaled_dot_product_attention(x, x, v).output;  // every token reads the padding too
    return heed::masked_fill(o, is_pad.reshape({4, 1}), 0.0);       // then the padded query's row is zeroed
  };
  Tensor v1 = x.clone(), v2 = x.clone();
  v2.narrow(0, 3, 1).fill_(100.0);  // different content at the padded position
  fmt::print("right: the real tokens' outputs depend on the padding: {}\n",
             !heed::allclose(right(v1).narrow(0, 0, 3), right(v2).narrow(0, 0, 3)));
  fmt::print("wrong: the real tokens' outputs depend on the padding: {}\n",
             !heed::allclose(wrong(v1).narrow(0, 0, 3), wrong(v2).narrow(0, 0, 3)));
  // Zeroing the masked weights after the softmax leaves rows that sum to less than 1; renormalizing fixes it.
  Tensor w = heed::softmax(heed::matmul(x, x.t()) / std::sqrt(3.0), -1);
  Tensor zeroed = heed::masked_fill(w, is_pad, 0.0);
  fmt::print("after the softmax, zeroed: rows sum to {}\n", heed::sum(zeroed, -1));
  Tensor renormalized = zeroed / heed::sum(zeroed, -1, true);
  Tensor before = heed::scaled_dot_product_attention(x, x, x, is_pad, 0.0, false, std::nullopt, true).weights;
  fmt::print("zeroed and renormalized equals masking the scores: {}\n",
             heed::allclose(renormalized, before, 1e-12, 1e-15));
  // [tutorial:end]
  check(heed::allclose(right(v1).narrow(0, 0, 3), right(v2).narrow(0, 0, 3)), "masking the scores hides the padding");
  check(!heed::allclose(wrong(v1).narrow(0, 0, 3), wrong(v2).narrow(0, 0, 3)), "masking the outputs does not");
  check(heed::allclose(renormalized, before, 1e-12, 1e-15), "renormalized zeroed weights equal masked scores");

  fmt::print("\n== 5. attention does not know the order ==\n");
  // [tutorial:permutation]
  // Self-attention with projections: SA(X) = softmax(X W_Q (X W_K)ᵀ / sqrt(d)) X W_V. Permute the rows of X.
  Tensor X = heed::randn({5, 4}, heed::kFloat64);
  Tensor Wq = heed::randn({4, 4}, heed::kFloat64), Wk = heed::randn({4, 4}, heed::kFloat64);
  Tensor Wv = heed::randn({4, 4}, heed::kFloat64);
  auto self_attention = [&](const Tensor& input, bool causal) {
    return heed::scaled_dot_product_attention(heed::matmul(input, Wq), heed::matmul(input, Wk), heed::matmul(input, Wv),
                                              Tensor{}, 0.0, causal)
        .output;
  };
  Tensor perm = heed::tensor({3, 0, 4, 1, 2}, {5}, heed::kInt64);  // row i of PX is row perm[i] of X
  Tensor PX = heed::index_select(X, 0, perm);
  for (bool causal : {false, true}) {
    Tensor permuted_output = heed::index_select(self_attention(X, causal), 0, perm);  // P SA(X)
    fmt::print("{:9}: SA(P X) = P SA(X): {}\n", causal ? "causal" : "no mask",
               heed::allclose(self_attention(PX, causal), permuted_output, 1e-12, 1e-14));
  }
  // [tutorial:end]
  check(heed::allclose(self_attention(PX, false), heed::index_select(self_attention(X, false), 0, perm), 1e-12, 1e-14),
        "self-attention without a mask is permutation-equivariant");
  check(!heed::allclose(self_attention(PX, true), heed::index_select(self_attention(X, true), 0, perm), 1e-12, 1e-14),
        "with a causal mask it is not");

  return tutorial::finish();
}
