// Request encoding for the text protocol (protocol.md 1.6-1.12).
#include "encoding.hpp"

namespace memcoro::protocol {
using namespace encoding;
using error_code = boost::system::error_code;

namespace {
constexpr std::string_view noreply_word = " noreply";

bool touches(retrieve_command cmd) noexcept {
    return cmd == retrieve_command::gat || cmd == retrieve_command::gats;
}
}  // namespace

request_encoder::error_code request_encoder::store(store_command cmd, std::string_view key,
                                                   std::string_view value, std::uint32_t flags,
                                                   std::int64_t exptime, bool noreply,
                                                   std::uint64_t cas_unique) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    if (auto ec = check_value(value)) {
        return ec;
    }
    if (!fits_int32(exptime)) {
        return error::invalid_argument;
    }
    return write_store(cmd, key, value, flags, exptime, noreply, cas_unique);
}

request_encoder::error_code request_encoder::store(prevalidated_t, store_command cmd,
                                                   std::string_view key, std::string_view value,
                                                   std::uint32_t flags, std::int64_t exptime,
                                                   bool noreply, std::uint64_t cas_unique) {
    return write_store(cmd, key, value, flags, exptime, noreply, cas_unique);
}

request_encoder::error_code request_encoder::write_store(store_command cmd, std::string_view key,
                                                         std::string_view value,
                                                         std::uint32_t flags, std::int64_t exptime,
                                                         bool noreply, std::uint64_t cas_unique) {
    if (!fits_datalen(value.size())) {
        return error::value_too_large;
    }
    const std::string_view name = name_of(cmd);
    // Flags, exptime, bytes and cas: four numbers, each after a space.
    const std::size_t line = name.size() + 1 + options_.key_prefix.size() + key.size() +
                             4 * (1 + max_number) + noreply_word.size() + crlf.size();
    char* out = write(open(line + value_room(value)), name);
    *out++ = ' ';
    out = put_key(out, key, false);
    *out++ = ' ';
    out = write_number(out, flags);
    *out++ = ' ';
    out = write_number(out, exptime);
    *out++ = ' ';
    out = write_number(out, value.size());
    if (cmd == store_command::cas) {
        *out++ = ' ';
        out = write_number(out, cas_unique);
    }
    if (noreply) {
        out = write(out, noreply_word);
    }
    put_value(write_crlf(out), value);
    return {};
}

request_encoder::error_code request_encoder::retrieve(retrieve_command cmd,
                                                      std::span<const std::string_view> keys,
                                                      std::int64_t exptime) {
    // "get" with no key is a plain ERROR (protocol.md 1.1).
    if (keys.empty()) {
        return error::invalid_argument;
    }
    for (const std::string_view key : keys) {
        if (auto ec = check_key(key)) {
            return ec;
        }
    }
    // get and gets take no exptime; any value passed for them is not sent.
    if (touches(cmd) && !fits_int32(exptime)) {
        return error::invalid_argument;
    }
    return write_retrieve(cmd, keys, exptime);
}

request_encoder::error_code request_encoder::retrieve(prevalidated_t, retrieve_command cmd,
                                                      std::span<const std::string_view> keys,
                                                      std::int64_t exptime) {
    return write_retrieve(cmd, keys, exptime);
}

request_encoder::error_code request_encoder::write_retrieve(retrieve_command cmd,
                                                            std::span<const std::string_view> keys,
                                                            std::int64_t exptime) {
    if (keys.empty()) {
        return error::invalid_argument;
    }
    const std::string_view name = name_of(cmd);
    const bool with_exptime = touches(cmd);
    std::size_t line = name.size() + crlf.size();
    if (with_exptime) {
        line += 1 + signed_decimal_width(exptime);
    }
    for (const std::string_view key : keys) {
        line += 1 + options_.key_prefix.size() + key.size();
    }
    // Only get and gets lines may be longer than max_line (protocol.md 1.1).
    if (with_exptime && line > max_line) {
        return error::invalid_argument;
    }
    char* out = write(open(line), name);
    if (with_exptime) {
        *out++ = ' ';
        out = write_number(out, exptime);
    }
    for (const std::string_view key : keys) {
        *out++ = ' ';
        out = put_key(out, key, false);
    }
    close(write_crlf(out));
    return {};
}

template <class Number>
request_encoder::error_code request_encoder::write_words(std::string_view word,
                                                         std::optional<std::string_view> key,
                                                         std::optional<Number> number,
                                                         bool noreply) {
    std::size_t line = word.size() + noreply_word.size() + crlf.size();
    if (key) {
        line += 1 + options_.key_prefix.size() + key->size();
    }
    if (number) {
        line += 1 + max_number;
    }
    char* out = write(open(line), word);
    if (key) {
        *out++ = ' ';
        out = put_key(out, *key, false);
    }
    if (number) {
        *out++ = ' ';
        out = write_number(out, *number);
    }
    if (noreply) {
        out = write(out, noreply_word);
    }
    close(write_crlf(out));
    return {};
}

request_encoder::error_code request_encoder::remove(std::string_view key, bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    return remove(prevalidated, key, noreply);
}

request_encoder::error_code request_encoder::remove(prevalidated_t, std::string_view key,
                                                    bool noreply) {
    return write_words<std::uint64_t>("delete", key, std::nullopt, noreply);
}

request_encoder::error_code request_encoder::arithmetic(arithmetic_command cmd,
                                                        std::string_view key, std::uint64_t delta,
                                                        bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    return arithmetic(prevalidated, cmd, key, delta, noreply);
}

request_encoder::error_code request_encoder::arithmetic(prevalidated_t, arithmetic_command cmd,
                                                        std::string_view key, std::uint64_t delta,
                                                        bool noreply) {
    return write_words<std::uint64_t>(cmd == arithmetic_command::incr ? "incr" : "decr", key,
                                      delta, noreply);
}

request_encoder::error_code request_encoder::touch(std::string_view key, std::int64_t exptime,
                                                   bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    if (!fits_int32(exptime)) {
        return error::invalid_argument;
    }
    return touch(prevalidated, key, exptime, noreply);
}

request_encoder::error_code request_encoder::touch(prevalidated_t, std::string_view key,
                                                   std::int64_t exptime, bool noreply) {
    return write_words<std::int64_t>("touch", key, exptime, noreply);
}

request_encoder::error_code request_encoder::stats(std::string_view args) {
    // Only spaces separate tokens (protocol.md 1.1); a TAB, CR, LF or other control byte
    // would become part of a token or end the line early.
    std::size_t line = std::string_view("stats").size() + crlf.size();
    for (const char ch : args) {
        if (ch != ' ' && !printable(ch)) {
            return error::invalid_argument;
        }
    }
    std::size_t pos = 0;
    for (auto tok = next_token(args, pos); !tok.empty(); tok = next_token(args, pos)) {
        line += 1 + tok.size();
    }
    if (line > max_line) {
        return error::invalid_argument;
    }
    char* out = write(open(line), "stats");
    pos = 0;
    for (auto tok = next_token(args, pos); !tok.empty(); tok = next_token(args, pos)) {
        *out++ = ' ';
        out = write(out, tok);
    }
    close(write_crlf(out));
    return {};
}

request_encoder::error_code request_encoder::flush_all(std::optional<std::int64_t> delay,
                                                       bool noreply) {
    if (delay && !fits_int32(*delay)) {
        return error::invalid_argument;
    }
    return write_words("flush_all", std::nullopt, delay, noreply);
}

request_encoder::error_code request_encoder::version() {
    put_line("version\r\n");
    return {};
}

request_encoder::error_code request_encoder::verbosity(std::uint32_t level, bool noreply) {
    return write_words<std::uint32_t>("verbosity", std::nullopt, level, noreply);
}

request_encoder::error_code request_encoder::cache_memlimit(std::uint64_t megabytes, bool noreply) {
    // The server reads the number into 32 bits and silently keeps only the low bits of a
    // larger one (the same quirk as client flags, protocol.md 1.4): 2^32 + 8 would set 8 MB.
    if (megabytes > std::numeric_limits<std::uint32_t>::max()) {
        return error::invalid_argument;
    }
    return write_words<std::uint64_t>("cache_memlimit", std::nullopt, megabytes, noreply);
}

request_encoder::error_code request_encoder::quit() {
    put_line("quit\r\n");
    return {};
}

request_encoder::error_code request_encoder::shutdown(bool graceful) {
    put_line(graceful ? "shutdown graceful\r\n" : "shutdown\r\n");
    return {};
}

}  // namespace memcoro::protocol
