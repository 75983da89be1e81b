#pragma once
// OrderedDict: values by name, in insertion order, with lookup by name. A module's parameters,
// buffers and children, and the state dicts of modules and optimizers, are kept in one, so that
// names and order are the single source of truth (as in PyTorch's OrderedDict).
#include "heed/core/error.hpp"

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace heed {

template <class V>
class OrderedDict {
 public:
  using Item = std::pair<std::string, V>;

  OrderedDict() = default;
  // OrderedDict<Tensor>{{"x", x}, {"h", h}}; a repeated name is a ValueError.
  OrderedDict(std::initializer_list<Item> items) {
    for (const Item& it : items) insert(it.first, it.second);
  }

  // Adds a new entry; a name already present is a ValueError naming `what` ("parameter", ...).
  V& insert(std::string key, V value, std::string_view what = "entry") {
    if (index_.count(key)) throw_error<ValueError>("{} '{}' is already registered", what, key);
    index_.emplace(key, items_.size());
    items_.emplace_back(std::move(key), std::move(value));
    return items_.back().second;
  }
  // Sets an entry, adding it when absent.
  V& insert_or_assign(std::string key, V value) {
    if (V* v = find(key)) return *v = std::move(value);
    return insert(std::move(key), std::move(value));
  }

  V* find(std::string_view key) {
    auto it = index_.find(std::string(key));
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  const V* find(std::string_view key) const { return const_cast<OrderedDict*>(this)->find(key); }
  const V& at(std::string_view key) const {
    if (const V* v = find(key)) return *v;
    throw_error<IndexError>("no entry named '{}'", key);
  }
  V& at(std::string_view key) { return const_cast<V&>(std::as_const(*this).at(key)); }
  // An existing entry (an IndexError if absent, as Python's KeyError); insert_or_assign adds one.
  V& operator[](std::string_view key) { return at(key); }
  const V& operator[](std::string_view key) const { return at(key); }
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Removes an entry, keeping the order of the others; an absent name is an IndexError.
  void erase(std::string_view key) { (void)pop(key); }
  // Removes an entry and returns its value.
  V pop(std::string_view key) {
    auto it = index_.find(std::string(key));
    if (it == index_.end()) throw_error<IndexError>("no entry named '{}' to remove", key);
    const size_t i = it->second;
    V value = std::move(items_[i].second);
    index_.erase(it);
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
    for (size_t j = i; j < items_.size(); ++j) index_[items_[j].first] = j;
    return value;
  }
  void clear() {
    items_.clear();
    index_.clear();
  }
  // Sets every entry of `other`, in its order: existing names keep their place, new ones go last.
  void update(const OrderedDict& other) {
    for (const Item& it : other) insert_or_assign(it.first, it.second);
  }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const Item& it : items_) k.push_back(it.first);
    return k;
  }
  std::vector<V> values() const {
    std::vector<V> v;
    for (const Item& it : items_) v.push_back(it.second);
    return v;
  }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

class Tensor;
// Named tensors in order: what state_dict() returns and load_state_dict() takes, and what a
// checkpoint file holds.
using StateDict = OrderedDict<Tensor>;

}  // namespace heed
