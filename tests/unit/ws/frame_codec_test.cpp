// FrameCodec against wire bytes built and read by this file's own encoder and
// decoder (RFC 6455 section 5.2), never by wslay, so a mistake in how the
// codec drives wslay cannot hide behind the same mistake on both sides.
#include "worker/ws/frame_codec.h"
#include "tests/unit/support/test_mask_source.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace wsgate::worker {
namespace {

using test_support::test_mask_source;

// One pool per output role, as a worker has (wslay keeps a context's mask flag).
FrameContextPool& test_pool(bool mask_output) {
  static FrameContextPool masked{test_mask_source}, unmasked{test_mask_source};
  return mask_output ? masked : unmasked;
}

using Bytes = std::vector<uint8_t>;

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A payload whose bytes depend on their position, so a dropped, repeated or
// reordered byte shows.
Bytes pattern(size_t n, uint32_t seed = 1) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    b[i] = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

struct VecSink final : ByteSink {
  Bytes bytes;
  size_t calls = 0;
  void append(const uint8_t* data, size_t n) override {
    bytes.insert(bytes.end(), data, data + n);
    ++calls;
  }
};

// ------------------------------------------------------------ test encoder

enum class LenForm { shortest, len7, len16, len64 };

struct WireFrame {
  bool fin = true;
  uint8_t rsv = 0;
  uint8_t opcode = 0x2;
  bool mask = false;
  uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  Bytes payload;
  LenForm form = LenForm::shortest;
};

Bytes encode(const WireFrame& f) {
  Bytes out;
  out.push_back(static_cast<uint8_t>((f.fin ? 0x80 : 0) | (f.rsv & 7) << 4 | (f.opcode & 0xF)));
  const uint64_t n = f.payload.size();
  LenForm form = f.form;
  if (form == LenForm::shortest) {
    form = n < 126 ? LenForm::len7 : n < 65536 ? LenForm::len16 : LenForm::len64;
  }
  const uint8_t mbit = f.mask ? 0x80 : 0;
  switch (form) {
    case LenForm::len7: out.push_back(static_cast<uint8_t>(mbit | n)); break;
    case LenForm::len16:
      out.push_back(mbit | 126);
      out.push_back(static_cast<uint8_t>(n >> 8));
      out.push_back(static_cast<uint8_t>(n));
      break;
    default:
      out.push_back(mbit | 127);
      for (int s = 56; s >= 0; s -= 8) {
        out.push_back(static_cast<uint8_t>(n >> s));
      }
      break;
  }
  if (f.mask) {
    out.insert(out.end(), f.key, f.key + 4);
  }
  for (size_t i = 0; i < f.payload.size(); ++i) {
    out.push_back(f.mask ? static_cast<uint8_t>(f.payload[i] ^ f.key[i % 4]) : f.payload[i]);
  }
  return out;
}

WireFrame frame(uint8_t opcode, Bytes payload, bool mask, bool fin = true, uint8_t rsv = 0) {
  WireFrame f;
  f.opcode = opcode;
  f.payload = std::move(payload);
  f.mask = mask;
  f.fin = fin;
  f.rsv = rsv;
  return f;
}

// ------------------------------------------------------------ test decoder

struct Decoded {
  bool fin;
  uint8_t rsv;
  uint8_t opcode;
  bool mask;
  uint8_t key[4];
  int len_bytes;  // 0 (7-bit), 2 (16-bit) or 8 (64-bit extended length)
  uint64_t length;
  size_t header_size;
  Bytes payload;  // unmasked
};

// Reads every frame of `wire`; fails the test if the bytes do not end on a frame boundary.
std::vector<Decoded> decode_all(const Bytes& wire) {
  std::vector<Decoded> frames;
  size_t p = 0;
  while (p < wire.size()) {
    Decoded d{};
    const size_t start = p;
    if (wire.size() - p < 2) {
      ADD_FAILURE() << "truncated header at " << p;
      return frames;
    }
    d.fin = (wire[p] & 0x80) != 0;
    d.rsv = (wire[p] >> 4) & 7;
    d.opcode = wire[p] & 0xF;
    d.mask = (wire[p + 1] & 0x80) != 0;
    uint64_t len7 = wire[p + 1] & 0x7F;
    p += 2;
    d.len_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (wire.size() - p < static_cast<size_t>(d.len_bytes)) {
      ADD_FAILURE() << "truncated length at " << p;
      return frames;
    }
    if (d.len_bytes == 0) {
      d.length = len7;
    } else {
      d.length = 0;
      for (int i = 0; i < d.len_bytes; ++i) {
        d.length = d.length << 8 | wire[p + i];
      }
      p += d.len_bytes;
    }
    if (d.mask) {
      if (wire.size() - p < 4) {
        ADD_FAILURE() << "truncated mask key at " << p;
        return frames;
      }
      std::memcpy(d.key, &wire[p], 4);
      p += 4;
    }
    d.header_size = p - start;
    if (wire.size() - p < d.length) {
      ADD_FAILURE() << "truncated payload: " << d.length << " declared, " << wire.size() - p << " present";
      return frames;
    }
    d.payload.assign(wire.begin() + static_cast<ptrdiff_t>(p), wire.begin() + static_cast<ptrdiff_t>(p + d.length));
    if (d.mask) {
      for (size_t i = 0; i < d.payload.size(); ++i) {
        d.payload[i] ^= d.key[i % 4];
      }
    }
    p += d.length;
    frames.push_back(std::move(d));
  }
  return frames;
}

Decoded decode_one(const Bytes& wire) {
  std::vector<Decoded> all = decode_all(wire);
  EXPECT_EQ(all.size(), 1u);
  if (all.empty()) {
    return Decoded{};
  }
  return all[0];
}

// ------------------------------------------------------------ input side

struct ChunkRec {
  FrameHead head;
  Bytes data;
  bool starts;
  bool ends;
};

struct InFrame {
  FrameHead head;
  Bytes payload;
  size_t chunks = 0;
};

struct Outcome {
  std::vector<ChunkRec> chunks;
  bool protocol_error = false;
};

// Feeds `wire` cut at `cuts` (increasing offsets), draining next() after every feed.
Outcome run(FrameCodec& codec, const Bytes& wire, const std::vector<size_t>& cuts) {
  Outcome o;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (size_t to : ends) {
    codec.feed(wire.data() + from, to - from);
    for (;;) {
      FrameChunk c;
      FrameCodec::Next r = codec.next(c);
      if (r == FrameCodec::Next::need_more) {
        break;
      }
      if (r == FrameCodec::Next::protocol_error) {
        o.protocol_error = true;
        codec.discard_input();
        return o;
      }
      ChunkRec rec{c.head, Bytes(c.data, c.data + c.size), c.starts_frame, c.ends_frame};
      o.chunks.push_back(std::move(rec));
    }
    from = to;
  }
  return o;
}

Outcome run_fresh(const Bytes& wire, const std::vector<size_t>& cuts) {
  VecSink sink;
  FrameCodec codec(sink, false, test_pool(false));
  Outcome o = run(codec, wire, cuts);
  EXPECT_TRUE(sink.bytes.empty()) << "reading must not write";
  return o;
}

std::vector<size_t> every_byte(size_t n) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < n; ++i) {
    cuts.push_back(i);
  }
  return cuts;
}

// Groups chunks into frames, checking the chunk flags and heads are consistent.
std::vector<InFrame> frames_of(const std::vector<ChunkRec>& chunks) {
  std::vector<InFrame> frames;
  bool open = false;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkRec& c = chunks[i];
    SCOPED_TRACE("chunk " + std::to_string(i));
    EXPECT_EQ(c.starts, !open) << "starts_frame must be set exactly on a frame's first chunk";
    if (!open) {
      frames.push_back(InFrame{c.head, {}, 0});
      open = true;
    }
    InFrame& f = frames.back();
    EXPECT_EQ(c.head.fin, f.head.fin);
    EXPECT_EQ(c.head.rsv, f.head.rsv);
    EXPECT_EQ(c.head.opcode, f.head.opcode);
    EXPECT_EQ(c.head.length, f.head.length);
    EXPECT_EQ(c.head.masked, f.head.masked);
    if (f.head.length > 0) {
      EXPECT_GT(c.data.size(), 0u) << "an empty chunk inside a non-empty frame";
    }
    f.payload.insert(f.payload.end(), c.data.begin(), c.data.end());
    ++f.chunks;
    EXPECT_LE(f.payload.size(), f.head.length);
    const bool complete = f.payload.size() == f.head.length;
    EXPECT_EQ(c.ends, complete) << "ends_frame must be set exactly on a frame's last chunk";
    if (c.ends) {
      open = false;
    }
  }
  EXPECT_FALSE(open) << "input ended inside a frame";
  return frames;
}

void expect_frames(const std::vector<InFrame>& got, const std::vector<WireFrame>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    EXPECT_EQ(got[i].head.fin, want[i].fin);
    EXPECT_EQ(got[i].head.rsv, want[i].rsv);
    EXPECT_EQ(got[i].head.opcode, want[i].opcode);
    EXPECT_EQ(got[i].head.masked, want[i].mask);
    EXPECT_EQ(got[i].head.length, want[i].payload.size());
    EXPECT_TRUE(got[i].payload == want[i].payload) << "payload differs";
    if (want[i].payload.empty()) {
      EXPECT_EQ(got[i].chunks, 1u) << "a zero-length frame is reported once";
    }
  }
}

Bytes concat(const std::vector<WireFrame>& frames) {
  Bytes wire;
  for (const WireFrame& f : frames) {
    Bytes b = encode(f);
    wire.insert(wire.end(), b.begin(), b.end());
  }
  return wire;
}

// A mixed stream: fragments, controls between them, empty frames, RSV bits,
// every length encoding up to 16 bits, masked or not.
std::vector<WireFrame> mixed_stream(bool mask) {
  std::vector<WireFrame> fs;
  fs.push_back(frame(0x1, bytes_of("Hello"), mask, false));
  fs.push_back(frame(0x9, bytes_of("ping!"), mask));
  fs.push_back(frame(0x0, {}, mask, false));
  fs.push_back(frame(0x0, bytes_of(", world"), mask, true));
  fs.push_back(frame(0x2, {}, mask));
  fs.push_back(frame(0x2, pattern(125, 2), mask));
  fs.push_back(frame(0x2, pattern(126, 3), mask, true, 4));
  fs.push_back(frame(0xA, {}, mask));
  fs.push_back(frame(0x2, pattern(300, 4), mask, true, 7));
  fs.push_back(frame(0x8, Bytes{0x03, 0xE8, 'b', 'y', 'e'}, mask));
  return fs;
}

TEST(FrameCodecInput, WholeFeedYieldsEveryFrame) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    std::vector<WireFrame> want = mixed_stream(mask);
    Outcome o = run_fresh(concat(want), {});
    ASSERT_FALSE(o.protocol_error);
    expect_frames(frames_of(o.chunks), want);
  }
}

TEST(FrameCodecInput, ByteByByteYieldsTheSameFrames) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    std::vector<WireFrame> want = mixed_stream(mask);
    Bytes wire = concat(want);
    Outcome o = run_fresh(wire, every_byte(wire.size()));
    ASSERT_FALSE(o.protocol_error);
    expect_frames(frames_of(o.chunks), want);
    // One byte in, at most one byte out per chunk.
    for (const ChunkRec& c : o.chunks) {
      EXPECT_LE(c.data.size(), 1u);
    }
  }
}

// Every frame of `want` comes out whole, wherever the input is cut once.
void expect_same_frames_at_every_cut(const std::vector<WireFrame>& want, const char* what) {
  Bytes wire = concat(want);
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    SCOPED_TRACE(std::string(what) + ", cut at " + std::to_string(cut));
    Outcome o = run_fresh(wire, {cut});
    ASSERT_FALSE(o.protocol_error);
    expect_frames(frames_of(o.chunks), want);
    if (::testing::Test::HasFailure()) {
      return;
    }
  }
}

TEST(FrameCodecInput, SplitAtEveryOffsetYieldsTheSameFrames) {
  expect_same_frames_at_every_cut(mixed_stream(false), "unmasked");
  expect_same_frames_at_every_cut(mixed_stream(true), "masked");
}

TEST(FrameCodecInput, SplitTwiceAtManyOffsetsYieldsTheSameFrames) {
  std::vector<WireFrame> want = mixed_stream(true);
  Bytes wire = concat(want);
  for (size_t a = 1; a < wire.size(); a += 7) {
    for (size_t b = a + 1; b < wire.size(); b += 13) {
      SCOPED_TRACE("cuts at " + std::to_string(a) + ", " + std::to_string(b));
      Outcome o = run_fresh(wire, {a, b});
      ASSERT_FALSE(o.protocol_error);
      expect_frames(frames_of(o.chunks), want);
      if (HasNonfatalFailure()) {
        return;
      }
    }
  }
}

TEST(FrameCodecInput, MaskedInputIsUnmaskedAndReportedMasked) {
  WireFrame f = frame(0x1, bytes_of("masked text payload, longer than one key"), true);
  f.key[0] = 0xFF;
  f.key[1] = 0x00;
  f.key[2] = 0xA5;
  f.key[3] = 0x5A;
  Bytes wire = encode(f);
  // The wire really carries masked bytes.
  ASSERT_NE(Bytes(wire.begin() + 6, wire.end()), f.payload);
  Outcome o = run_fresh(wire, {});
  ASSERT_FALSE(o.protocol_error);
  std::vector<InFrame> got = frames_of(o.chunks);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].head.masked);
  EXPECT_EQ(got[0].payload, f.payload);
}

TEST(FrameCodecInput, UnmaskedInputIsReportedUnmasked) {
  Outcome o = run_fresh(encode(frame(0x2, bytes_of("abc"), false)), {});
  std::vector<InFrame> got = frames_of(o.chunks);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].head.masked);
  EXPECT_EQ(got[0].payload, bytes_of("abc"));
}

TEST(FrameCodecInput, ZeroLengthFrameIsOneChunkStartingAndEnding) {
  for (bool mask : {false, true}) {
    for (uint8_t op : {uint8_t{0x0}, uint8_t{0x1}, uint8_t{0x2}, uint8_t{0x8}, uint8_t{0x9}, uint8_t{0xA}}) {
      SCOPED_TRACE("opcode " + std::to_string(op) + (mask ? " masked" : ""));
      Bytes wire = encode(frame(op, {}, mask));
      for (bool bytewise : {false, true}) {
        Outcome o = run_fresh(wire, bytewise ? every_byte(wire.size()) : std::vector<size_t>{});
        ASSERT_FALSE(o.protocol_error);
        ASSERT_EQ(o.chunks.size(), 1u);
        EXPECT_TRUE(o.chunks[0].starts);
        EXPECT_TRUE(o.chunks[0].ends);
        EXPECT_EQ(o.chunks[0].data.size(), 0u);
        EXPECT_EQ(o.chunks[0].head.length, 0u);
        EXPECT_EQ(o.chunks[0].head.opcode, op);
        EXPECT_EQ(o.chunks[0].head.masked, mask);
      }
    }
  }
}

TEST(FrameCodecInput, SeveralFramesInOneFeed) {
  std::vector<WireFrame> want;
  for (int i = 0; i < 20; ++i) {
    want.push_back(frame(i % 2 ? 0x2 : 0x1, pattern(static_cast<size_t>(i * 3), i), true));
  }
  Outcome o = run_fresh(concat(want), {});
  ASSERT_FALSE(o.protocol_error);
  expect_frames(frames_of(o.chunks), want);
}

TEST(FrameCodecInput, HeaderOnlyAsksForMore) {
  VecSink sink;
  FrameCodec codec(sink, false, test_pool(false));
  WireFrame f = frame(0x2, pattern(10), true);
  Bytes wire = encode(f);
  // 2 header bytes + 4 key bytes, no payload yet: nothing to hand out.
  codec.feed(wire.data(), 6);
  FrameChunk c;
  EXPECT_EQ(codec.next(c), FrameCodec::Next::need_more);
  codec.feed(wire.data() + 6, 3);
  ASSERT_EQ(codec.next(c), FrameCodec::Next::chunk);
  EXPECT_TRUE(c.starts_frame);
  EXPECT_FALSE(c.ends_frame);
  EXPECT_EQ(c.size, 3u);
  EXPECT_EQ(Bytes(c.data, c.data + c.size), Bytes(f.payload.begin(), f.payload.begin() + 3));
  EXPECT_TRUE(codec.input_mid_frame());
  EXPECT_EQ(codec.next(c), FrameCodec::Next::need_more);
  codec.feed(wire.data() + 9, wire.size() - 9);
  ASSERT_EQ(codec.next(c), FrameCodec::Next::chunk);
  EXPECT_FALSE(c.starts_frame);
  EXPECT_TRUE(c.ends_frame);
  EXPECT_EQ(Bytes(c.data, c.data + c.size), Bytes(f.payload.begin() + 3, f.payload.end()));
  EXPECT_FALSE(codec.input_mid_frame());
  EXPECT_EQ(codec.next(c), FrameCodec::Next::need_more);
}

TEST(FrameCodecInput, OneMebibyteFrameArrivesInSeveralChunksThatSumUp) {
  const size_t n = 1u << 20;
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    WireFrame f = frame(0x2, pattern(n, 9), mask);
    Bytes wire = encode(f);
    ASSERT_EQ(wire.size(), n + 10 + (mask ? 4 : 0));
    for (size_t piece : {wire.size(), size_t{65536}, size_t{1000}}) {
      SCOPED_TRACE("fed in pieces of " + std::to_string(piece));
      std::vector<size_t> cuts;
      for (size_t c = piece; c < wire.size(); c += piece) {
        cuts.push_back(c);
      }
      Outcome o = run_fresh(wire, cuts);
      ASSERT_FALSE(o.protocol_error);
      EXPECT_GT(o.chunks.size(), 1u) << "a large frame is handed out as it arrives, not held whole";
      uint64_t sum = 0;
      for (const ChunkRec& c : o.chunks) {
        sum += c.data.size();
        EXPECT_EQ(c.head.length, n);
      }
      EXPECT_EQ(sum, n);
      std::vector<InFrame> got = frames_of(o.chunks);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_TRUE(got[0].payload == f.payload);
    }
  }
}

TEST(FrameCodecInput, SixtyFourBitLengthFrameByteByByte) {
  WireFrame f = frame(0x2, pattern(70000, 5), true);
  Bytes wire = encode(f);
  ASSERT_EQ(wire[1], 0x80 | 127);
  Outcome o = run_fresh(wire, every_byte(wire.size()));
  ASSERT_FALSE(o.protocol_error);
  std::vector<InFrame> got = frames_of(o.chunks);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].head.length, 70000u);
  EXPECT_TRUE(got[0].payload == f.payload);
}

// ---------------------------------------------------------- header errors

struct BadHeader {
  const char* name;
  Bytes wire;
};

std::vector<BadHeader> bad_headers() {
  Bytes payload126(126, 'x');
  return {
      // F6: control frame longer than 125, in both extended encodings.
      {"ping with 16-bit length 126",
       [&] {
         Bytes b{0x89, 0x7E, 0x00, 0x7E};
         b.insert(b.end(), payload126.begin(), payload126.end());
         return b;
       }()},
      {"close with 16-bit length 126", Bytes{0x88, 0x7E, 0x00, 0x7E}},
      {"pong with 64-bit length 126", Bytes{0x8A, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x7E}},
      {"masked ping with 16-bit length 200", Bytes{0x89, 0xFE, 0x00, 0xC8, 1, 2, 3, 4}},
      // F6: fragmented control frames.
      {"ping without FIN", Bytes{0x09, 0x00}},
      {"close without FIN", Bytes{0x08, 0x02, 0x03, 0xE8}},
      {"masked pong without FIN", Bytes{0x0A, 0x80, 1, 2, 3, 4}},
      // F8: 64-bit length with the most significant bit set.
      {"64-bit length with top bit", Bytes{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0x01}},
      {"64-bit length all ones", Bytes{0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}},
      // Non-minimal length encodings (section 5.2: "the minimal number of bytes MUST be used").
      {"16-bit encoding of 100",
       [] {
         Bytes b{0x82, 0x7E, 0x00, 0x64};
         Bytes p(100, 'y');
         b.insert(b.end(), p.begin(), p.end());
         return b;
       }()},
      {"16-bit encoding of 0", Bytes{0x82, 0x7E, 0x00, 0x00}},
      {"64-bit encoding of 65535", Bytes{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}},
      {"64-bit encoding of 125", Bytes{0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x7D, 1, 2, 3, 4}},
  };
}

TEST(FrameCodecInput, BadHeadersAreProtocolErrors) {
  for (const BadHeader& bad : bad_headers()) {
    SCOPED_TRACE(bad.name);
    Outcome whole = run_fresh(bad.wire, {});
    EXPECT_TRUE(whole.protocol_error);
    EXPECT_TRUE(whole.chunks.empty()) << "no payload of a bad frame is handed out";
    Outcome bytewise = run_fresh(bad.wire, every_byte(bad.wire.size()));
    EXPECT_TRUE(bytewise.protocol_error);
    EXPECT_TRUE(bytewise.chunks.empty());
  }
}

TEST(FrameCodecInput, FramesBeforeABadHeaderAreDeliveredFirst) {
  for (const BadHeader& bad : bad_headers()) {
    SCOPED_TRACE(bad.name);
    std::vector<WireFrame> good = {frame(0x1, bytes_of("ok"), true), frame(0x9, {}, true)};
    Bytes wire = concat(good);
    wire.insert(wire.end(), bad.wire.begin(), bad.wire.end());
    Outcome o = run_fresh(wire, {});
    EXPECT_TRUE(o.protocol_error);
    expect_frames(frames_of(o.chunks), good);
  }
}

TEST(FrameCodecInput, LargestValidHeadersAreAccepted) {
  // The boundaries next to the errors above: a 125-byte control frame, the
  // smallest 16-bit and 64-bit lengths.
  std::vector<WireFrame> want = {frame(0x9, pattern(125), true), frame(0x8, Bytes(125, 'r'), false),
                                 frame(0x2, pattern(126), true), frame(0x2, pattern(65536), false)};
  want[1].payload[0] = 0x03;
  want[1].payload[1] = 0xE8;
  Bytes wire = concat(want);
  EXPECT_EQ(encode(want[2])[1], 0x80 | 126);
  EXPECT_EQ(encode(want[3])[1], 127);
  Outcome o = run_fresh(wire, {});
  ASSERT_FALSE(o.protocol_error);
  expect_frames(frames_of(o.chunks), want);
}

// ------------------------------------------------------------ output side

TEST(FrameCodecOutput, TowardBackendFramesAreMaskedAndUnmaskToTheInput) {
  VecSink sink;
  FrameCodec codec(sink, true, test_pool(true));
  Bytes data = pattern(1000, 11);
  codec.send(FrameHead{true, 0, 0x2, data.size(), false}, data.data(), data.size());
  EXPECT_FALSE(codec.output_mid_frame());
  Decoded d = decode_one(sink.bytes);
  EXPECT_TRUE(d.mask) << "frames toward a backend must be masked (section 5.3)";
  EXPECT_EQ(d.header_size, 2u + 2u + 4u);
  EXPECT_TRUE(d.fin);
  EXPECT_EQ(d.rsv, 0);
  EXPECT_EQ(d.opcode, 0x2);
  EXPECT_EQ(d.length, data.size());
  EXPECT_EQ(d.payload, data);
  // The wire bytes are the masked ones: with a key that is not all zero they differ.
  if (d.key[0] | d.key[1] | d.key[2] | d.key[3]) {
    EXPECT_NE(Bytes(sink.bytes.begin() + 8, sink.bytes.end()), data);
  }
}

TEST(FrameCodecOutput, HeadFieldsAreCopiedToTheWire) {
  for (bool mask : {false, true}) {
    VecSink sink;
    FrameCodec codec(sink, mask, test_pool(mask));
    Bytes a = bytes_of("frag1"), b = bytes_of("frag2");
    codec.send(FrameHead{false, 0, 0x1, a.size(), !mask}, a.data(), a.size());
    codec.send(FrameHead{true, 5, 0x0, b.size(), !mask}, b.data(), b.size());
    std::vector<Decoded> ds = decode_all(sink.bytes);
    ASSERT_EQ(ds.size(), 2u);
    EXPECT_FALSE(ds[0].fin);
    EXPECT_EQ(ds[0].opcode, 0x1);
    EXPECT_EQ(ds[0].rsv, 0);
    EXPECT_EQ(ds[0].payload, a);
    EXPECT_TRUE(ds[1].fin);
    EXPECT_EQ(ds[1].opcode, 0x0);
    EXPECT_EQ(ds[1].rsv, 5);
    EXPECT_EQ(ds[1].payload, b);
    // The mask bit follows the codec's role, not head.masked (the input side's flag).
    EXPECT_EQ(ds[0].mask, mask);
    EXPECT_EQ(ds[1].mask, mask);
  }
}

TEST(FrameCodecOutput, EveryFrameGetsAFreshMaskingKey) {
  VecSink sink;
  FrameCodec codec(sink, true, test_pool(true));
  const Bytes data = bytes_of("same payload every time");
  for (int i = 0; i < 100; ++i) {
    codec.send(FrameHead{true, 0, 0x1, data.size(), false}, data.data(), data.size());
  }
  std::vector<Decoded> ds = decode_all(sink.bytes);
  ASSERT_EQ(ds.size(), 100u);
  std::set<uint32_t> keys;
  for (size_t i = 0; i < ds.size(); ++i) {
    EXPECT_TRUE(ds[i].mask);
    EXPECT_EQ(ds[i].payload, data);
    uint32_t k;
    std::memcpy(&k, ds[i].key, 4);
    keys.insert(k);
    if (i > 0) {
      EXPECT_NE(std::memcmp(ds[i - 1].key, ds[i].key, 4), 0) << "frames " << i - 1 << " and " << i << " share a key";
    }
  }
  // 100 keys from a CSPRNG collide with probability ~1e-6.
  EXPECT_EQ(keys.size(), 100u);
}

TEST(FrameCodecOutput, ControlFramesTowardBackendAreMaskedWithFreshKeys) {
  VecSink sink;
  FrameCodec codec(sink, true, test_pool(true));
  const Bytes p = bytes_of("hb");
  codec.send_control(0x9, p.data(), p.size());
  codec.send_control(0x9, p.data(), p.size());
  std::vector<Decoded> ds = decode_all(sink.bytes);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_TRUE(ds[0].mask);
  EXPECT_TRUE(ds[1].mask);
  EXPECT_NE(std::memcmp(ds[0].key, ds[1].key, 4), 0);
  EXPECT_EQ(ds[0].payload, p);
  EXPECT_EQ(ds[1].payload, p);
}

TEST(FrameCodecOutput, TowardClientFramesAreNotMasked) {
  VecSink sink;
  FrameCodec codec(sink, false, test_pool(false));
  Bytes data = pattern(300, 12);
  codec.send(FrameHead{true, 0, 0x2, data.size(), true}, data.data(), data.size());
  Decoded d = decode_one(sink.bytes);
  EXPECT_FALSE(d.mask) << "a server must not mask (section 5.1)";
  EXPECT_EQ(d.header_size, 4u);
  EXPECT_EQ(d.payload, data);
  // The payload is on the wire verbatim.
  EXPECT_EQ(Bytes(sink.bytes.begin() + 4, sink.bytes.end()), data);
}

TEST(FrameCodecOutput, ChunkedSendMakesOneHeaderAndTheWholePayload) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    VecSink sink;
    FrameCodec codec(sink, mask, test_pool(mask));
    Bytes data = pattern(10007, 13);
    FrameHead head{true, 0, 0x2, data.size(), false};
    EXPECT_FALSE(codec.output_mid_frame());
    // Odd chunk sizes, so the mask key offset has to carry over between calls;
    // one empty call in the middle.
    const size_t sizes[] = {1, 3, 0, 5, 4095, 4097, 1806};
    size_t off = 0;
    for (size_t s : sizes) {
      codec.send(head, data.data() + off, s);
      off += s;
      if (off < data.size()) {
        EXPECT_TRUE(codec.output_mid_frame()) << "after " << off << " bytes";
      }
    }
    ASSERT_EQ(off, data.size());
    EXPECT_FALSE(codec.output_mid_frame());
    Decoded d = decode_one(sink.bytes);
    EXPECT_EQ(d.mask, mask);
    EXPECT_EQ(d.length, data.size());
    EXPECT_EQ(d.header_size, (mask ? 8u : 4u));
    EXPECT_TRUE(d.payload == data) << "payload differs after chunked send";

    // The codec is ready for the next frame right away.
    const Bytes next = bytes_of("next");
    codec.send(FrameHead{true, 0, 0x1, next.size(), false}, next.data(), next.size());
    std::vector<Decoded> ds = decode_all(sink.bytes);
    ASSERT_EQ(ds.size(), 2u);
    EXPECT_EQ(ds[1].opcode, 0x1);
    EXPECT_EQ(ds[1].payload, next);
  }
}

TEST(FrameCodecOutput, ByteByByteSendOfAMaskedFrame) {
  VecSink sink;
  FrameCodec codec(sink, true, test_pool(true));
  Bytes data = pattern(257, 14);
  FrameHead head{false, 0, 0x1, data.size(), false};
  for (size_t i = 0; i < data.size(); ++i) {
    codec.send(head, &data[i], 1);
    EXPECT_EQ(codec.output_mid_frame(), i + 1 < data.size());
  }
  Decoded d = decode_one(sink.bytes);
  EXPECT_TRUE(d.mask);
  EXPECT_FALSE(d.fin);
  EXPECT_EQ(d.opcode, 0x1);
  EXPECT_TRUE(d.payload == data);
}

TEST(FrameCodecOutput, ZeroLengthFrameIsOneHeader) {
  for (bool mask : {false, true}) {
    VecSink sink;
    FrameCodec codec(sink, mask, test_pool(mask));
    codec.send(FrameHead{true, 0, 0x2, 0, false}, nullptr, 0);
    EXPECT_FALSE(codec.output_mid_frame());
    EXPECT_EQ(sink.bytes.size(), mask ? 6u : 2u);
    Decoded d = decode_one(sink.bytes);
    EXPECT_EQ(d.length, 0u);
    EXPECT_EQ(d.mask, mask);
    EXPECT_EQ(d.opcode, 0x2);
  }
}

TEST(FrameCodecOutput, SendControlEmitsWholeFrames) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    VecSink sink;
    FrameCodec codec(sink, mask, test_pool(mask));
    const Bytes close_body{0x03, 0xE8, 'b', 'y', 'e'};
    const Bytes ping_body = pattern(125, 15);
    const Bytes pong_body = bytes_of("pong");
    codec.send_control(0x8, close_body.data(), close_body.size());
    EXPECT_FALSE(codec.output_mid_frame());
    codec.send_control(0x9, ping_body.data(), ping_body.size());
    EXPECT_FALSE(codec.output_mid_frame());
    codec.send_control(0xA, pong_body.data(), pong_body.size());
    codec.send_control(0x8, nullptr, 0);
    EXPECT_FALSE(codec.output_mid_frame());
    std::vector<Decoded> ds = decode_all(sink.bytes);
    ASSERT_EQ(ds.size(), 4u);
    const uint8_t ops[] = {0x8, 0x9, 0xA, 0x8};
    const Bytes* bodies[] = {&close_body, &ping_body, &pong_body, nullptr};
    for (size_t i = 0; i < 4; ++i) {
      SCOPED_TRACE("frame " + std::to_string(i));
      EXPECT_TRUE(ds[i].fin);
      EXPECT_EQ(ds[i].rsv, 0);
      EXPECT_EQ(ds[i].opcode, ops[i]);
      EXPECT_EQ(ds[i].mask, mask);
      EXPECT_EQ(ds[i].len_bytes, 0);
      EXPECT_EQ(ds[i].payload, bodies[i] ? *bodies[i] : Bytes{});
    }
  }
}

TEST(FrameCodecOutput, LengthEncodings) {
  struct Case {
    uint64_t length;
    int len_bytes;
    uint8_t len7;
  };
  const Case cases[] = {{0, 0, 0},     {1, 0, 1},       {125, 0, 125},   {126, 2, 126},
                        {127, 2, 126}, {65535, 2, 126}, {65536, 8, 127}, {65537, 8, 127}};
  for (bool mask : {false, true}) {
    for (const Case& c : cases) {
      SCOPED_TRACE("length " + std::to_string(c.length) + (mask ? " masked" : ""));
      VecSink sink;
      FrameCodec codec(sink, mask, test_pool(mask));
      Bytes data = pattern(c.length, 16);
      codec.send(FrameHead{true, 0, 0x2, c.length, false}, data.data(), data.size());
      ASSERT_GE(sink.bytes.size(), 2u);
      EXPECT_EQ(sink.bytes[1] & 0x7F, c.len7);
      EXPECT_EQ((sink.bytes[1] & 0x80) != 0, mask);
      EXPECT_EQ(sink.bytes.size(), 2 + static_cast<size_t>(c.len_bytes) + (mask ? 4 : 0) + c.length);
      Decoded d = decode_one(sink.bytes);
      EXPECT_EQ(d.len_bytes, c.len_bytes);
      EXPECT_EQ(d.length, c.length);
      EXPECT_TRUE(d.payload == data);
    }
  }
  // The extended lengths in network byte order, spelled out.
  VecSink sink;
  FrameCodec codec(sink, false, test_pool(false));
  Bytes d16 = pattern(0x1234);
  codec.send(FrameHead{true, 0, 0x2, d16.size(), false}, d16.data(), d16.size());
  EXPECT_EQ(Bytes(sink.bytes.begin(), sink.bytes.begin() + 4), (Bytes{0x82, 126, 0x12, 0x34}));
  sink.bytes.clear();
  Bytes d64 = pattern(0x012345);
  codec.send(FrameHead{true, 0, 0x2, d64.size(), false}, d64.data(), d64.size());
  EXPECT_EQ(Bytes(sink.bytes.begin(), sink.bytes.begin() + 10), (Bytes{0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x23, 0x45}));
}

TEST(FrameCodecRoundTrip, OutputOfOneCodecIsInputOfAnother) {
  // Backend side writes masked frames; a client-role reader sees them masked
  // and unmasked back to the original payload.
  VecSink wire;
  FrameCodec writer(wire, true, test_pool(true));
  std::vector<WireFrame> want = mixed_stream(true);
  for (const WireFrame& f : want) {
    FrameHead h{f.fin, f.rsv, f.opcode, f.payload.size(), false};
    if (f.opcode & 0x8) {
      writer.send_control(f.opcode, f.payload.data(), f.payload.size());
    } else {
      writer.send(h, f.payload.data(), f.payload.size());
    }
  }
  Outcome o = run_fresh(wire.bytes, every_byte(wire.bytes.size()));
  ASSERT_FALSE(o.protocol_error);
  expect_frames(frames_of(o.chunks), want);
}

// ------------------------------------------------------------ direct path
// Frames of FrameCodec::kDirectMin bytes and more bypass wslay after their
// header: the same bytes must come out, whatever the cuts.

// Large and small frames around the threshold, controls between fragments.
std::vector<WireFrame> large_stream(bool mask) {
  const size_t min = FrameCodec::kDirectMin;
  std::vector<WireFrame> fs;
  fs.push_back(frame(0x2, pattern(min - 1, 21), mask));
  fs.push_back(frame(0x2, pattern(min, 22), mask));
  fs.push_back(frame(0x1, pattern(min + 5, 23), mask, false));
  fs.push_back(frame(0x9, bytes_of("ping in between"), mask));
  fs.push_back(frame(0x0, pattern(2 * min + 3, 24), mask, true, 2));
  fs.push_back(frame(0x2, bytes_of("small"), mask));
  fs.push_back(frame(0x2, pattern(min + 1, 25), mask));
  return fs;
}

TEST(FrameCodecDirect, LargeFramesSplitAtEveryOffsetYieldTheSameFrames) {
  expect_same_frames_at_every_cut(large_stream(false), "unmasked");
  expect_same_frames_at_every_cut(large_stream(true), "masked");
}

TEST(FrameCodecDirect, LargeFramesSplitTwiceYieldTheSameFrames) {
  for (bool mask : {false, true}) {
    std::vector<WireFrame> want = large_stream(mask);
    Bytes wire = concat(want);
    for (size_t a = 1; a < wire.size(); a += 97) {
      for (size_t b = a + 1; b < wire.size(); b += 89) {
        SCOPED_TRACE(std::string(mask ? "masked" : "unmasked") + ", cuts at " + std::to_string(a) + ", " +
                     std::to_string(b));
        Outcome o = run_fresh(wire, {a, b});
        ASSERT_FALSE(o.protocol_error);
        expect_frames(frames_of(o.chunks), want);
        if (HasNonfatalFailure()) {
          return;
        }
      }
    }
  }
}

TEST(FrameCodecDirect, LargeFramesByteByByte) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    std::vector<WireFrame> want = large_stream(mask);
    Bytes wire = concat(want);
    Outcome o = run_fresh(wire, every_byte(wire.size()));
    ASSERT_FALSE(o.protocol_error);
    expect_frames(frames_of(o.chunks), want);
  }
}

TEST(FrameCodecDirect, AWholeLargeFrameComesInFewChunksNotWslaysFourKiB) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    WireFrame f = frame(0x2, pattern(60000, 26), mask);
    Outcome o = run_fresh(encode(f), {});
    ASSERT_FALSE(o.protocol_error);
    // wslay's part (the header and four bytes), then the rest in one piece.
    ASSERT_EQ(o.chunks.size(), 2u);
    EXPECT_EQ(o.chunks[0].data.size(), 4u);
    std::vector<InFrame> got = frames_of(o.chunks);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].payload == f.payload);
  }
}

TEST(FrameCodecDirect, AnInputContextIsNotKeptInsideADirectFrameNorAfterIt) {
  FrameContextPool pool{test_mask_source};
  VecSink sink;
  FrameCodec codec(sink, false, pool);
  WireFrame f = frame(0x2, pattern(5000, 27), true);
  Bytes wire = encode(f);
  codec.feed(wire.data(), 3000);
  FrameChunk c;
  while (codec.next(c) == FrameCodec::Next::chunk) {
  }
  EXPECT_TRUE(codec.input_mid_frame());
  EXPECT_FALSE(codec.holds_context()) << "a direct frame needs no wslay context";
  codec.feed(wire.data() + 3000, wire.size() - 3000);
  while (codec.next(c) == FrameCodec::Next::chunk) {
  }
  EXPECT_FALSE(codec.input_mid_frame());
  codec.release_if_idle();
  EXPECT_FALSE(codec.holds_context());
  // The next frame is parsed by a clean context.
  Bytes small = encode(frame(0x1, bytes_of("after"), true));
  Outcome o = run(codec, small, {});
  ASSERT_FALSE(o.protocol_error);
  ASSERT_EQ(o.chunks.size(), 1u);
  EXPECT_EQ(o.chunks[0].data, bytes_of("after"));
}

TEST(FrameCodecDirect, LargeOutputFramesGetFreshKeysAndTheirPayload) {
  for (bool mask : {false, true}) {
    SCOPED_TRACE(mask ? "masked" : "unmasked");
    VecSink sink;
    FrameCodec codec(sink, mask, test_pool(mask));
    std::vector<Bytes> sent;
    for (size_t n : {FrameCodec::kDirectMin, size_t{70000}, size_t{3000}}) {
      sent.push_back(pattern(n, static_cast<uint32_t>(n)));
      codec.send(FrameHead{true, 0, 0x2, n, false}, sent.back().data(), n);
      EXPECT_FALSE(codec.output_mid_frame());
    }
    const Bytes ctl = bytes_of("after");
    codec.send_control(0x9, ctl.data(), ctl.size());
    std::vector<Decoded> ds = decode_all(sink.bytes);
    ASSERT_EQ(ds.size(), 4u);
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(ds[i].mask, mask);
      EXPECT_TRUE(ds[i].payload == sent[i]) << "frame " << i;
    }
    EXPECT_EQ(ds[3].payload, ctl);
    if (mask) {
      EXPECT_NE(std::memcmp(ds[0].key, ds[1].key, 4), 0);
      EXPECT_NE(std::memcmp(ds[1].key, ds[2].key, 4), 0);
    }
  }
}

TEST(FrameCodecDirect, RoundTripOfLargeFramesThroughTwoCodecs) {
  VecSink wire;
  FrameCodec writer(wire, true, test_pool(true));
  std::vector<WireFrame> want = large_stream(true);
  for (const WireFrame& f : want) {
    if (f.opcode & 0x8) {
      writer.send_control(f.opcode, f.payload.data(), f.payload.size());
    } else {
      // In odd pieces, so the key offset carries over between calls.
      for (size_t off = 0; off < f.payload.size() || off == 0;) {
        size_t n = std::min<size_t>(f.payload.size() - off, 333);
        writer.send(FrameHead{f.fin, f.rsv, f.opcode, f.payload.size(), false}, f.payload.data() + off, n);
        off += n;
        if (n == 0) {
          break;
        }
      }
    }
  }
  for (size_t piece : {size_t{1}, size_t{700}, wire.bytes.size()}) {
    SCOPED_TRACE("pieces of " + std::to_string(piece));
    std::vector<size_t> cuts;
    for (size_t c = piece; c < wire.bytes.size(); c += piece) {
      cuts.push_back(c);
    }
    Outcome o = run_fresh(wire.bytes, cuts);
    ASSERT_FALSE(o.protocol_error);
    expect_frames(frames_of(o.chunks), want);
  }
}

}  // namespace
}  // namespace wsgate::worker
