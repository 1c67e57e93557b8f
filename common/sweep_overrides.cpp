#include "common/sweep_overrides.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "common/text.h"

namespace scouter {

const std::vector<std::string>& sweep_section_keys() {
  static const std::vector<std::string> v = {"name", "dir", "array_throttle", "explain_images",
                                             "explain_pictures"};
  return v;
}

namespace {

enum class Scope { kConfig, kSweep, kResources };

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// One override: where it sets what (the value lives in the [smoke] table or a parsed --set).
struct Override {
  Scope scope;
  std::string key, where;
  const toml::node* value;
};

// The names a plain override key may have: config keys and the run keys seeds and repeats.
std::vector<std::string> config_override_names() {
  std::vector<std::string> v;
  for (const auto& k : config_keys()) v.push_back(k.name);
  v.push_back("seeds");
  v.push_back("repeats");
  return v;
}

// Refuses a value the expansion would refuse, here, naming the --set argument or [smoke] line.
void check_value(const Override& o) {
  const toml::node& n = *o.value;
  if (o.scope == Scope::kSweep) {
    if (o.key == "name" || o.key == "dir")
      sweep_string(n, o.where, o.key);
    else
      sweep_int(n, o.where, o.key, 0);
    return;
  }
  if (o.scope == Scope::kResources) {
    Resources scratch;
    toml::table one;
    one.insert_or_assign(o.key, n);
    apply_resources(scratch, one, o.where);
    return;
  }
  if (o.key == "seeds") {
    if (n.is_array()) {
      if (n.as_array()->empty())
        throw UserError(fmt::format("{}: 'seeds' is an empty list", o.where),
                        "e.g. seeds = [1, 2, 3]");
      for (const auto& s : *n.as_array()) sweep_int(s, o.where, "seeds", 0);
    } else {
      sweep_int(n, o.where, "seeds", 0);
    }
    return;
  }
  if (o.key == "repeats") {
    sweep_int(n, o.where, "repeats", 1);
    return;
  }
  if (o.key == "output_dir" || o.key == "resume" || o.key == "pre_checkpoint")
    throw UserError(fmt::format("{}: '{}' is set by the sweep", o.where, o.key),
                    o.key == "pre_checkpoint" ? "use pre_run in the file" : "leave it out");
  Config scratch;
  if (!n.is_array()) return apply_toml_value(scratch, o.key, n, o.where);
  if (o.key == "seed")
    throw UserError(fmt::format("{}: 'seed' must be a single value, got a list", o.where),
                    "use seeds=[...] or repeats=N");
  if (n.as_array()->empty())
    throw UserError(fmt::format("{}: '{}' is an empty list", o.where, o.key),
                    "give at least one value");
  for (const auto& v : *n.as_array()) apply_toml_value(scratch, o.key, v, o.where);
}

Override make_override(const std::string& dotted, const std::string& where,
                       const toml::node* value) {
  Override o{Scope::kConfig, dotted, where, value};
  const auto dot = dotted.find('.');
  if (dot != std::string::npos) {
    const std::string table = dotted.substr(0, dot);
    o.key = dotted.substr(dot + 1);
    if (table == "sweep")
      o.scope = Scope::kSweep;
    else if (table == "resources")
      o.scope = Scope::kResources;
    else
      throw UserError(fmt::format("{}: unknown override '{}'", where, printable(dotted, 60)),
                      "a config key, seeds, repeats, sweep.KEY or resources.KEY");
  }
  if (o.scope == Scope::kSweep && !contains(sweep_section_keys(), o.key))
    throw unknown_name(where, "[sweep] key", o.key, sweep_section_keys());
  if (o.scope == Scope::kConfig && !contains(config_override_names(), o.key))
    throw unknown_name(where, "config key", o.key, config_override_names());
  check_value(o);  // resources keys are checked by apply_resources, with the nearest name
  return o;
}

// The [smoke] table as overrides: config keys, and the tables sweep and resources.
std::vector<Override> smoke_overrides(const toml::table& smoke, const std::string& path) {
  std::vector<Override> out;
  for (const auto& [k, n] : smoke) {
    const std::string key(k.str()), where = toml_where(path, n);
    if (n.is_table() && (key == "sweep" || key == "resources")) {
      for (const auto& [sk, sn] : *n.as_table())
        out.push_back(make_override(key + "." + std::string(sk.str()), toml_where(path, sn), &sn));
    } else if (n.is_table()) {
      throw UserError(fmt::format("{}: unexpected table 'smoke.{}'", where, printable(key)),
                      "[smoke] holds config keys, seeds, repeats and the tables [smoke.sweep], "
                      "[smoke.resources]");
    } else {
      out.push_back(make_override(key, where, &n));
    }
  }
  return out;
}

// `--set KEY=VALUE`: VALUE as a TOML value (1, 1e-4, true, [1, 2], "text"); a value that is not
// one (cpu, data/x), or is a TOML date or time (04:00:00: no key takes one), is the string as
// written.
Override parse_set(const std::string& arg, std::deque<toml::table>& values) {
  const std::string where = "--set " + printable(arg, 120);
  const auto eq = arg.find('=');
  const std::string key = eq == std::string::npos ? "" : trim(arg.substr(0, eq));
  if (key.empty())
    throw UserError(fmt::format("{}: expected KEY=VALUE", where),
                    "e.g. --set epochs=1, --set seeds=[1,2], --set resources.ranks=2");
  const std::string text = arg.substr(eq + 1);
  toml::table t;
  try {
    t = toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    t = toml::table{};
  }
  const toml::node* parsed = t.get("v");
  if (t.size() != 1 || !parsed || parsed->is_date() || parsed->is_time() ||
      parsed->is_date_time()) {
    t = toml::table{};
    t.insert_or_assign("v", text);
  }
  values.push_back(std::move(t));
  return make_override(key, where, values.back().get("v"));
}

toml::table& table_in(toml::table& doc, const std::string& name) {
  if (!doc.contains(name)) doc.insert_or_assign(name, toml::table{});
  toml::table* t = doc.get_as<toml::table>(name);
  if (!t)
    throw UserError(fmt::format("'{}' in the sweep file is not a table", name),
                    "write [" + name + "]");
  return *t;
}

// Sets the value in [defaults] and in every run that sets the key ([resources] and every run's
// resources table that sets it); seeds and repeats replace each other.
void apply(toml::table& doc, const Override& o) {
  const toml::node& v = *o.value;
  if (o.scope == Scope::kSweep) {
    table_in(doc, "sweep").insert_or_assign(o.key, v);
    return;
  }
  const bool res = o.scope == Scope::kResources;
  std::vector<toml::table*> tables = {&table_in(doc, res ? "resources" : "defaults")};
  if (toml::table* runs = doc.get_as<toml::table>("runs"))
    for (auto& [name, run] : *runs) {
      toml::table* t = run.as_table();
      if (t && res) t = t->get_as<toml::table>("resources");
      if (t && t != tables.front()) tables.push_back(t);
    }
  for (size_t i = 0; i < tables.size(); ++i) {
    toml::table& t = *tables[i];
    if (i > 0 && !t.contains(o.key)) continue;
    if (o.key == "seeds" && !v.is_array()) {
      toml::array one;
      one.push_back(*v.value<int64_t>());
      t.insert_or_assign("seeds", std::move(one));
    } else {
      t.insert_or_assign(o.key, v);
    }
    if (o.key == "seeds" || o.key == "repeats") t.erase(o.key == "seeds" ? "repeats" : "seeds");
  }
  if (o.key == "seeds" || o.key == "repeats")  // a run's own repeats (seeds) gives way too
    if (toml::table* runs = doc.get_as<toml::table>("runs"))
      for (auto& [name, run] : *runs)
        if (toml::table* t = run.as_table(); t && !t->contains(o.key))
          t->erase(o.key == "seeds" ? "repeats" : "seeds");
}

}  // namespace

void apply_sweep_overrides(toml::table& doc, const SweepOverrides& overrides,
                           const std::string& path) {
  std::vector<Override> list;
  if (const toml::node* smoke = doc.get("smoke")) {
    if (!smoke->is_table())
      throw UserError(fmt::format("{}: 'smoke' must be a table", toml_where(path, *smoke)),
                      "write [smoke]");
    std::vector<Override> s = smoke_overrides(*smoke->as_table(), path);
    if (overrides.smoke) list = std::move(s);
  } else if (overrides.smoke) {
    throw UserError(fmt::format("{}: --smoke true, but the file has no [smoke] table", path),
                    "add [smoke] with the small-size overrides (docs/sweeps.md, \"Overrides\"), or "
                    "leave out --smoke");
  }
  std::deque<toml::table> values;
  for (const auto& arg : overrides.sets) list.push_back(parse_set(arg, values));
  // Copy the values out before the smoke table goes away with the document's "smoke" entry.
  std::vector<std::pair<Override, toml::table>> held;
  for (const auto& o : list) {
    toml::table keep;
    keep.insert_or_assign("v", *o.value);
    held.emplace_back(o, std::move(keep));
  }
  doc.erase("smoke");
  for (auto& [o, keep] : held) {
    Override copy = o;
    copy.value = keep.get("v");
    apply(doc, copy);
  }
}

}  // namespace scouter
