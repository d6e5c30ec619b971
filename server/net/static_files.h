// The built web UI (web/dist) held in memory: loaded once at startup so the reactor never touches
// the disk, then looked up by decoded URL path. Immutable after load(), so shards may share one
// const instance (read-only, no locks) or each hold their own.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace rtchat::server {

struct StaticFile {
  std::string body;
  std::string content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string
      cache_control;  // "public, max-age=31536000, immutable" for hashed assets, else "no-cache"
  std::string etag;   // quoted strong validator derived from the content, e.g. "\"1a2b...\""
};

// Content-Type by file extension (html, js, mjs, css, svg, png, ico, json, woff2, txt, map, ...);
// "application/octet-stream" when unknown. Text types carry "; charset=utf-8".
[[nodiscard]] std::string_view content_type_for(std::string_view filename);

// True for names a bundler stamps with a content hash: "<name>-<8+ alnum>.<ext...>"
// (esbuild: app-5HQWQ4KN.js, chunk-3f2a9c1b.js.map).
[[nodiscard]] bool has_content_hash(std::string_view filename);

class StaticFiles {
 public:
  // Startup only (reads the disk). Loads every regular file under root recursively, keyed by
  // "/relative/path". Skips dot-files and dot-directories, and symlinks whose target resolves
  // outside root. A missing or unreadable root gives an empty store (the server then answers 404).
  static StaticFiles load(const std::filesystem::path& root);

  // Resolves a percent-decoded URL path. "/" and paths ending in "/" map to ".../index.html".
  // Refused (nullptr): not starting with '/', "//", a backslash, a NUL, or any segment starting
  // with
  // '.' (so "..", ".git", ".env"). Unknown paths whose last segment has no '.' fall back to
  // "/index.html" (client-side routes of the single-page app); other unknown paths give nullptr.
  // The pointer stays valid as long as this store.
  [[nodiscard]] const StaticFile* find(std::string_view decoded_path) const;

  [[nodiscard]] size_t size() const { return files_.size(); }

 private:
  std::map<std::string, StaticFile, std::less<>> files_;
};

// The response for a found file: 200 with body, Content-Type, Cache-Control and ETag, or 304
// without body when if_none_match (the request's If-None-Match value) lists the file's ETag or is
// "*". head_only: a HEAD request (headers only).
[[nodiscard]] std::string static_file_response(const StaticFile& file,
                                               std::string_view if_none_match,
                                               bool head_only = false);

}  // namespace rtchat::server
