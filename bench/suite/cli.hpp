// Command-line reading shared by the suite's C++ programs (memcoro_bench, stampede_bench).
#pragma once

#include <charconv>
#include <string>
#include <string_view>

namespace bench_cli {

// Walks argv: each option, then its value. `Usage(const char* why)` does not return.
template <class Usage>
class args {
  public:
    args(int argc, char** argv, Usage usage) : argc_(argc), argv_(argv), usage_(usage) {}

    // The next option, or false when there is none.
    bool next(std::string_view& option) {
        if (++i_ >= argc_) return false;
        option_ = option = argv_[i_];
        return true;
    }
    // The value after the current option.
    std::string_view value() {
        if (i_ + 1 >= argc_) usage_(("missing value after " + std::string(option_)).c_str());
        return argv_[++i_];
    }
    // The value after the current option, as a whole number.
    template <class T>
    T number() {
        const std::string_view text = value();
        T v{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || end != text.data() + text.size()) {
            usage_(("bad number for " + std::string(option_) + ": " + std::string(text)).c_str());
        }
        return v;
    }

  private:
    int argc_;
    char** argv_;
    Usage usage_;
    int i_ = 0;
    std::string_view option_;
};

}  // namespace bench_cli
