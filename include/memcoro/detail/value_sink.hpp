// Where get_into puts a value: a caller's dynamic buffer (Asio's DynamicBuffer_v1,
// which Beast's flat_buffer, multi_buffer and static_buffer model), behind a small
// virtual interface so that the operation itself is compiled once, in lib/.
#pragma once

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string_view>

namespace memcoro::detail {

class value_sink {
public:
    virtual ~value_sink() = default;
    // Makes room for a value of `size` bytes after what the buffer holds.
    virtual void begin(std::size_t size) = 0;
    // The contiguous free region that starts `offset` bytes into that room.
    [[nodiscard]] virtual std::span<char> region(std::size_t offset) noexcept = 0;
    // The value is complete: `size` bytes become readable.
    virtual void commit(std::size_t size) = 0;

    // Copies `bytes` into the room at `offset`.
    void write(std::size_t offset, std::string_view bytes) noexcept {
        while (!bytes.empty()) {
            const auto r = region(offset);
            const std::size_t n = r.size() < bytes.size() ? r.size() : bytes.size();
            if (n == 0) return;
            std::memcpy(r.data(), bytes.data(), n);
            bytes.remove_prefix(n);
            offset += n;
        }
    }
};

// How get_into's operation builds its sink for the caller's buffer type, in storage of
// its own: `build` constructs the sink at `where` (`size` bytes, aligned to `align`).
struct sink_maker {
    value_sink* (*build)(void* where, void* buffer);
    std::size_t size;
    std::size_t align;
    void* buffer;
};

template <class DynamicBuffer>
class dynamic_buffer_sink;

template <class DynamicBuffer>
sink_maker make_sink_maker(DynamicBuffer& buffer) noexcept {
    using sink = dynamic_buffer_sink<DynamicBuffer>;
    return {[](void* where, void* b) -> value_sink* {
                return ::new (where) sink(*static_cast<DynamicBuffer*>(b));
            },
            sizeof(sink), alignof(sink), &buffer};
}

template <class DynamicBuffer>
class dynamic_buffer_sink final : public value_sink {
public:
    explicit dynamic_buffer_sink(DynamicBuffer& buffer) noexcept : buffer_(buffer) {}

    void begin(std::size_t size) override { room_.emplace(buffer_.prepare(size)); }

    std::span<char> region(std::size_t offset) noexcept override {
        if (!room_) return {};
        for (auto it = boost::asio::buffer_sequence_begin(*room_);
             it != boost::asio::buffer_sequence_end(*room_); ++it) {
            const boost::asio::mutable_buffer b(*it);
            if (offset < b.size()) return {static_cast<char*>(b.data()) + offset, b.size() - offset};
            offset -= b.size();
        }
        return {};
    }

    void commit(std::size_t size) override {
        buffer_.commit(size);
        room_.reset();
    }

private:
    DynamicBuffer& buffer_;
    std::optional<typename DynamicBuffer::mutable_buffers_type> room_;
};

}  // namespace memcoro::detail
