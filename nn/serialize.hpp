#pragma once
// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), the format
// PyTorch's safetensors.torch.save_file / load_file use, so that weights move between heed and
// PyTorch:
//
//   heed::nn::save(model, "model.safetensors");     // PyTorch reads it with load_file(path)
//   heed::nn::load(model, "model.safetensors");     // or a file from save_file(m.state_dict(), path)
//   heed::nn::save(optimizer, "adam.safetensors");  // optimizers and schedulers too
//
// The file: 8 bytes little-endian uint64 N | N bytes of UTF-8 JSON (padded with spaces) | raw data.
// The JSON maps each tensor name to {"dtype": "F32" | "F64" | "I64" | "BOOL", "shape": [...],
// "data_offsets": [begin, end]} (byte offsets into the data section, which follows the header), plus
// an optional "__metadata__": {string: string}. Data is contiguous, row-major, little-endian.
//
// Saving is atomic: the file is written to a new temporary file in the same directory (a random
// name, created with O_EXCL as mkstemp does, with the permissions of the file it replaces), flushed
// to disk (fsync) and renamed over `path`, so a crash or a full disk mid-save never destroys the
// previous checkpoint. Loading reads regular files only (a FIFO or a device is an IOError, checked
// before opening: opening a FIFO would wait for a writer) and checks the whole header (sizes, JSON,
// dtypes, shapes, that the byte ranges exactly tile the data section) before reading any data: a
// truncated or hostile file is an IOError naming the file, the tensor and the numbers, never a
// crash or an allocation sized by an unchecked number.
#include "heed/nn/module.hpp"

#include <concepts>
#include <map>
#include <string>

namespace heed::nn {

using Metadata = std::map<std::string, std::string>;

// Writes `tensors` (in any dtype and layout; undefined entries are skipped) to `path`. Names must be
// non-empty, valid UTF-8 and not "__metadata__" (ValueError); a failed write is an IOError naming
// the path and the OS error, and leaves any previous file at `path` untouched.
void save_safetensors(const StateDict& tensors, const std::string& path, const Metadata& metadata = {});

// Reads every tensor of a safetensors file (F32, F64, I64 or BOOL), in the order of its header, and
// its "__metadata__" into *metadata when given. Anything malformed is an IOError.
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// A module's parameters and buffers by their dotted names (as PyTorch names them).
void save(const Module& module, const std::string& path, const Metadata& metadata = {});
// All or nothing: a bad file (IOError) or a checkpoint that does not fit the module (StateError,
// see Module::load_state_dict) leaves the module unchanged.
LoadResult load(Module& module, const std::string& path, bool strict = true);

// Anything else with state_dict() / load_state_dict(): optimizers, learning-rate schedulers. (A
// template, so that nn does not depend on optim: save_safetensors(opt.state_dict(), path) is the
// same thing.)
template <class T>
concept HasStateDict = requires(const T& c, T& m, const StateDict& s) {
  { c.state_dict() } -> std::convertible_to<StateDict>;
  m.load_state_dict(s);
};

// (clang-format 14 does not understand requires-clauses.)
// clang-format off
template <class T>
  requires HasStateDict<T> && (!std::derived_from<T, Module>)
void save(const T& object, const std::string& path, const Metadata& metadata = {}) {
  save_safetensors(object.state_dict(), path, metadata);
}

template <class T>
  requires HasStateDict<T> && (!std::derived_from<T, Module>)
void load(T& object, const std::string& path) {
  object.load_state_dict(load_safetensors(path));
}
// clang-format on

}  // namespace heed::nn
