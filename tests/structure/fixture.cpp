// Input for tests/structure/test_function_sizes.py: every kind of brace the
// structure check must tell apart. Not compiled.
#include <string>
#define BRACES(x) { x }

namespace outer::inner {
namespace {

struct Point {
  int x{0};
  int y = 1;
  Point() = default;
  explicit Point(int v) : x(v), y{v} {
    x += 1;
  }
  bool operator==(const Point& o) const {
    return x == o.x &&
           y == o.y;
  }
  Point& operator=(const Point& o) {
    x = o.x;
    return *this;
  }
 public:
  int get() const noexcept {
    return x;
  }
};

enum class Colour : unsigned char { kRed, kGreen };

const char* kText = "} not a brace {";
const char* kRaw = R"x(
  } { }
)x";
const int kTable[] = {
    1,
    2,
};

}  // namespace

template <typename T>
std::function<int(T)> make_adder(T base) {
  return [base](T v) {
    return base + v;
  };
}

Holder::Holder(int n)
    : callback_([this] {
        run();
        run();
      }),
      size_{n} {
  start();
}

auto trailing(int a) -> std::vector<int> {
  if (a) {
    return {a};
  }
  return {};
}

auto kLambda = [](int v) {
  return v * 2;
};

extern "C" {
int c_function(void) {
  return 0;
}
}

char quote() {
  return '}';
}

int digits() {
  return 1'000'000;
}

decltype(digits()) counted() {
  return digits();
}

}  // namespace outer::inner
