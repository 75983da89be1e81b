#include "heed/data/dataloader.hpp"

#include <omp.h>

namespace heed::data::detail {

OrderedPrefetcher::OrderedPrefetcher(int64_t first, int64_t end, int64_t workers, int64_t depth,
                                     std::function<void(int64_t)> produce)
    : produce_(std::move(produce)),
      depth_(depth),
      end_(end),
      next_(first),
      released_(first),
      inline_(workers == 0),
      slots_(static_cast<size_t>(depth), Slot::Empty),
      errors_(static_cast<size_t>(depth)) {
  if (inline_) return;
  try {
    for (int64_t w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
  } catch (...) {
    stop();  // a thread that could not start: join the ones that did
    throw;
  }
}

void OrderedPrefetcher::work() {
  omp_set_num_threads(1);  // this thread's kernels (and BLAS) run serial: the workers are the parallelism
  for (;;) {
    int64_t k;
    {
      std::unique_lock lock(mutex_);
      // Item k's slot is free once item k - depth has been released.
      freed_.wait(lock, [this] { return stopped_ || next_ >= end_ || next_ < released_ + depth_; });
      if (stopped_ || next_ >= end_) return;
      k = next_++;
    }
    Slot result = Slot::Ready;
    std::exception_ptr error;
    try {
      produce_(k);
    } catch (...) {
      error = std::current_exception();
      result = Slot::Failed;
    }
    {
      std::lock_guard lock(mutex_);
      const size_t s = static_cast<size_t>(k % depth_);
      slots_[s] = result;
      errors_[s] = std::move(error);
    }
    produced_.notify_all();
  }
}

void OrderedPrefetcher::wait(int64_t k) {
  if (inline_) {
    produce_(k);
    return;
  }
  std::unique_lock lock(mutex_);
  const size_t s = static_cast<size_t>(k % depth_);
  produced_.wait(lock, [&] { return stopped_ || slots_[s] != Slot::Empty; });
  if (slots_[s] == Slot::Failed) std::rethrow_exception(errors_[s]);
  if (slots_[s] == Slot::Empty) throw_error<StateError>("DataLoader: the workers were stopped");
}

void OrderedPrefetcher::release(int64_t k) {
  {
    std::lock_guard lock(mutex_);
    const size_t s = static_cast<size_t>(k % depth_);
    slots_[s] = Slot::Empty;
    errors_[s] = nullptr;
    released_ = k + 1;
  }
  freed_.notify_all();
}

void OrderedPrefetcher::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  freed_.notify_all();
  produced_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace heed::data::detail
