// cairn-data: data preparation for Cairn's examples and model export helpers.
//
//   cairn-data split-breast-cancer --input build/datasets/breast_cancer.csv --out-dir DIR --sites 3 --seed 42
//   cairn-data split-fashion-mnist --data-dir build/datasets/fashion-mnist --out-dir DIR --participants 10 --split dirichlet --alpha 0.5 --seed 1
//   cairn-data export-layout --model model.pt --out layout.json --init init.bin
//   cairn-data make-torchscript-example --out model.pt --inputs 30 --classes 2
//
// Every failure prints one line "cairn-data: error: ..." and exits with status 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "participant/data/prepare.h"
#if CAIRN_DATA_WITH_TORCH
#include "participant/trainer/torchscript_tools.h"
#endif

namespace {

using cairn::Status;

int Report(const cairn::Error& e) {
  std::cerr << "cairn-data: error: " << e.message() << "\n";
  return 1;
}

void PrintSummary(const cairn::data::SplitSummary& s) {
  std::cout << "file";
  for (const auto& c : s.class_names) std::cout << "\t" << c;
  std::cout << "\ttotal\n";
  for (const auto& f : s.files) {
    std::int64_t total = 0;
    std::cout << f.path.string();
    for (auto n : f.class_counts) {
      std::cout << "\t" << n;
      total += n;
    }
    std::cout << "\t" << total << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-data: prepares example data sets and exports TorchScript model layouts"};
  app.require_subcommand(1);
  app.footer("Run 'cairn-data SUBCOMMAND --help' for the options and an example of each subcommand.");

  // split-breast-cancer
  cairn::data::SklearnSplitOptions bc;
  auto* bc_cmd = app.add_subcommand(
      "split-breast-cancer",
      "Split scikit-learn's breast_cancer.csv (or another scikit-learn bundled CSV such as wine_data.csv) into "
      "site-1..K.csv with label skew, a stratified held-out test.csv and pooled.csv (all training rows)");
  bc_cmd->add_option("--input", bc.input, "scikit-learn CSV (first line: n_samples,n_features,class names)")
      ->required()
      ->check(CLI::ExistingFile);
  bc_cmd->add_option("--out-dir", bc.out_dir, "folder for the CSV files (created if missing)")->required();
  bc_cmd->add_option("--sites", bc.sites, "number of sites")->capture_default_str()->check(CLI::Range(1, 1000));
  bc_cmd->add_option("--seed", bc.seed, "seed of the deterministic split")->capture_default_str();
  bc_cmd->add_option("--test-fraction", bc.test_fraction, "fraction of each class held out in test.csv")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  bc_cmd->add_option("--dominant-fraction", bc.dominant_fraction,
                     "fraction of each class given to its home sites (0 = IID, 1 = fully skewed)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  bc_cmd->add_option("--feature-names", bc.feature_names,
                     "header names: sklearn (breast cancer's 30 names), index (f0, f1, ...) or auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "sklearn", "index"}));
  bc_cmd->footer(
      "Example:\n  cairn-data split-breast-cancer --input build/datasets/breast_cancer.csv \\\n"
      "      --out-dir build/examples/hospital/data --sites 3 --seed 42\n"
      "Labels: 0 = malignant, 1 = benign (as scikit-learn).");

  // split-fashion-mnist
  cairn::data::FashionMnistSplitOptions fm;
  auto* fm_cmd = app.add_subcommand(
      "split-fashion-mnist",
      "Partition the Fashion-MNIST training set among participants: writes participant-1..N.txt, one row index "
      "per line, for the participants' data configuration");
  fm_cmd->add_option("--data-dir", fm.data_dir, "folder with the uncompressed IDX files (train-labels-idx1-ubyte)")
      ->required()
      ->check(CLI::ExistingDirectory);
  fm_cmd->add_option("--out-dir", fm.out_dir, "folder for the index files (created if missing)")->required();
  fm_cmd->add_option("--participants", fm.participants, "number of participants")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  fm_cmd->add_option("--split", fm.split, "iid or dirichlet (label skew)")
      ->capture_default_str()
      ->check(CLI::IsMember({"iid", "dirichlet"}));
  fm_cmd->add_option("--alpha", fm.alpha, "Dirichlet concentration; smaller is more skewed")
      ->capture_default_str()
      ->check(CLI::Range(1e-3, 1e6));
  fm_cmd->add_option("--seed", fm.seed, "seed of the deterministic split")->capture_default_str();
  fm_cmd->add_option("--min-per-participant", fm.min_per_participant,
                     "Dirichlet: redraw until every participant has at least this many rows")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  fm_cmd->footer(
      "Example:\n  cairn-data split-fashion-mnist --data-dir build/datasets/fashion-mnist \\\n"
      "      --out-dir build/examples/fashion-mnist/dirichlet --participants 10 --split dirichlet --alpha 0.5 --seed 1");

  // export-layout
  std::filesystem::path model_in, layout_out, init_out;
  auto* ex_cmd = app.add_subcommand(
      "export-layout",
      "Write the layout JSON of a TorchScript model (parameter names and shapes in named_parameters order, the "
      "file's SHA-256) and optionally its current parameters as a flat float32 file (the initial global model)");
  ex_cmd->add_option("--model", model_in, "TorchScript file (torch.jit.save or cairn-data make-torchscript-example)")
      ->required()
      ->check(CLI::ExistingFile);
  ex_cmd->add_option("--out", layout_out, "layout JSON to write")->required();
  ex_cmd->add_option("--init", init_out, "flat parameter file to write (raw little-endian float32)");
  ex_cmd->footer("Example:\n  cairn-data export-layout --model model.pt --out layout.json --init init.bin");

  // make-torchscript-example
  std::filesystem::path example_out;
  std::int64_t ex_inputs = 30, ex_hidden = 16, ex_classes = 2;
  std::uint64_t ex_seed = 0;
  auto* mk_cmd = app.add_subcommand(
      "make-torchscript-example",
      "Build a small TorchScript MLP (Linear, ReLU, Linear) in C++ and save it, for tests and documentation");
  mk_cmd->add_option("--out", example_out, "model file to write")->required();
  mk_cmd->add_option("--inputs", ex_inputs, "input features")->capture_default_str()->check(CLI::Range(1, 1000000));
  mk_cmd->add_option("--hidden", ex_hidden, "hidden width")->capture_default_str()->check(CLI::Range(1, 65536));
  mk_cmd->add_option("--classes", ex_classes, "output classes")->capture_default_str()->check(CLI::Range(2, 100000));
  mk_cmd->add_option("--seed", ex_seed, "seed of the initial weights")->capture_default_str();
  mk_cmd->footer(
      "Example:\n  cairn-data make-torchscript-example --out model.pt --inputs 30 --classes 2\n"
      "  cairn-data export-layout --model model.pt --out layout.json --init init.bin");

  CLI11_PARSE(app, argc, argv);

  try {
    if (bc_cmd->parsed()) {
      auto summary = cairn::data::SplitSklearnCsv(bc);
      if (!summary) return Report(summary.error());
      PrintSummary(*summary);
      return 0;
    }
    if (fm_cmd->parsed()) {
      auto summary = cairn::data::SplitFashionMnist(fm);
      if (!summary) return Report(summary.error());
      PrintSummary(*summary);
      return 0;
    }
#if CAIRN_DATA_WITH_TORCH
    if (ex_cmd->parsed()) {
      auto exported = cairn::trainer::ExportTorchScript(model_in);
      if (!exported) return Report(exported.error());
      if (auto st = cairn::trainer::WriteExport(*exported, model_in, layout_out, init_out); !st) {
        return Report(st.error());
      }
      std::cout << "wrote " << layout_out.string() << ": " << exported->spec.tensors.size() << " tensors, "
                << exported->spec.num_params() << " parameters\n";
      if (!init_out.empty()) std::cout << "wrote " << init_out.string() << "\n";
      std::cout << "model sha256: " << exported->sha256 << "\n";
      return 0;
    }
    if (mk_cmd->parsed()) {
      auto sha = cairn::trainer::MakeTorchScriptExample(
          example_out, {.inputs = ex_inputs, .hidden = ex_hidden, .classes = ex_classes, .seed = ex_seed});
      if (!sha) return Report(sha.error());
      std::cout << "wrote " << example_out.string() << "\nsha256: " << *sha << "\n";
      return 0;
    }
#else
    if (ex_cmd->parsed() || mk_cmd->parsed()) {
      std::cerr << "cairn-data: error: this build has no libtorch (configured with CAIRN_WITH_TORCH=OFF)\n";
      return 1;
    }
#endif
  } catch (const std::exception& e) {
    // Nothing below is expected to throw (errors are values); report rather than abort if it does.
    std::cerr << "cairn-data: error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
