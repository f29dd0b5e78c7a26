// Serialization: how a C++ value becomes the bytes and client flags stored under a
// key, and back.
//
// A type T takes part by a specialization of memcoro::codec<T> with
//
//     static memcoro::encoded encode(const T& value);
//     static bool decode(std::string_view bytes, std::uint32_t flags, T& out);
//
// encode() may reference the value's own bytes (no copy) or own new ones. decode()
// returns false when the bytes are not a T; the read then fails with error::bad_value.
// Built in: std::string, std::string_view, C strings, byte spans and vectors, and
// integers (as decimal text, so incr/decr work on them).
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace memcoro {

// Bytes and flags to store. Either a view of bytes that outlive the operation (the
// caller's value), or bytes it owns.
class encoded {
public:
    // References `bytes`: they must stay valid until the operation completes.
    static encoded view(std::string_view bytes, std::uint32_t flags = 0) {
        encoded e;
        e.external_ = bytes;
        e.flags_ = flags;
        return e;
    }
    // Owns a copy of `bytes`.
    static encoded copy(std::string_view bytes, std::uint32_t flags = 0) {
        encoded e;
        e.flags_ = flags;
        if (bytes.size() <= sizeof(e.small_)) {
            std::memcpy(e.small_, bytes.data(), bytes.size());
            e.small_size_ = static_cast<std::uint8_t>(bytes.size());
            e.where_ = where::small;
        } else {
            e.owned_.assign(bytes);
            e.where_ = where::owned;
        }
        return e;
    }

    // Owns `bytes`, moved in.
    static encoded own(std::string bytes, std::uint32_t flags = 0) {
        encoded e;
        e.owned_ = std::move(bytes);
        e.where_ = where::owned;
        e.flags_ = flags;
        return e;
    }
    // The same bytes and flags, owned.
    [[nodiscard]] encoded owning() && {
        if (where_ != where::external) return std::move(*this);
        return copy(external_, flags_);
    }

    [[nodiscard]] std::string_view bytes() const noexcept {
        switch (where_) {
            case where::small: return {small_, small_size_};
            case where::owned: return owned_;
            case where::external: break;
        }
        return external_;
    }
    [[nodiscard]] std::uint32_t flags() const noexcept { return flags_; }

private:
    enum class where : std::uint8_t { external, small, owned };
    std::string_view external_;
    std::string owned_;
    char small_[24];
    std::uint8_t small_size_ = 0;
    where where_ = where::external;
    std::uint32_t flags_ = 0;
};

template <class T>
struct codec;

template <class T>
concept encodable = requires(const T& value) {
    { codec<T>::encode(value) } -> std::same_as<encoded>;
};

template <class T>
concept decodable = std::default_initializable<T> &&
    requires(std::string_view bytes, std::uint32_t flags, T& out) {
        { codec<T>::decode(bytes, flags, out) } -> std::same_as<bool>;
    };

template <>
struct codec<std::string_view> {
    // No decode: a view would outlive the bytes it points into.
    static encoded encode(std::string_view v) { return encoded::view(v); }
};

template <>
struct codec<std::string> {
    static encoded encode(const std::string& v) { return encoded::view(v); }
    static bool decode(std::string_view bytes, std::uint32_t, std::string& out) {
        out.assign(bytes);
        return true;
    }
};

template <>
struct codec<const char*> {
    static encoded encode(const char* v) { return encoded::view(v); }
};

template <std::size_t N>
struct codec<char[N]> {
    static encoded encode(const char (&v)[N]) { return encoded::view(std::string_view(v)); }
};

template <>
struct codec<std::span<const std::byte>> {
    static encoded encode(std::span<const std::byte> v) {
        return encoded::view({reinterpret_cast<const char*>(v.data()), v.size()});
    }
};

template <>
struct codec<std::vector<std::byte>> {
    static encoded encode(const std::vector<std::byte>& v) {
        return encoded::view({reinterpret_cast<const char*>(v.data()), v.size()});
    }
    static bool decode(std::string_view bytes, std::uint32_t, std::vector<std::byte>& out) {
        const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
        out.assign(p, p + bytes.size());
        return true;
    }
};

// Integers are stored as decimal text, as incr/decr expect. Decoding tolerates the
// trailing spaces memcached leaves when incr/decr shortens a number (protocol.md 1.9).
template <class T>
    requires(std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>)
struct codec<T> {
    static encoded encode(T v) {
        char buf[24];
        const auto end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
        return encoded::copy({buf, static_cast<std::size_t>(end - buf)});
    }
    static bool decode(std::string_view bytes, std::uint32_t, T& out) {
        while (!bytes.empty() && bytes.back() == ' ') bytes.remove_suffix(1);
        if (bytes.empty()) return false;
        const auto [end, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), out);
        return ec == std::errc{} && end == bytes.data() + bytes.size();
    }
};

}  // namespace memcoro
