#pragma once

// The debug console's web page (GET /debug/ui on the admin listener): one
// self-contained document, its style and script inline, that reads the
// admin listener's JSON endpoints from its own origin every second.

#include <string>
#include <utility>
#include <vector>

namespace prism::admin {

/// The page: HTML with its style and script inline; it loads nothing else
/// but the admin listener's JSON (with fetch(), from its own origin).
const std::string& ui_page_html();

/// The headers the page is served with: a Content-Security-Policy that lets
/// it run only its own inline style and script (by their SHA-256) and
/// connect only to its own origin, and no caching.
const std::vector<std::pair<std::string, std::string>>& ui_page_headers();

} // namespace prism::admin
