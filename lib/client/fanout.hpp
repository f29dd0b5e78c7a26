// A call that spans several servers (get_many over a tier, flush_all to every server):
// one parent with a child operation per server, all sent at once, so the call takes
// about as long as the slowest server rather than the sum. The parent completes when
// the last child does, puts the results back in request order, and forwards a
// cancellation to every child.
#pragma once

#include <boost/asio/cancellation_type.hpp>
#include <boost/container/small_vector.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "../detail/connection.hpp"
#include "basic_operation.hpp"

namespace memcoro::detail {

// `Sig` is the user's completion signature; `Child` what each child completes with.
// A derived class says how a child's result joins the others (absorb) and what the
// user gets at the end (finish).
template <class Sig, class Child>
class fanout : public std::enable_shared_from_this<fanout<Sig, Child>> {
  public:
    fanout(completion<Sig> handler, asio::any_io_executor fallback, std::size_t children)
        : handler_(std::move(handler)), fallback_(std::move(fallback)), pending_(children) {
        children_.reserve(children);
    }
    virtual ~fanout() = default;
    fanout(const fanout&) = delete;
    fanout& operator=(const fanout&) = delete;

    // The handler for child `index`: it keeps the parent alive until it has run.
    [[nodiscard]] auto child_handler(std::size_t index) {
        return [self = this->shared_from_this(), index](error_code ec, Child result) {
            self->child_done(index, ec, std::move(result));
        };
    }

    // Remembers a child that was sent, so that a cancellation reaches it.
    void add_child(const std::shared_ptr<connection>& c, std::uint64_t id) {
        std::lock_guard lock(mutex_);
        children_.emplace_back(c, id);
    }

    // Cancels every child still waiting; each completes with the error, and so does the
    // parent once the last has.
    void cancel() {
        decltype(children_) children;
        {
            std::lock_guard lock(mutex_);
            children = children_;
        }
        for (auto& [c, id] : children) {
            if (auto conn = c.lock()) conn->cancel(id, asio::error::operation_aborted);
        }
    }

    // The user's cancellation slot, read before the handler moves anywhere.
    [[nodiscard]] asio::cancellation_slot slot() const noexcept {
        return handler_.handler.get_cancellation_slot();
    }

  protected:
    // A child's outcome, under the parent's mutex. Returns the error the whole call
    // fails with, if this one makes it fail.
    virtual void absorb(std::size_t index, error_code ec, Child&& result) = 0;
    // Delivers the final result (the mutex is released; every child is done).
    virtual void finish(completion<Sig>& handler, const asio::any_io_executor& fallback) = 0;

  private:
    void child_done(std::size_t index, error_code ec, Child result) {
        {
            std::lock_guard lock(mutex_);
            absorb(index, ec, std::move(result));
            if (--pending_ != 0) return;
            children_.clear();
        }
        finish(handler_, fallback_);
    }

    std::mutex mutex_;
    completion<Sig> handler_;
    asio::any_io_executor fallback_;
    std::size_t pending_;
    // Inline for a tier of up to 8 servers: no allocation of its own.
    boost::container::small_vector<std::pair<std::weak_ptr<connection>, std::uint64_t>, 8>
        children_;
};

// Installed in the user's cancellation slot of a fanned-out call.
template <class Fanout>
struct fanout_canceller {
    explicit fanout_canceller(std::shared_ptr<Fanout> f) : parent(std::move(f)) {}
    std::shared_ptr<Fanout> parent;
    void operator()(asio::cancellation_type_t) const { parent->cancel(); }
};

}  // namespace memcoro::detail
