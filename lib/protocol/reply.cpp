// Helpers for reading parsed replies.
#include <charconv>
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

std::uint32_t parse_server_version(std::string_view text) noexcept {
    std::uint32_t parts[3] = {};
    const char* at = text.data();
    const char* const end = text.data() + text.size();
    for (std::size_t i = 0; i < 3; ++i) {
        if (i > 0) {
            if (at == end || *at != '.') return 0;
            ++at;
        }
        // from_chars takes no sign, so "-1" is refused here too.
        const auto [next, ec] = std::from_chars(at, end, parts[i]);
        if (ec != std::errc{}) return 0;
        at = next;
    }
    if (parts[1] > 99 || parts[2] > 99 || parts[0] > 99'999) return 0;
    return parts[0] * 10000 + parts[1] * 100 + parts[2];
}

}  // namespace memcoro::protocol
