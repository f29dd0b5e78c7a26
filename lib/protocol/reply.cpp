// Helpers for reading parsed replies.
#include <memcoro/protocol/reply.hpp>

namespace memcoro::protocol {

std::optional<std::string_view> find_meta_flag(std::string_view flags, char f) noexcept {
    // Return flags are single letters with a token glued on, separated by spaces
    // (protocol.md 3.1). Runs of spaces are skipped so that a sloppy text still works.
    std::size_t pos = 0;
    while (pos < flags.size()) {
        if (flags[pos] == ' ') {
            ++pos;
            continue;
        }
        std::size_t end = flags.find(' ', pos);
        if (end == std::string_view::npos) {
            end = flags.size();
        }
        if (flags[pos] == f) {
            return flags.substr(pos + 1, end - pos - 1);
        }
        pos = end;
    }
    return std::nullopt;
}

}  // namespace memcoro::protocol
