#include "pubsub/client_closer.hpp"

namespace prism {

client_closer::client_closer() : thread_([this] { run(); }) {}

client_closer::~client_closer() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void client_closer::close(std::unique_ptr<closable> item) {
  if (!item)
    return;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    queue_.push_back(std::move(item));
  }
  wake_.notify_one();
}

size_t client_closer::pending() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return queue_.size() + closing_;
}

void client_closer::run() {
  std::unique_lock<std::mutex> lock{mutex_};
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty())
      return; // stopping, and nothing is left to close
    auto item = std::move(queue_.front());
    queue_.pop_front();
    closing_ = 1;
    lock.unlock();
    item.reset();
    lock.lock();
    closing_ = 0;
  }
}

} // namespace prism
