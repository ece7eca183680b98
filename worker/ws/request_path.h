// The one normalisation of a request path (RFC 3986 section 6.2.2), used for
// everything wsgate decides by path: route matching (H10), per_path channel
// names, and the targets sent to backends and stream sources. Deciding on
// one spelling and forwarding another is how `/app/%61dmin` or
// `/app/x/../admin` got past a route with `auth` (issue 15, finding 4), so
// the normalised path is also the one forwarded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsgate::worker {

// `raw` is the path part of an origin-form target (up to '?'), starting with
// '/'. The result:
//  - percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~) are
//    decoded, every other one is kept with upper-case hex digits;
//  - runs of '/' become one (what most backends do; a route then cannot be
//    dodged with `/app//admin`);
//  - dot segments are removed (RFC 3986 section 5.2.4); `..` above the root
//    stays at the root.
// nullopt, with `why` set, for a path that has no single meaning: an encoded
// '/' or '\' (%2F, %5C: a segment separator to some backends, not to others),
// a malformed percent-encoding, or a byte RFC 3986 does not allow in a path
// unencoded (controls, space, '"', '<', '>', '\', '^', '`', '{', '|', '}',
// '#', bytes >= 0x80). A normalised path therefore holds only printable
// ASCII, never a quote or a backslash.
std::optional<std::string> normalize_request_path(std::string_view raw, std::string* why);

// True when normalize_request_path(raw) would return `raw` unchanged, found
// with one scan and no copy (false may also mean "not sure": normalise).
bool is_normalized_path(std::string_view raw);

// RFC 3986 section 5.2.4, on a path that starts with '/'.
std::string remove_dot_segments(std::string_view path);

// A per_path stream's upstream target: the source's target (path and
// optional query, e.g. "/vendor/v1?x=1") with the channel path inserted
// after its path ("/vendor/v1/fx/EURUSD?x=1"). nullopt when the channel path
// is not normalised or the result would not stay under the source's path
// (issue 15, finding 3).
std::optional<std::string> channel_upstream_target(std::string_view source_target, std::string_view channel_path);

}  // namespace wsgate::worker
