#include <algorithm>
#include <string>
#include <vector>

#include "classifier/eval.h"

namespace airlock::classifier {
namespace {

// Display width of UTF-8 text: one column per code point (continuation bytes do not count).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

void Pad(std::string* out, const std::string& cell, size_t width) {
  out->append(cell);
  out->append(width - std::min(width, Width(cell)), ' ');
}

}  // namespace

double Auroc(std::vector<std::pair<float, bool>> scored) {
  std::sort(scored.begin(), scored.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum = 0;
  double positives = 0;
  for (size_t i = 0; i < scored.size();) {
    size_t j = i;
    while (j < scored.size() && scored[j].first == scored[i].first) ++j;
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // average
    for (size_t k = i; k < j; ++k) {
      if (scored[k].second) {
        rank_sum += rank;
        positives += 1;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(scored.size()) - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

std::string FormatTable(const EvalTable& table) {
  size_t columns = table.header.size();
  for (const auto& row : table.rows) columns = std::max(columns, row.size());
  std::vector<size_t> width(columns, 0);
  auto measure = [&width](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], Width(row[i]));
  };
  measure(table.header);
  for (const auto& row : table.rows) measure(row);

  std::string out;
  if (!table.title.empty()) out += table.title + "\n";
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t i = 0; i < columns; ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      if (i + 1 == columns) {
        text += cell;
      } else {
        Pad(&text, cell, width[i]);
        text += "  ";
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  if (!table.header.empty()) {
    line(table.header);
    size_t total = 0;
    for (size_t w : width) total += w;
    out += std::string(total + 2 * (columns > 0 ? columns - 1 : 0), '-') + "\n";
  }
  for (const auto& row : table.rows) line(row);
  for (const auto& note : table.notes) out += "  " + note + "\n";
  return out;
}

}  // namespace airlock::classifier
