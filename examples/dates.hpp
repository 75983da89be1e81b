#pragma once
// The dates of the date-translation examples (seq2seq_attention, transformer_seq2seq): every day
// from 1950-01-01 to 2049-12-31 and the many ways people write one. Both examples draw their data
// from here with the same seed, so their held-out days are the same.
#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace dates {

// splitmix64: a tiny generator that gives the same numbers everywhere (std:: distributions do not).
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  bool coin() { return next() & 1; }
};

struct Date {
  int year, month, day, weekday;  // weekday 0 = Monday
};

constexpr int kNumDays = 36525;  // 1950-01-01 .. 2049-12-31

// Day n counted from 1950-01-01 -> the date (H. Hinnant's civil_from_days; 1970-01-01 is day 7305,
// a Thursday).
inline Date date_from_index(int n) {
  const int64_t since_1970 = n - 7305;
  const int64_t z = since_1970 + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1), month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int year = static_cast<int>(yoe + era * 400 + (month <= 2));
  return {year, month, day, static_cast<int>(((since_1970 + 3) % 7 + 7) % 7)};
}

inline std::string iso(const Date& d) { return fmt::format("{:04d}-{:02d}-{:02d}", d.year, d.month, d.day); }

inline const char* const kMonths[] = {"january", "february", "march",     "april",   "may",      "june",
                                      "july",    "august",   "september", "october", "november", "december"};
inline const char* const kWeekdays[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
constexpr int kNumFormats = 19;

// A source and its target: a date as people write it and its ISO date (or a string and its reversed or
// sorted form, in transformer_seq2seq). An input to translate has no target.
struct Example {
  std::string source, target;
};

// Date d written in format f (0 .. kNumFormats - 1); the details (padding, full or short names, the
// case) are drawn from rng.
inline std::string render(const Date& d, int f, Rng& rng) {
  const int case_style = rng.below(20);  // 0-8 lower, 9-17 Capitalized names, 18-19 UPPER
  auto name = [&](const char* word, bool short_form) {
    std::string s = short_form ? std::string(word, 3) : std::string(word);
    if (case_style >= 9) s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
  };
  const bool short_month = rng.coin(), short_weekday = rng.coin(), pad = rng.coin();
  const std::string mon = name(kMonths[d.month - 1], short_month), mon3 = name(kMonths[d.month - 1], true);
  const std::string wd = name(kWeekdays[d.weekday], short_weekday), wd3 = name(kWeekdays[d.weekday], true);
  const std::string dd = fmt::format("{:02d}", d.day), mm = fmt::format("{:02d}", d.month);
  const std::string day = pad ? dd : std::to_string(d.day), month = pad ? mm : std::to_string(d.month);
  const std::string yyyy = std::to_string(d.year), yy = fmt::format("{:02d}", d.year % 100);
  const char* suffix = (d.day % 10 == 1 && d.day != 11)   ? "st"
                       : (d.day % 10 == 2 && d.day != 12) ? "nd"
                       : (d.day % 10 == 3 && d.day != 13) ? "rd"
                                                          : "th";
  const std::string nth = std::to_string(d.day) + suffix;
  std::string s;
  switch (f) {
    case 0:
      s = fmt::format("{} {} {} {}", wd, d.day, mon, yyyy);
      break;  // thursday 3 may 1979
    case 1:
      s = fmt::format("{}, {} {}, {}", wd, mon, d.day, yyyy);
      break;  // Thursday, May 3, 1979
    case 2:
      s = fmt::format("{} {} {}", day, mon, yyyy);
      break;  // 3 may 1979
    case 3:
      s = fmt::format("{} {} {}", day, mon, yy);
      break;  // 03 may 79
    case 4:
      s = fmt::format("{} of {} {}", nth, mon, yyyy);
      break;  // 3rd of May 1979
    case 5:
      s = fmt::format("the {} of {}, {}", nth, mon, yyyy);
      break;  // the 3rd of may, 1979
    case 6:
      s = fmt::format("{} {}, {}", mon, d.day, yyyy);
      break;  // May 3, 1979
    case 7:
      s = fmt::format("{} {}, {}", mon, nth, yyyy);
      break;  // May 3rd, 1979
    case 8:
      s = fmt::format("{} {} {}", mon, day, rng.coin() ? yy : yyyy);
      break;  // may 03 79
    case 9:
      s = fmt::format("{}/{}/{}", month, day, yy);
      break;  // 05/03/79
    case 10:
      s = fmt::format("{}/{}/{}", month, day, yyyy);
      break;  // 5/3/1979
    case 11:
      s = fmt::format("{}.{}.{}", day, month, yyyy);
      break;  // 3.5.1979
    case 12:
      s = fmt::format("{}.{}.{}", day, month, yy);
      break;  // 03.05.79
    case 13:
      s = fmt::format("{}-{}-{}", yyyy, mm, dd);
      break;  // 1979-05-03
    case 14:
      s = fmt::format("{}{}{}", yyyy, mm, dd);
      break;  // 19790503
    case 15:
      s = fmt::format("{}, {} {} {}", wd3, dd, mon3, yyyy);
      break;  // Thu, 03 May 1979
    case 16:
      s = fmt::format("{}-{}-{}", dd, mon3, rng.coin() ? yy : yyyy);
      break;  // 03-May-79
    case 17:
      s = fmt::format("{}, {} {}, {}", wd, mon, nth, yyyy);
      break;  // Thursday, May 3rd, 1979
    default:
      s = fmt::format("{} the {} of {} {}", wd, nth, mon, yyyy);
      break;  // thursday the 3rd of may 1979
  }
  if (case_style >= 18)
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// An example of a date drawn from `days` (day numbers, as date_from_index takes them), in a format drawn
// uniformly.
inline Example date_example(const std::vector<int>& days, Rng& rng) {
  const Date d = date_from_index(days[static_cast<size_t>(rng.below(static_cast<int>(days.size())))]);
  return {render(d, rng.below(kNumFormats), rng), iso(d)};
}

}  // namespace dates
