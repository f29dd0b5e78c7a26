// What a connection tells the router about its server's health.
#pragma once

namespace memcoro::detail {

// Both calls come with the connection's mutex held: they must be quick, must not call
// back into the connection, and must not run user code.
class health_observer {
  public:
    virtual ~health_observer() = default;
    // A failure of the server's: a connect that failed or timed out, a stream closed
    // under its operations, a pass of the clock that timed out unanswered requests.
    virtual void on_failure() noexcept = 0;
    // The server answered something.
    virtual void on_reply() noexcept = 0;
};

}  // namespace memcoro::detail
