// DrainingBuffer: a socket read that tells Asio's reactor when it emptied
// the socket, so that the next read on that socket waits for readiness
// instead of first trying a recv() that can only fail.
//
// Why: Asio's epoll reactor (Boost 1.81) starts every asynchronous read
// with a speculative non-blocking recv(), and marks a socket "drained"
// (skip the speculation until epoll reports it readable again) only when a
// read returns 0 bytes, i.e. at end of stream. So every read that follows
// a completed exchange -- the upstream's response right after the request
// was written, the client's next request right after a response -- costs a
// recv() that answers EAGAIN before the wait: two system calls of the ~7
// per proxied request (bench/RESULTS.md). nginx avoids them by clearing its
// "ready" flag when recv() returns less than it asked for: on a stream
// socket that means the receive queue was empty at that moment, and since
// the socket is registered edge-triggered (EPOLLET) for reading, any byte
// that arrives later raises a new readiness event. DrainingBuffer teaches
// Asio the same rule: a read into it that returns fewer bytes than the
// buffer holds completes as "done and exhausted", which is the reactor's
// own signal to clear its per-socket speculation flag (epoll_reactor.ipp,
// start_op and descriptor_state::perform_io). Nothing else changes: the
// result, error and byte count the caller sees are those of the recv().
//
// How: Asio instantiates the read operation per buffer-sequence type, so a
// specialisation for this one type changes only reads made with it. It is
// Boost 1.81's reactive_socket_recv_op_base (copied, with the one rule
// added) for the epoll reactor; any other version or reactor fails to
// compile here rather than silently behave differently.
//
// `completed`, when set, is set to true by the read itself, in the reactor,
// the moment the recv() succeeds or fails -- before the completion handler
// is even queued. The upstream pool's idle-connection watch relies on it:
// a connection whose watch read anything (bytes or end of stream) is known
// dead without waiting for the handler (see upstream_pool.cc).
//
// Use: `socket.async_read_some(DrainingBuffer{buffer.prepare(n)}, token)` on
// a tcp::socket (not on a Beast stream or an SSL stream: those read through
// their own buffer types), from the thread that runs the socket's
// io_context.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/version.hpp>

namespace gw {

struct DrainingBuffer {
  boost::asio::mutable_buffer buffer;
  bool* completed = nullptr;  // see above

  using value_type = boost::asio::mutable_buffer;
  using const_iterator = const boost::asio::mutable_buffer*;
  const_iterator begin() const { return &buffer; }
  const_iterator end() const { return &buffer + 1; }
};

}  // namespace gw

#if BOOST_VERSION != 108100 || !defined(__linux__) || defined(BOOST_ASIO_DISABLE_EPOLL) || \
    defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
// CMakeLists.txt pins Boost 1.81 EXACT (Debian 12); another version needs
// this specialisation checked against its reactive_socket_recv_op.hpp.
#error "DrainingBuffer is written against Boost 1.81's epoll reactor"
#endif

#include <boost/asio/ip/tcp.hpp>  // the socket services, and with them the primary template

namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<gw::DrainingBuffer> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state, const gw::DrainingBuffer& buffers,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffers_(buffers),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    if (!socket_ops::non_blocking_recv1(o->socket_, o->buffers_.buffer.data(), o->buffers_.buffer.size(), o->flags_,
                                        stream, o->ec_, o->bytes_transferred_))
      return not_done;  // would block: wait for readiness
    if (o->buffers_.completed) *o->buffers_.completed = true;
    // Asio's own rule is `bytes_transferred_ == 0` (end of stream or an
    // error); a short read of a stream socket also leaves it empty.
    if (stream && o->bytes_transferred_ < o->buffers_.buffer.size()) return done_and_exhausted;
    return done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  gw::DrainingBuffer buffers_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
