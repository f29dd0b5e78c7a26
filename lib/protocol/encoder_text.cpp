// Request encoding for the text protocol (protocol.md 1.6-1.12).
#include "encoding.hpp"

namespace memcoro::protocol {
using namespace encoding;
using error_code = boost::system::error_code;

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
    return commit([&] {
        line_builder line(*this);
        line.add(name_of(cmd));
        line.add(" ");
        line.add(options_.key_prefix);
        line.add(key);
        line.add(" ");
        line.add_number(flags);
        line.add(" ");
        line.add_number(exptime);
        line.add(" ");
        line.add_number(value.size());
        if (cmd == store_command::cas) {
            line.add(" ");
            line.add_number(cas_unique);
        }
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
        put_value(value);
    });
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
    const bool touches = cmd == retrieve_command::gat || cmd == retrieve_command::gats;
    if (touches) {
        if (!fits_int32(exptime)) {
            return error::invalid_argument;
        }
        // Only get and gets lines may be longer than max_line (protocol.md 1.1).
        std::size_t line = name_of(cmd).size() + 1 + signed_decimal_width(exptime) + crlf.size();
        for (const std::string_view key : keys) {
            line += 1 + options_.key_prefix.size() + key.size();
        }
        if (line > max_line) {
            return error::invalid_argument;
        }
    }
    return commit([&] {
        line_builder line(*this);
        line.add(name_of(cmd));
        if (touches) {
            line.add(" ");
            line.add_number(exptime);
        }
        for (const std::string_view key : keys) {
            line.add(" ");
            line.add(options_.key_prefix);
            line.add(key);
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::remove(std::string_view key, bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("delete ");
        line.add(options_.key_prefix);
        line.add(key);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::arithmetic(arithmetic_command cmd,
                                                        std::string_view key, std::uint64_t delta,
                                                        bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    return commit([&] {
        line_builder line(*this);
        line.add(cmd == arithmetic_command::incr ? "incr " : "decr ");
        line.add(options_.key_prefix);
        line.add(key);
        line.add(" ");
        line.add_number(delta);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::touch(std::string_view key, std::int64_t exptime,
                                                   bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    if (!fits_int32(exptime)) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("touch ");
        line.add(options_.key_prefix);
        line.add(key);
        line.add(" ");
        line.add_number(exptime);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
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
    return commit([&] {
        line_builder line(*this);
        line.add("stats");
        std::size_t at = 0;
        for (auto tok = next_token(args, at); !tok.empty(); tok = next_token(args, at)) {
            line.add(" ");
            line.add(tok);
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::flush_all(std::optional<std::int64_t> delay,
                                                       bool noreply) {
    if (delay && !fits_int32(*delay)) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("flush_all");
        if (delay) {
            line.add(" ");
            line.add_number(*delay);
        }
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::version() {
    return commit([&] { put("version\r\n"); });
}

request_encoder::error_code request_encoder::verbosity(std::uint32_t level, bool noreply) {
    return commit([&] {
        line_builder line(*this);
        line.add("verbosity ");
        line.add_number(level);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::cache_memlimit(std::uint64_t megabytes, bool noreply) {
    // The server reads the number into 32 bits and silently keeps only the low bits of a
    // larger one (the same quirk as client flags, protocol.md 1.4): 2^32 + 8 would set 8 MB.
    if (megabytes > std::numeric_limits<std::uint32_t>::max()) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("cache_memlimit ");
        line.add_number(megabytes);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::quit() {
    return commit([&] { put("quit\r\n"); });
}

request_encoder::error_code request_encoder::shutdown(bool graceful) {
    return commit([&] { put(graceful ? "shutdown graceful\r\n" : "shutdown\r\n"); });
}

}  // namespace memcoro::protocol
