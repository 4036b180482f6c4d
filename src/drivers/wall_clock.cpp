#include <chrono>

#include "drivers/driver.hpp"

namespace prism::drivers {

namespace {

class system_clock_impl final : public wall_clock {
public:
  int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
  }
};

} // namespace

std::shared_ptr<wall_clock> system_wall_clock() {
  static const auto clock = std::make_shared<system_clock_impl>();
  return clock;
}

} // namespace prism::drivers
