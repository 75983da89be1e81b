// Grapheme-to-phoneme conversion on real data: an encoder-decoder with attention learns to spell out
// how English words are pronounced, from the CMU Pronouncing Dictionary (about 106,000 words):
//
//   cheshire  ->  ch eh sh er          heed  ->  hh iy d
//
// Two models on the same data (--model):
//   rnn          the seeds' model (Bahdanau et al. 2015): letters -> Embedding -> bidirectional GRU;
//                a GRU-cell decoder that reads, at every step, the previous phone and the context
//                c_t = sum_s a_ts enc_s of additive attention over the letters; logits from [s_t; c_t]
//   transformer  an encoder-decoder Transformer (Vaswani et al. 2017), sinusoidal positions
// Training: teacher forcing, cross-entropy with label smoothing, AdamW, warmup then cosine, batches
// of words of similar length (data::BucketBatchSampler). Test: beam search.
//
// The data (docs/g2p.md): Debian's festlex-cmu ships the dictionary (version 0.4) in Festival's
// format; examples/g2p/cmudict.hpp reads it. Stress is dropped, as in the papers. Words are split by a
// hash of the word into train / dev / test (90/5/5); a word with several pronunciations trains on each,
// and a prediction counts as right when it equals any of them.
//
// It prints its progress, the dev error rates after every epoch, and the test error rates with beam
// search; it writes the metrics (train.csv, eval.csv), the learning curves (training.svg), attention
// heatmaps of a few words (rnn) and the checkpoint (g2p.safetensors) to --out. Its last line is
// "WER: <x> PER: <y>", fractions on the test split. With --load it converts the words on its command
// line instead:  g2p --load g2p_out/g2p.safetensors cheshire heed
#include <heed.hpp>

#include "../common.hpp"
#include "cmudict.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

using heed::Tensor;
namespace data = heed::data;
namespace nn = heed::nn;
namespace optim = heed::optim;
namespace fs = std::filesystem;

namespace {

// ---- the data --------------------------------------------------------------------------------------

struct Pair {
  std::vector<int64_t> letters, phones;  // ids, without <bos> / <eos>
};

// One padded batch: the letters, and the phones shifted for teacher forcing.
struct Batch {
  Tensor src;      // (B, S) int64 letters, padded with <pad>
  Tensor lengths;  // (B) int64
  Tensor src_pad;  // (B, S) bool, true at padding
  Tensor tgt_in;   // (B, T) int64: <bos> p_1 .. p_n, padded
  Tensor tgt_out;  // (B, T) int64: p_1 .. p_n <eos>, padded with -100 (not scored)
  Tensor tgt_pad;  // (B, T) bool
};

Batch collate(const std::vector<Pair>& pairs) {
  std::vector<std::vector<int64_t>> letters, phones;
  for (const Pair& p : pairs) {
    letters.push_back(p.letters);
    phones.push_back(p.phones);
  }
  data::PaddedBatch s = data::pad_sequence(letters, data::Vocab::pad_id);
  data::TeacherForcingBatch t =
      data::teacher_forcing(phones, data::Vocab::bos_id, data::Vocab::eos_id, data::Vocab::pad_id, -100);
  return {s.padded, s.lengths, s.mask, t.input, t.target, t.mask};
}

// A word's letters as tokens (one per UTF-8 character).
std::vector<std::string> letters_of(const std::string& word) { return data::CharTokenizer{}.tokenize(word); }

// The dictionary, split: training pairs (one per pronunciation), and dev / test words with every
// pronunciation they have.
struct Corpus {
  data::Vocab letters, phones;
  std::vector<Pair> train;
  std::vector<std::string> dev_words, test_words;
  g2p::Lexicon lexicon;
};

Corpus load_corpus(const std::string& path, int train_words) {
  if (!fs::exists(path))
    cli::usage_error(
        "the CMU Pronouncing Dictionary is not at {}: install Debian's festlex-cmu (sudo apt-get install "
        "--no-install-recommends festlex-cmu; `make deps` does it) or give --dict FILE",
        path);
  Corpus c;
  c.lexicon = g2p::make_lexicon(g2p::read_cmudict(path));
  std::vector<std::vector<std::string>> train_letters, train_phones;
  std::vector<std::string> train_words_kept;
  for (const auto& [word, prons] : c.lexicon) {
    const g2p::Split split = g2p::split_of(word);
    if (split == g2p::Split::Dev) c.dev_words.push_back(word);
    if (split == g2p::Split::Test) c.test_words.push_back(word);
    if (split != g2p::Split::Train || (train_words > 0 && static_cast<int>(train_words_kept.size()) >= train_words))
      continue;
    train_words_kept.push_back(word);
    train_letters.push_back(letters_of(word));
    for (const auto& p : prons) train_phones.push_back(p);
  }
  // Every letter and phone of the training words; an unseen letter at test time is <unk>.
  c.letters = data::Vocab::build(train_letters);
  c.phones = data::Vocab::build(train_phones);
  for (const std::string& word : train_words_kept)
    for (const auto& p : c.lexicon.at(word))
      c.train.push_back({c.letters.lookup_indices(letters_of(word)), c.phones.lookup_indices(p)});
  return c;
}

// ---- the models ------------------------------------------------------------------------------------

struct ModelOptions {
  std::string kind = "rnn";
  int64_t letters = 0, phones = 0;  // vocabulary sizes
  int embed = 64, hidden = 256, layers = 1, heads = 4, ff = 1024;
  double dropout = 0.2;
};

// What training and decoding need of either model.
struct G2PModel : nn::Module {
  using nn::Module::Module;
  // Teacher forcing: logits (B, T, phones) for b.tgt_out.
  virtual Tensor forward_train(const Batch& b) = 0;
  // A decoding model over the batch's words for nn::greedy_decode / nn::beam_search. When `weights`
  // is given, each step appends its attention over the letters (N, S) to it (rnn only).
  virtual nn::DecodingModel decoding_model(const Batch& b, std::vector<Tensor>* weights) = 0;
};

struct RnnG2P : G2PModel {
  explicit RnnG2P(const ModelOptions& o) : G2PModel("RnnG2P") {
    src_emb = register_module("src_emb", std::make_shared<nn::Embedding>(o.letters, o.embed, data::Vocab::pad_id));
    encoder = register_module("encoder", std::make_shared<nn::GRU>(o.embed, o.hidden / 2,
                                                                   nn::RNNOptions{.num_layers = o.layers,
                                                                                  .dropout = o.layers > 1 ? o.dropout : 0.0,
                                                                                  .bidirectional = true}));
    init = register_module("init", std::make_shared<nn::Linear>(o.hidden, o.hidden));
    attention = register_module("attention", std::make_shared<nn::AdditiveAttention>(o.hidden, o.hidden, o.hidden));
    tgt_emb = register_module("tgt_emb", std::make_shared<nn::Embedding>(o.phones, o.embed, data::Vocab::pad_id));
    decoder = register_module("decoder", std::make_shared<nn::GRUCell>(o.embed + o.hidden, o.hidden));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(o.dropout));
    out = register_module("out", std::make_shared<nn::Linear>(2 * o.hidden, o.phones));
  }

  // The decoder's state between steps: s, and the encoder's outputs it attends over.
  struct State {
    Tensor s, values, keys, mask;  // (N, H), (N, S, H), the keys prepared once, (N, S) bool
  };
  State encode(const Batch& b) {
    nn::RNNOutput r = encoder->forward(dropout->forward((*src_emb)(b.src)), Tensor{}, Tensor{}, b.lengths);
    // h_n (2 * layers, B, H/2): the last layer's forward and backward final states.
    const int64_t L = r.h_n.size(0);
    Tensor final = heed::cat({r.h_n.select(0, L - 2), r.h_n.select(0, L - 1)}, 1);
    return {heed::tanh((*init)(final)), r.output, attention->prepare_keys(r.output), b.src_pad};
  }
  // One step: previous phones (N) -> logits (N, V); the state moves on.
  Tensor step(const Tensor& prev, State& st, std::vector<Tensor>* weights) {
    nn::AttentionResult a = attention->forward_prepared(st.s, st.keys, st.values, st.mask);
    if (weights) weights->push_back(a.weights);
    st.s = decoder->forward(heed::cat({dropout->forward((*tgt_emb)(prev)), a.context}, 1), st.s);
    return (*out)(dropout->forward(heed::cat({st.s, a.context}, 1)));
  }

  Tensor forward_train(const Batch& b) override {
    State st = encode(b);
    std::vector<Tensor> logits;
    for (const Tensor& prev : heed::unbind(b.tgt_in, 1)) logits.push_back(step(prev, st, nullptr));
    return heed::stack(logits, 1);
  }

  nn::DecodingModel decoding_model(const Batch& b, std::vector<Tensor>* weights) override {
    auto st = std::make_shared<State>(encode(b));
    return {[this, st, weights](const Tensor& prefix) {
              return heed::log_softmax(step(prefix.select(1, prefix.size(1) - 1), *st, weights), 1);
            },
            [st](const Tensor& index) {
              st->s = heed::index_select(st->s, 0, index);
              st->values = heed::index_select(st->values, 0, index);
              st->keys = heed::index_select(st->keys, 0, index);
              st->mask = heed::index_select(st->mask, 0, index);
            }};
  }

  std::shared_ptr<nn::Embedding> src_emb, tgt_emb;
  std::shared_ptr<nn::GRU> encoder;
  std::shared_ptr<nn::Linear> init, out;
  std::shared_ptr<nn::AdditiveAttention> attention;
  std::shared_ptr<nn::GRUCell> decoder;
  std::shared_ptr<nn::Dropout> dropout;
};

struct TransformerG2P : G2PModel {
  static constexpr int64_t kMaxLen = 64;  // longer than any word or pronunciation of the dictionary

  explicit TransformerG2P(const ModelOptions& o) : G2PModel("TransformerG2P"), d_model(o.hidden) {
    src_emb = register_module("src_emb", std::make_shared<nn::Embedding>(o.letters, d_model, data::Vocab::pad_id));
    tgt_emb = register_module("tgt_emb", std::make_shared<nn::Embedding>(o.phones, d_model, data::Vocab::pad_id));
    positions = register_module("positions", std::make_shared<nn::SinusoidalPositionalEncoding>(d_model, kMaxLen));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(o.dropout));
    transformer = register_module(
        "transformer", std::make_shared<nn::Transformer>(nn::TransformerOptions{.d_model = d_model,
                                                                                .nhead = o.heads,
                                                                                .num_encoder_layers = o.layers,
                                                                                .num_decoder_layers = o.layers,
                                                                                .dim_feedforward = o.ff,
                                                                                .dropout = o.dropout,
                                                                                .norm_first = true}));
    out = register_module("out", std::make_shared<nn::Linear>(d_model, o.phones));
    // Embeddings N(0, 1/d): times sqrt(d) below, they have unit scale, like the positions.
    for (auto& e : {src_emb, tgt_emb}) nn::init::normal_(e->weight, 0.0, 1.0 / std::sqrt(double(d_model)));
  }

  // ids (B, T) -> embedding * sqrt(d) + the positions start .. start + T - 1, then dropout.
  Tensor embed(nn::Embedding& emb, const Tensor& ids, int64_t start) {
    if (start + ids.size(1) > kMaxLen)
      heed::throw_error<heed::ValueError>("TransformerG2P: positions up to {} (at most {})", start + ids.size(1), kMaxLen);
    return dropout->forward(emb.forward(ids) * std::sqrt(double(d_model)) + positions->pe.narrow(0, start, ids.size(1)));
  }

  Tensor forward_train(const Batch& b) override {
    const Tensor causal = nn::Transformer::generate_square_subsequent_mask(b.tgt_in.size(1));
    Tensor h = transformer->forward(embed(*src_emb, b.src, 0), embed(*tgt_emb, b.tgt_in, 0), Tensor{}, causal,
                                    Tensor{}, b.src_pad, b.tgt_pad, b.src_pad);
    return out->forward(h);
  }

  nn::DecodingModel decoding_model(const Batch& b, std::vector<Tensor>*) override {
    Tensor memory = transformer->encode(embed(*src_emb, b.src, 0), Tensor{}, b.src_pad);
    return nn::transformer_decoding_model(
        *transformer, memory, b.src_pad, [this](const Tensor& ids, int64_t start) { return embed(*tgt_emb, ids, start); },
        [this](const Tensor& hidden) { return out->forward(hidden); });
  }

  int64_t d_model;
  std::shared_ptr<nn::Embedding> src_emb, tgt_emb;
  std::shared_ptr<nn::SinusoidalPositionalEncoding> positions;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Transformer> transformer;
  std::shared_ptr<nn::Linear> out;
};

std::shared_ptr<G2PModel> make_model(const ModelOptions& o) {
  if (o.kind == "rnn") return std::make_shared<RnnG2P>(o);
  return std::make_shared<TransformerG2P>(o);
}

// ---- decoding and scoring --------------------------------------------------------------------------

// The phones of each word, decoded with beam search (beam 1: greedy).
std::vector<std::vector<std::string>> convert(G2PModel& model, const Corpus& c, const std::vector<std::string>& words,
                                              int beam) {
  heed::NoGradGuard no_grad;
  model.eval();
  std::vector<std::vector<std::string>> out;
  for (size_t begin = 0; begin < words.size(); begin += 256) {
    const size_t end = std::min(words.size(), begin + 256);
    std::vector<Pair> pairs;
    for (size_t i = begin; i < end; ++i) pairs.push_back({c.letters.lookup_indices(letters_of(words[i])), {1}});
    const Batch b = collate(pairs);
    const nn::DecodeOptions options{
        .max_len = 2 * b.src.size(1) + 4, .bos_id = data::Vocab::bos_id, .eos_id = data::Vocab::eos_id, .beam_size = beam};
    const nn::DecodingModel dm = model.decoding_model(b, nullptr);
    const nn::DecodeResult r = beam > 1 ? nn::beam_search(dm, b.src.size(0), options)
                                        : nn::greedy_decode(dm, b.src.size(0), options);
    for (const nn::Hypothesis& h : r.best) {
      std::vector<int64_t> ids = h.tokens;
      if (!ids.empty() && ids.back() == data::Vocab::eos_id) ids.pop_back();
      out.push_back(c.phones.lookup_tokens(ids));
    }
  }
  model.train();
  return out;
}

// Levenshtein distance between two phone sequences.
int64_t edit_distance(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int64_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

struct Rates {
  double wer = 0, per = 0;
};

// Word error rate: the fraction of words whose prediction equals none of their pronunciations.
// Phone error rate: the edit distance to the closest pronunciation, summed, over the phones of
// those pronunciations.
Rates score(const Corpus& c, const std::vector<std::string>& words, const std::vector<std::vector<std::string>>& pred) {
  int64_t wrong = 0, distance = 0, phones = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const auto& refs = c.lexicon.at(words[i]);
    int64_t best = -1;
    size_t best_len = 0;
    for (const auto& ref : refs) {
      const int64_t d = edit_distance(pred[i], ref);
      if (best < 0 || d < best) best = d, best_len = ref.size();
    }
    wrong += best > 0;
    distance += best;
    phones += static_cast<int64_t>(best_len);
  }
  return {double(wrong) / double(words.size()), double(distance) / double(phones)};
}

// Tokens or ids separated by spaces.
template <class T>
std::string join(const std::vector<T>& v) {
  return fmt::format("{}", fmt::join(v, " "));
}

// ---- the pictures ----------------------------------------------------------------------------------

// Letters (columns) against the phones the model wrote (rows), the attention weight in each cell.
void save_heatmap(RnnG2P& model, const Corpus& c, const std::string& word, const std::string& path) {
  heed::NoGradGuard no_grad;
  model.eval();
  std::vector<Tensor> weights;
  const Batch b = collate({{c.letters.lookup_indices(letters_of(word)), {1}}});
  const nn::DecodeResult r = nn::greedy_decode(
      model.decoding_model(b, &weights), 1,
      {.max_len = 2 * b.src.size(1) + 4, .bos_id = data::Vocab::bos_id, .eos_id = data::Vocab::eos_id});
  model.train();
  const std::vector<std::string> rows = c.phones.lookup_tokens(r.best[0].tokens);
  std::vector<float> cells;
  for (size_t t = 0; t < rows.size(); ++t) {
    const std::vector<float> w = weights[t].reshape({-1}).to_vector<float>();
    cells.insert(cells.end(), w.begin(), w.end());
  }
  heed::plot::HeatmapOptions opt;
  opt.title = fmt::format("{} -> {}", word, join(rows));
  opt.row_labels = rows;
  opt.col_labels = letters_of(word);
  opt.row_axis = "phone written";
  opt.col_axis = "letter";
  opt.scale_label = "attention weight";
  opt.vmin = 0.0;
  opt.vmax = 1.0;
  opt.show_values = heed::plot::ShowValues::Never;
  heed::plot::save(path, heed::plot::heatmap(cells, static_cast<int64_t>(rows.size()), static_cast<int64_t>(word.size()), opt));
}

std::string curves(const std::string& train_csv, const std::string& eval_csv, const std::string& kind) {
  const heed::plot::Table train = heed::plot::read_csv(train_csv), eval = heed::plot::read_csv(eval_csv);
  heed::plot::Chart loss{{{"training loss", train.column("step"), train.column("loss")}}, {}};
  loss.options.title = "training loss (label-smoothed cross-entropy)";
  loss.options.x_label = "step";
  loss.options.log_y = true;
  loss.options.markers = heed::plot::Markers::Never;
  heed::plot::Chart rates{{{"dev WER (greedy)", eval.column("step"), eval.column("wer")},
                           {"dev PER (greedy)", eval.column("step"), eval.column("per")}},
                          {}};
  rates.options.title = "dev error rates";
  rates.options.x_label = "step";
  rates.options.y_min = 0.0;
  return heed::plot::line_charts({loss, rates}, fmt::format("G2P on CMUdict, {} model", kind));
}

// ---- the program -----------------------------------------------------------------------------------

struct Options {
  ModelOptions model;
  std::string dict = HEED_CMUDICT, out = "g2p_out", load, export_dir;
  std::vector<std::string> words;
  int epochs = 20, batch = 64, beam = 5, warmup = 1000, dev_words = 1000, train_words = 0;
  double lr = 2e-3, label_smoothing = 0.1;
  std::optional<double> require_wer;
  uint64_t seed = 0;
  bool quick = false;
};

void save_checkpoint(G2PModel& model, const ModelOptions& o, const Corpus& c, const std::string& path) {
  nn::save(model, path,
           {{"model", o.kind}, {"embed", std::to_string(o.embed)}, {"hidden", std::to_string(o.hidden)},
            {"layers", std::to_string(o.layers)}, {"heads", std::to_string(o.heads)}, {"ff", std::to_string(o.ff)},
            {"letters", join(c.letters.tokens())}, {"phones", join(c.phones.tokens())}});
}

// --export DIR: what another framework needs to train the same model on the same batches from the same
// initial weights (bench/g2p_torch.py reads it): config.txt, train.txt (letter ids TAB phone ids, one
// pronunciation a line), batches.txt (every epoch's batches in order, the pairs' line numbers from 0),
// test.txt (a test word's letter ids TAB its pronunciations' phone ids, separated by |), init.safetensors.
int export_run(const Options& o, const Corpus& c, G2PModel& model, data::BucketBatchSampler& sampler) {
  fs::create_directories(o.export_dir);
  const fs::path dir(o.export_dir);
  std::string config = fmt::format(
      "model {}\nletters {}\nphones {}\nembed {}\nhidden {}\nlayers {}\nheads {}\nff {}\ndropout {}\nepochs {}\n"
      "batch {}\nlr {}\nwarmup {}\nlabel_smoothing {}\nweight_decay 0.01\nclip 1.0\n",
      o.model.kind, c.letters.size(), c.phones.size(), o.model.embed, o.model.hidden, o.model.layers, o.model.heads,
      o.model.ff, o.model.dropout, o.epochs, o.batch, o.lr, o.warmup, o.label_smoothing);
  std::string train, batches, test;
  for (const Pair& p : c.train) train += join(p.letters) + "\t" + join(p.phones) + "\n";
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    sampler.set_epoch(epoch);  // as the DataLoader does before each epoch
    for (const std::vector<int64_t>& b : sampler.batches()) batches += join(b) + "\n";
  }
  for (const std::string& w : c.test_words) {
    test += join(c.letters.lookup_indices(letters_of(w))) + "\t";
    const auto& prons = c.lexicon.at(w);
    for (size_t i = 0; i < prons.size(); ++i) test += (i ? "|" : "") + join(c.phones.lookup_indices(prons[i]));
    test += "\n";
  }
  for (const auto& [name, text] : {std::pair{"config.txt", &config}, {"train.txt", &train}, {"batches.txt", &batches},
                                   {"test.txt", &test}}) {
    std::ofstream f(dir / name, std::ios::binary);
    if (!(f << *text) || !f.flush()) heed::throw_error<heed::IOError>("g2p --export: cannot write {}", (dir / name).string());
  }
  nn::save(model, (dir / "init.safetensors").string());
  fmt::print("exported {} training pairs, {} batches over {} epochs, {} test words and the initial weights to {}\n",
             c.train.size(), o.epochs * sampler.size(), o.epochs, c.test_words.size(), o.export_dir);
  return 0;
}

// --load: the model and its vocabularies from a checkpoint, then the words of the command line.
int convert_words(const Options& o) {
  nn::Metadata meta;
  nn::load_safetensors(o.load, &meta);
  auto field = [&](const char* key) {
    auto it = meta.find(key);
    if (it == meta.end()) heed::throw_error<heed::IOError>("g2p: {} is not a g2p checkpoint (no '{}')", o.load, key);
    return it->second;
  };
  auto split = [](const std::string& s) {
    std::vector<std::string> v;
    for (size_t p = 0; p < s.size();) {
      size_t q = s.find(' ', p);
      if (q == std::string::npos) q = s.size();
      v.push_back(s.substr(p, q - p));
      p = q + 1;
    }
    return v;
  };
  // The files' vocabularies: the specials, then the tokens.
  const auto vocab = [&](const char* key) {
    std::vector<std::string> t = split(field(key));
    return data::Vocab(std::vector<std::string>(t.begin() + data::Vocab::num_specials, t.end()));
  };
  Corpus c;
  c.letters = vocab("letters");
  c.phones = vocab("phones");
  ModelOptions m{.kind = field("model"), .letters = c.letters.size(), .phones = c.phones.size(),
                 .embed = std::stoi(field("embed")), .hidden = std::stoi(field("hidden")),
                 .layers = std::stoi(field("layers")), .heads = std::stoi(field("heads")), .ff = std::stoi(field("ff"))};
  auto model = make_model(m);
  nn::load(*model, o.load);
  std::vector<std::string> words;
  for (const std::string& w : o.words) {
    std::string lower;
    for (unsigned char ch : w) lower += static_cast<char>(std::tolower(ch));
    words.push_back(lower);
  }
  const auto phones = convert(*model, c, words, o.beam);
  for (size_t i = 0; i < words.size(); ++i) fmt::print("{}  {}\n", words[i], join(phones[i]));
  return 0;
}

int run(int argc, char** argv) {
  Options o;
  cli::parse(argc, argv,
             "Grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary: an encoder-decoder with attention "
             "(--model rnn: a bidirectional GRU and additive attention; --model transformer) learns to write how "
             "words are pronounced. Its last line is 'WER: <x> PER: <y>' on the test words. With --load CKPT it "
             "converts the WORDS given instead.",
             {{"--model NAME", &o.model.kind, "rnn or transformer"},
              {"--quick", &o.quick, "a short run (about 2 minutes on 2 cores): 2 epochs of a smaller model",
               [&o] { o.epochs = 2, o.model.hidden = 128, o.model.ff = 512, o.dev_words = 500, o.warmup = 300; }},
              {"--epochs", &o.epochs, "passes over the training words"},
              {"--batch", &o.batch, "pronunciations per batch"},
              {"--embed", &o.model.embed, "embedding size (rnn)"},
              {"--hidden", &o.model.hidden, "hidden size (rnn: even, each encoder direction has half) or d_model"},
              {"--layers", &o.model.layers, "encoder layers (rnn), encoder and decoder layers (transformer)"},
              {"--heads", &o.model.heads, "attention heads (transformer)"},
              {"--ff", &o.model.ff, "feed-forward width (transformer)"},
              {"--dropout", &o.model.dropout, "dropout rate"},
              {"--lr", &o.lr, "AdamW's peak learning rate (linear warmup, then cosine)"},
              {"--warmup", &o.warmup, "warmup steps"},
              {"--label-smoothing", &o.label_smoothing, "label smoothing of the cross-entropy"},
              {"--beam", &o.beam, "beam size of the test decoding (1: greedy)"},
              {"--dev-words", &o.dev_words, "dev words decoded after every epoch"},
              {"--train-words", &o.train_words, "train on the first N training words only (0: all)"},
              {"--require-wer", &o.require_wer, "exit 1 when the test WER is above this"},
              {"--seed", &o.seed, "random seed"},
              {"--dict FILE", &o.dict, "the dictionary in Festival's format"},
              {"--out DIR", &o.out, "where the metrics, pictures and checkpoint go"},
              {"--load CKPT", &o.load, "convert WORDS with this checkpoint instead of training"},
              {"--export DIR", &o.export_dir,
               "write the training pairs, every epoch's batches, the test words and the initial weights to DIR "
               "(for bench/g2p_torch.py, which trains the same model in PyTorch), then exit"},
              {"WORDS", &o.words, "words to convert (with --load)"}});
  if (o.model.kind != "rnn" && o.model.kind != "transformer")
    cli::usage_error("--model must be rnn or transformer, not '{}'", o.model.kind);
  if (o.epochs < 1 || o.batch < 1 || o.beam < 1 || o.model.embed < 1 || o.model.layers < 1 || o.dev_words < 1 ||
      o.train_words < 0)
    cli::usage_error("--epochs, --batch, --beam, --embed, --layers and --dev-words must be positive, --train-words >= 0");
  if (o.model.kind == "rnn" && (o.model.hidden < 2 || o.model.hidden % 2))
    cli::usage_error("--hidden must be even for --model rnn (each encoder direction has half), not {}", o.model.hidden);
  if (o.model.kind == "transformer" && (o.model.heads < 1 || o.model.hidden % o.model.heads))
    cli::usage_error("--heads ({}) must divide --hidden ({})", o.model.heads, o.model.hidden);
  if (!o.load.empty()) return convert_words(o);
  if (!o.words.empty()) cli::usage_error("words to convert need --load CKPT");

  fmt::print("heed: grapheme-to-phoneme on the CMU Pronouncing Dictionary, {} model{}\n{}\n", o.model.kind,
             o.quick ? " (--quick)" : "", heed::to_string(heed::blas_info()));
  heed::manual_seed(o.seed);
  Corpus c = load_corpus(o.dict, o.train_words);
  fmt::print("data: {} words ({} train, {} dev, {} test); {} training pronunciations; {} letters, {} phones\n",
             c.lexicon.size(), c.lexicon.size() - c.dev_words.size() - c.test_words.size(), c.dev_words.size(),
             c.test_words.size(), c.train.size(), c.letters.size() - 4, c.phones.size() - 4);
  o.model.letters = c.letters.size();
  o.model.phones = c.phones.size();
  auto model = make_model(o.model);
  fmt::print("{}\n{} parameters\n\n", model->to_string(), model->num_parameters());

  std::vector<int64_t> lengths;
  for (const Pair& p : c.train) lengths.push_back(static_cast<int64_t>(p.letters.size()));
  auto sampler = std::make_shared<data::BucketBatchSampler>(
      std::make_shared<data::RandomSampler>(static_cast<int64_t>(c.train.size()), o.seed), lengths, o.batch);
  data::DataLoader loader(data::VectorDataset<Pair>(c.train), sampler, {}, collate);
  const std::vector<std::string> dev(c.dev_words.begin(),
                                     c.dev_words.begin() + std::min<size_t>(c.dev_words.size(), o.dev_words));

  if (!o.export_dir.empty()) return export_run(o, c, *model, *sampler);

  optim::AdamW opt(model->parameters(), {.lr = o.lr, .weight_decay = 0.01});
  const int64_t steps = o.epochs * loader.size();
  auto lr_at = [&](int64_t step) {
    if (step <= o.warmup) return o.lr * double(step) / o.warmup;
    const double p = double(step - o.warmup) / double(std::max<int64_t>(1, steps - o.warmup));
    return o.lr * 0.5 * (1 + std::cos(M_PI * p));
  };
  fs::create_directories(o.out);
  const std::string train_csv = (fs::path(o.out) / "train.csv").string(), eval_csv = (fs::path(o.out) / "eval.csv").string();
  heed::MetricsLogger train_log(train_csv, {"loss", "lr"}), eval_log(eval_csv, {"loss", "wer", "per"});

  const auto start = std::chrono::steady_clock::now();
  double eval_secs = 0;
  int64_t step = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    heed::ProgressBar bar(loader.size(), fmt::format("epoch {}/{}", epoch, o.epochs));
    double loss_sum = 0;
    int64_t k = 0;
    for (const Batch& b : loader) {
      opt.set_lr(lr_at(++step));
      Tensor logits = model->forward_train(b);
      Tensor loss = heed::cross_entropy(logits.reshape({-1, logits.size(2)}), b.tgt_out.reshape({-1}),
                                        heed::Reduction::Mean, -100, o.label_smoothing);
      opt.zero_grad();
      loss.backward();
      optim::clip_grad_norm_(model->parameters(), 1.0);
      opt.step();
      loss_sum += loss.item();
      train_log.log(step, {loss.item(), opt.lr()});
      if (++k % 20 == 0) bar.update(k, {{"loss", loss_sum / double(k)}});
    }
    bar.finish();
    const auto eval_start = std::chrono::steady_clock::now();
    const Rates r = score(c, dev, convert(*model, c, dev, 1));
    eval_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
    const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - eval_secs;
    fmt::print("epoch {:2d}  loss {:.4f}  dev (greedy, {} words) WER {:.4f} PER {:.4f}  {:.0f} s training\n", epoch,
               loss_sum / double(k), dev.size(), r.wer, r.per, train_secs);
    eval_log.log(step, {loss_sum / double(k), r.wer, r.per});
  }
  const double train_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - eval_secs;
  fmt::print("\ntrained {} steps in {:.0f} s ({:.1f} ms a step)\n", step, train_secs, 1000 * train_secs / double(step));

  const std::string ckpt = (fs::path(o.out) / "g2p.safetensors").string();
  save_checkpoint(*model, o.model, c, ckpt);
  const std::string svg = (fs::path(o.out) / "training.svg").string();
  heed::plot::save(svg, curves(train_csv, eval_csv, o.model.kind));
  fmt::print("checkpoint {}, metrics {} and {}, curves {}\n", ckpt, train_csv, eval_csv, svg);

  const std::vector<std::string> shown = {"cheshire", "heed", "attention", "phoneme", "knight", "xylophone"};
  const auto shown_phones = convert(*model, c, shown, o.beam);
  fmt::print("\n");
  for (size_t i = 0; i < shown.size(); ++i) {
    auto it = c.lexicon.find(shown[i]);
    fmt::print("  {:<10} -> {:<24} dictionary: {}\n", shown[i], join(shown_phones[i]),
               it == c.lexicon.end() ? "(not in it)" : join(it->second[0]));
    if (auto* rnn = dynamic_cast<RnnG2P*>(model.get()))
      save_heatmap(*rnn, c, shown[i], (fs::path(o.out) / ("attention_" + shown[i] + ".svg")).string());
  }

  const auto test_start = std::chrono::steady_clock::now();
  const auto predicted = convert(*model, c, c.test_words, o.beam);
  const Rates test = score(c, c.test_words, predicted);
  // The test words it gets wrong, with what it wrote and what the dictionary says.
  const std::string errors_tsv = (fs::path(o.out) / "errors.tsv").string();
  std::vector<std::vector<std::string>> errors(3);  // columns: word, predicted, dictionary
  for (size_t i = 0; i < c.test_words.size(); ++i) {
    const auto& refs = c.lexicon.at(c.test_words[i]);
    if (std::find(refs.begin(), refs.end(), predicted[i]) != refs.end()) continue;
    std::string dictionary;
    for (const auto& r : refs) dictionary += (dictionary.empty() ? "" : " | ") + join(r);
    errors[0].push_back(c.test_words[i]);
    errors[1].push_back(join(predicted[i]));
    errors[2].push_back(dictionary);
  }
  data::write_csv(errors_tsv, data::Table({"word", "predicted", "dictionary"}, errors), '\t');
  fmt::print("\ntest: {} words, beam {}, {:.0f} s; the {} it gets wrong are in {}\n", c.test_words.size(), o.beam,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - test_start).count(), errors[0].size(),
             errors_tsv);
  fmt::print("WER: {:.4f} PER: {:.4f}\n", test.wer, test.per);
  if (o.require_wer && test.wer > *o.require_wer) {
    fmt::print(stderr, "g2p: test WER {:.4f} is above --require-wer {}\n", test.wer, *o.require_wer);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
