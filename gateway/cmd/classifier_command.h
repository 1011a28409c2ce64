// `airlock classifier`: train and measure the model stage's heads (classifier/heads.h).
//
//   airlock classifier train MODEL_DIR DATA.jsonl --question Q [--classes A,B,...] [--layer L]
//                            [--out FILE] [--holdout 0.2] [--seed 1] [--iterations 500]
//   airlock classifier eval MODEL_DIR DATA.jsonl --question Q [--heads FILE]
//
// DATA.jsonl: one {"text": "...", "label": "..."} per line; each text is a one-message
// conversation (a user turn). Classes default by question: level -> public, internal,
// confidential, restricted; difficulty -> easy, hard; any other (a category) -> no, yes.
// train: the hidden state at layer L (default: the middle layer) of every text, mean-pooled; a
// seeded shuffle holds out --holdout of them; a head is fitted on the rest and written to
// --out (default MODEL_DIR/airlock_heads.json; the file's other questions are kept, and its
// layer must be L); then the held-out report: accuracy, ECE, per-class precision and recall,
// and for two classes AUROC and the threshold table. The same data, seed and options give the
// same file, byte for byte. eval: the same report for a trained head on all of DATA.jsonl.
// Exit status 0; 2 for a bad option, file, line or label (the message names it), 1 when the
// model fails.
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

void AddClassifierCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
