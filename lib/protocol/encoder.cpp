// The encoder's buffers: command lines and copied values in one string, referenced
// values beside them, and the gather list of both.
#include "encoding.hpp"

#include <algorithm>

namespace memcoro::protocol {
using namespace encoding;
using error_code = boost::system::error_code;

reply_shape shape_of(store_command) noexcept {
    return reply_shape::stored;
}

reply_shape shape_of(meta_command cmd) noexcept {
    // An ms reply is told apart because its request carried a data block, which the
    // server may or may not have swallowed after an error (protocol.md 1.13).
    return cmd == meta_command::set ? reply_shape::meta_set : reply_shape::meta;
}

reply_shape stats_shape(std::string_view args) noexcept {
    // The server picks the reply by the first token (and the second for "detail") and
    // ignores any further ones (protocol.md 1.11).
    std::size_t pos = 0;
    const std::string_view first = next_token(args, pos);
    if (first == "reset") {
        return reply_shape::reset;
    }
    if (first == "sizes_enable" || first == "sizes_disable") {
        return reply_shape::stat_line;
    }
    if (first == "detail") {
        const std::string_view second = next_token(args, pos);
        if (second == "on" || second == "off") {
            return reply_shape::ok;
        }
    }
    return reply_shape::stats;
}

request_encoder::request_encoder(encoder_options options) : options_(std::move(options)) {}

request_encoder::error_code request_encoder::check_key(std::string_view key) const noexcept {
    return validate_key(options_.key_prefix, key, options_.keys);
}

request_encoder::error_code request_encoder::check_value(std::string_view value) const noexcept {
    if (value.size() > options_.max_value || !fits_datalen(value.size())) {
        return error::value_too_large;
    }
    return {};
}

void request_encoder::grow(std::size_t bytes) {
    if (head_.size() - head_used_ < bytes) {
        // Geometric growth, so that a long run of requests costs amortized O(1) each.
        head_.resize(std::max({head_.size() * 2, head_used_ + bytes, std::size_t{1024}}));
    }
    if (segments_.capacity() - segments_.size() < max_request_segments) {
        segments_.reserve(std::max(segments_.capacity() * 2, segments_.size() + max_request_segments));
    }
}

void request_encoder::put_line(std::string_view line) {
    close(write(open(line.size()), line));
}

char* request_encoder::put_key_base64(char* out, std::string_view key) const noexcept {
    // Standard alphabet with padding: what the server's base64_decode takes (protocol.md 3.1).
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string_view prefix = options_.key_prefix;
    const std::size_t n = prefix.size() + key.size();
    const auto byte_at = [&](std::size_t i) -> std::uint32_t {
        return static_cast<unsigned char>(i < prefix.size() ? prefix[i] : key[i - prefix.size()]);
    };
    for (std::size_t i = 0; i < n; i += 3) {
        const std::size_t left = n - i;
        std::uint32_t v = byte_at(i) << 16;
        if (left > 1) {
            v |= byte_at(i + 1) << 8;
        }
        if (left > 2) {
            v |= byte_at(i + 2);
        }
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = left > 1 ? alphabet[(v >> 6) & 63] : '=';
        *out++ = left > 2 ? alphabet[v & 63] : '=';
    }
    return out;
}

void request_encoder::put_referenced(char* end, std::string_view value) noexcept {
    close(end);
    segments_.push_back({value.data(), 0, value.size()});  // room was made by open()
    total_ += value.size();
    // The CRLF goes where the line ended: room for it was made after the line.
    close(write_crlf(head_.data() + head_used_));
}

std::span<const chunk> request_encoder::chunks() {
    // Resolved only now: head_ may have moved while it grew.
    chunks_.clear();
    for (const segment& s : segments_) {
        chunks_.push_back({s.external != nullptr ? s.external : head_.data() + s.offset, s.size});
    }
    return chunks_;
}

void request_encoder::clear() noexcept {
    head_used_ = 0;
    segments_.clear();
    chunks_.clear();
    total_ = 0;
}

}  // namespace memcoro::protocol
