#pragma once

// What a fuzz target asserts about the code under test. A failed check
// aborts with the condition and its place, which libFuzzer reports as a
// crash (with the input that caused it) and the replay test as a failure.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                  \
  do {                                                                         \
    if (!(condition)) {                                                        \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                   #condition);                                                \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
