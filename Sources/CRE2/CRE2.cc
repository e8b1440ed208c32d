#include "CRE2.h"

#include <re2/re2.h>

#include <cstdlib>
#include <cstring>
#include <string>

struct cre2_regex {
    RE2 re;
    cre2_regex(const re2::StringPiece &pattern, const RE2::Options &options) : re(pattern, options) {}
};

static char *copy_message(const std::string &message) {
    char *copy = static_cast<char *>(std::malloc(message.size() + 1));
    if (copy != nullptr) std::memcpy(copy, message.c_str(), message.size() + 1);
    return copy;
}

extern "C" cre2_regex *cre2_compile(const char *pattern, size_t length, int case_insensitive, int64_t max_mem, char **error) {
    if (error != nullptr) *error = nullptr;
    RE2::Options options;
    options.set_encoding(RE2::Options::EncodingUTF8);
    options.set_case_sensitive(case_insensitive == 0);
    options.set_max_mem(max_mem);
    // Refusals are reported to the caller; RE2 would otherwise write them to stderr.
    options.set_log_errors(false);
    cre2_regex *regex = new (std::nothrow) cre2_regex(re2::StringPiece(pattern, length), options);
    if (regex == nullptr) {
        if (error != nullptr) *error = copy_message("out of memory");
        return nullptr;
    }
    if (!regex->re.ok()) {
        if (error != nullptr) *error = copy_message(regex->re.error());
        delete regex;
        return nullptr;
    }
    return regex;
}

extern "C" int cre2_partial_match(const cre2_regex *regex, const char *text, size_t length) {
    return RE2::PartialMatch(re2::StringPiece(text, length), regex->re) ? 1 : 0;
}

extern "C" int cre2_program_size(const cre2_regex *regex) {
    return regex->re.ProgramSize();
}

extern "C" void cre2_free(cre2_regex *regex) {
    delete regex;
}
