#include "launcher/cli.h"

#include <cstdio>
#include <exception>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/text.h"
#include "datasets/dataset_spec.h"
#include "launcher/commands.h"
#include "worker/comm/distributed.h"
#include "worker/explain/metric_spec.h"
#include "worker/model/backbone_spec.h"

namespace scouter {
namespace {

// With several ranks an error must end the whole job (peers may wait in a collective);
// MPI_Abort does that, with this status. A single process just returns it.
int end_job(int code) {
  if (MpiEnv::initialized() && MpiEnv::get().topology().world > 1) {
    log::flush();
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  return code;
}

// Options that may be written without a value (`--all` = `--all true`): boolean config keys and
// the command's own true/false options.
bool is_flag(const std::string& command, const std::string& key) {
  const KeyInfo* k = find_key(key);
  return (k && k->type == KeyType::kBool) || is_command_flag(command, key);
}

bool is_help(const std::string& word) { return word == "--help" || word == "-h"; }

// "metrics: area, precision, ..." from the metric table (worker/explain/metric_spec.h), wrapped
// at 96 columns under the command descriptions' indent.
std::string metric_names_help() {
  const std::string indent(21, ' ');
  std::string out, line = indent + "metrics:";
  const auto& table = explain_metric_table();
  for (size_t k = 0; k < table.size(); ++k) {
    const std::string word = table[k].name + (k + 1 < table.size() ? "," : "");
    if (line.size() + 1 + word.size() > 96) {
      out += line + "\n";
      line = indent + word;
    } else {
      line += " " + word;
    }
  }
  return out + line;
}

}  // namespace

std::string usage() {
  std::string text = R"(usage: scouter <command> [arguments] [--key value ...]

commands:
  prep DATASET [--src DIR] [--out DIR] [--shard_size N] [--overwrite true]
                     convert a dataset (below) into HDF5 shards; image datasets also take
                     [--num_classes N] [--img_size S] [--max_bad_fraction F] [--threads N]
                     [--seed N]; run under mpirun to share the work between ranks;
                     --overwrite true replaces the shards of another dataset in --out
  train [-c FILE.toml] [--key value ...]
                     train one run; every config key can be set in the file or as --key value
  import FILE --output_dir RUN [--key value ...]
                     a published SCOUTER checkpoint (torch.save with "args") or a SlotModel
                     state_dict (.pth/.safetensors; then give --dataset D --model M
                     --num_classes N --use_slot true|false [--loss_status 1|-1]) as a run
                     folder for evaluate, explain, export
  evaluate RUN [--split val|train] [--dataset_dir DIR] [--key value ...]
                     loss, accuracy, area per class and overall, confusion matrix into
                     RUN/eval/; run under mpirun to share it
  export RUN [--format pth|safetensors] [--out FILE]
                     the model's state_dict with the published names (SlotModel loads it
                     with strict=True); default RUN/export/model.pth
  vis --output_dir RUN [--vis_id N] [--vis_count N]
                     attention pictures of a trained SCOUTER run
  explain RUN [RUN ...] [--images N | --all] [--pictures N] [--classes C,C,...]
          [--metrics false] [--key value ...]
                     SCOUTER attention / FC CAM, Grad-CAM, Grad-CAM++ maps, pictures and
                     explanation metrics into RUN/explain; run under mpirun to share it
{metrics}
  explain RUN --image FILE [FILE ...] [--box x,y,w,h] [--classes C,C,...] [--top_k N]
                     prediction, top-k classes and maps of your own JPEG/PNG images, into
                     RUN/explain/images; tab-separated result lines on stdout
  sweep FILE.toml [--dry-run true] [--slurm true] [--dir DIR] [--smoke true]
          [--set KEY=VALUE ...]
                     expand a sweep file and run it locally (mpirun) or submit it to Slurm;
                     --smoke true applies the file's [smoke] table (a small size), each --set
                     replaces a key in [defaults] and every run (sweep.KEY, resources.KEY)
  report DIR [DIR ...] [--html] [--reference FILE]
                     table of the runs in these folders (accuracy, area, speed, explanation
                     metrics, published numbers beside ours); --html also writes one
                     self-contained report.html; --reference: published numbers from FILE
                     instead of the built-in experiments/reference/published.toml
  bench [--steps N] [--threads N] [--filter TEXT] [--precision fp32|bf16|auto]
        [--profile true]
                     training-step speed on synthetic batches; --profile true adds, per case,
                     where the step's time goes (phases and ATen operators)
  bench --loader DIR [--batch_size N] [--epochs N] [--threads N]
                     batch-loader speed over the train shards in DIR
  keys [--markdown]  every config key with its default and meaning
  version            version and git commit
  help [COMMAND]     this text, or one command's (also: scouter COMMAND --help)

)" + str_format("datasets (key `dataset`, prep DATASET): {}\nmodels (key `model`): {}\n\n",
                  join(dataset_names(), ", "), backbone_list()) +
         R"(Options are --key value or --key=value; a true/false option alone means true (--all is
--all true). `scouter keys` lists the config keys; the README documents each command.
)";
  const std::string slot = "{metrics}";
  return text.replace(text.find(slot), slot.size(), metric_names_help());
}

std::string command_usage(const std::string& command) {
  // An entry of usage() starts two spaces in with its command's name; its further lines are
  // indented deeper. Some commands have several entries (explain, bench).
  std::string entries;
  bool in_entry = false;
  for (const std::string& line : split(usage(), '\n')) {
    if (line.size() > 2 && line.compare(0, 2, "  ") == 0 && line[2] != ' ')
      in_entry = line.compare(2, command.size(), command) == 0 &&
                 (line.size() == 2 + command.size() || line[2 + command.size()] == ' ');
    else if (line.empty() || line[0] != ' ')
      in_entry = false;
    if (in_entry) entries += (line[2] != ' ' ? "  scouter " + line.substr(2) : line) + "\n";
  }
  if (entries.empty()) return "";
  return "usage:\n" + entries +
         "\nOptions are --key value or --key=value; a true/false option alone means true.\n"
         "`scouter keys` lists the config keys; `scouter help` every command.\n";
}

ParsedArgs parse_args(int argc, char** argv) {
  ParsedArgs a;
  std::vector<std::string> words;
  for (int i = 0; i < argc; ++i) words.push_back(shell_quote(argv[i]));
  a.command_line = join(words, " ");
  int i = 1;
  if (i < argc) a.command = argv[i++];
  for (int k = i; k < argc; ++k) a.help = a.help || is_help(argv[k]);
  if (a.help) return a;  // the user asks how: the rest need not parse
  while (i < argc) {
    std::string arg = argv[i++];
    if (arg == "-c" || starts_with(arg, "--")) {
      std::string key = arg == "-c" ? "config" : arg.substr(2);
      std::string value;
      auto eq = key.find('=');
      if (eq != std::string::npos) {
        value = key.substr(eq + 1);
        key = key.substr(0, eq);
      } else if (is_flag(a.command, key) && (i >= argc || !parse_bool(argv[i]))) {
        value = "true";  // a flag without a value: `--all`, `--html DIR`
      } else {
        if (i >= argc)
          throw UserError(str_format("command line: {} needs a value", arg),
                          "write --key value or --key=value");
        value = argv[i++];
      }
      if (key.empty()) throw UserError("command line: empty option name '--'", "write --key value");
      for (const auto& [k, v] : a.options)
        if (k == key && !is_repeatable_option(a.command, key))
          throw UserError(str_format("command line: --{} is given twice ('{}', then '{}')",
                                     key == "config" ? std::string("config (-c)") : key, v, value),
                          "give each option once");
      a.options.emplace_back(key, value);
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

int run_cli(int argc, char** argv) {
  init_logging(0);
  try {
    ParsedArgs args = parse_args(argc, argv);
    if (args.command.empty() || args.command == "help" || is_help(args.command)) {
      if (!args.positional.empty()) {  // scouter help COMMAND
        args.command = args.positional[0];
        args.positional.clear();
        args.options.clear();
        args.help = true;
        return run_command(args);
      }
      std::fputs(usage().c_str(), stdout);
      return args.command.empty() ? kExitUsage : kExitOk;
    }
    return run_command(args);
  } catch (const PeerFailed& e) {
    // Another rank failed and logged why; this one only leaves with the same status.
    return end_job(e.exit_code());
  } catch (const UserError& e) {
    log::error("{}{}{}", e.what(), e.hint().empty() ? "" : " -- hint: ", e.hint());
    return end_job(kExitUsage);
  } catch (const std::exception& e) {
    // LibTorch's c10::Error carries a backtrace after the first line; the first line says it.
    std::string msg = e.what();
    auto nl = msg.find('\n');
    log::error("{}", nl == std::string::npos ? msg : msg.substr(0, nl));
    return end_job(kExitFailure);
  }
}

}  // namespace scouter
