// Base64 (RFC 4648) for the wire: the WebSocket handshake (Sec-WebSocket-Key/-Accept), the
// phoenix.js auth-token subprotocol and JWT parts. One implementation for the server, the load
// tool and the tests.
//
// Encoding with padding is OpenSSL's EVP_EncodeBlock. The decoders are ours: OpenSSL's
// EVP_DecodeBlock knows neither the url alphabet nor unpadded input, skips whitespace and accepts
// non-zero trailing bits, so one byte string would have several accepted encodings, which a JWT
// signature check must not allow. bench/jwt_bench.cpp times the verify path that uses them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rtchat::proto {

// Standard alphabet with '=' padding (RFC 4648 section 4).
[[nodiscard]] std::string base64_encode(std::string_view in);

// Unpadded base64url encoding (RFC 4648 section 5), as used by JWT parts.
[[nodiscard]] std::string base64url_encode(std::string_view in);

// Decoded size of unpadded base64 of `chars` characters; nullopt when no input has that length.
[[nodiscard]] std::optional<size_t> base64_decoded_size(size_t chars);

// Decodes unpadded base64url into out[0, base64_decoded_size(in.size())). Canonical only:
// non-zero trailing bits are refused, so every byte string has exactly one accepted encoding.
[[nodiscard]] bool base64url_decode_unpadded(std::string_view in, unsigned char* out);

// Decodes standard (+/) or url (-_) alphabet base64, padding optional but correct when present.
// For the phoenix.js authToken subprotocol `base64url.bearer.phx.<b64>`. Returns false (and leaves
// `out` unspecified) on any other character, a bad length, or non-zero trailing bits.
[[nodiscard]] bool base64_decode_any(std::string_view in, std::string& out);

}  // namespace rtchat::proto
