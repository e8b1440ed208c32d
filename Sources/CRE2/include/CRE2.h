#ifndef CRE2_H
#define CRE2_H

// A small C face over RE2, so that Swift code can compile and run linear-time regular expressions without
// C++ interoperability. RE2 has no backtracking: matching takes time linear in the input for every pattern
// it accepts, and it refuses the constructs that would need backtracking (backreferences, lookaround).

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A compiled pattern. Immutable after `cre2_compile`; RE2 documents const matching as thread-safe.
typedef struct cre2_regex cre2_regex;

/// Compiles `pattern` (UTF-8, `length` bytes), case-insensitive when `case_insensitive` is non-zero, with at
/// most `max_mem` bytes for the compiled program and its matching caches. Returns NULL when RE2 refuses the
/// pattern; then `*error` (when `error` is not NULL) is a malloc'd, NUL-terminated message the caller frees.
cre2_regex *cre2_compile(const char *pattern, size_t length, int case_insensitive, int64_t max_mem, char **error);

/// Whether the pattern occurs anywhere in `text` (UTF-8, `length` bytes).
int cre2_partial_match(const cre2_regex *regex, const char *text, size_t length);

/// The size of the compiled program (RE2's measure of its cost).
int cre2_program_size(const cre2_regex *regex);

/// Frees a compiled pattern.
void cre2_free(cre2_regex *regex);

#ifdef __cplusplus
}
#endif

#endif
