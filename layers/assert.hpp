// Always-on assertions: preconditions and invariants that must hold in every
// build, Release included. A failed assertion is a bug in this process (never
// a reaction to bad input, which gets a bc::Status): it prints where and what,
// then aborts, so fuzzers, the fault simulator and operators see the first
// broken invariant instead of its consequences.
//
//   BC_ASSERT(cond)                 always checked
//   BC_ASSERT_MSG(cond, "why %d", n)  with a printf-style explanation
//   BC_UNREACHABLE("why")           a branch the code's own logic excludes
//   BC_EXPENSIVE_ASSERT(cond)       checked in Debug, fuzz and simulation
//                                   builds (BC_EXPENSIVE_CHECKS), e.g. a
//                                   whole-ledger supply sum after each block
#pragma once

namespace bc::detail {
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
}  // namespace bc::detail

#define BC_ASSERT(cond)                                                                 \
  do {                                                                                  \
    if (__builtin_expect(!(cond), 0)) ::bc::detail::assertion_failed(#cond, __FILE__, __LINE__, nullptr); \
  } while (0)

#define BC_ASSERT_MSG(cond, ...)                                                              \
  do {                                                                                        \
    if (__builtin_expect(!(cond), 0)) ::bc::detail::assertion_failed(#cond, __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

#define BC_UNREACHABLE(why) ::bc::detail::assertion_failed("unreachable", __FILE__, __LINE__, "%s", why)

#if defined(BC_EXPENSIVE_CHECKS) || !defined(NDEBUG)
#define BC_EXPENSIVE_CHECKS_ON 1
#define BC_EXPENSIVE_ASSERT(cond) BC_ASSERT(cond)
#else
#define BC_EXPENSIVE_CHECKS_ON 0
#define BC_EXPENSIVE_ASSERT(cond) \
  do {                            \
  } while (0)
#endif
