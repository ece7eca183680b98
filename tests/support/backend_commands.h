// Special text messages the echo backend obeys instead of echoing them.
// Parsing is pure; the session carries the commands out. Anything that is not
// an exact, well-formed command is echoed like any other message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsgate::test {

struct Command {
  enum class Kind {
    kWhoami,      // reply NAME
    kHeaders,     // reply the raw request head
    kClose,       // close:CODE:REASON -> send close(CODE, REASON), await the reply
    kDrop,        // close TCP at once, no close frame
    kSendMasked,  // send a masked text frame (a server must not)
    kPing,        // ping:PAYLOAD -> ping; on the matching pong reply "pong:PAYLOAD"
    kFlood,       // flood:N:SIZE -> N binary messages of SIZE bytes, then "flood-done"
    kStats,       // reply {"connections":N}
    kPongs,       // reply "pongs:N": pong frames this session has received
  };
  Kind kind = Kind::kWhoami;
  std::string text;                         // close reason or ping payload
  std::optional<std::uint16_t> close_code;  // nullopt: "close::" sends an empty close body
  std::uint64_t count = 0;                  // flood N
  std::uint64_t size = 0;                   // flood SIZE
};

// Commands are short; longer text frames are never buffered to look for one.
inline constexpr std::size_t kMaxCommandLength = 4096;

std::optional<Command> parse_command(std::string_view message);

// Byte `index` of flood message `message`: a pattern a reader can verify.
inline std::uint8_t flood_byte(std::uint64_t message, std::uint64_t index) {
  return static_cast<std::uint8_t>((message + index) & 0xff);
}

}  // namespace wsgate::test
