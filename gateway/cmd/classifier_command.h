// `airlock classifier`: build the labelled data for the model stage's heads, train them and
// measure them (classifier/heads.h, classifier/model_data.h).
//
//   airlock classifier data DATA_DIR --out DIR [--max-per-class 1000]
//   airlock classifier train MODEL_DIR DATA [--question Q] [--test FILE] [--classes A,B,...]
//                            [--layer L] [--out FILE] [--holdout 0.2] [--seed 1]
//                            [--iterations 500]
//   airlock classifier eval MODEL_DIR DATA.jsonl --question Q [--heads FILE]
//
// data: reads the public data in DATA_DIR (../shared/data) and writes QUESTION.train.jsonl and
// QUESTION.test.jsonl for level, difficulty and the categories into DIR, then prints what each
// holds by class and source.
// Labelled JSONL: one {"text": "...", "label": "..."} per line (other keys are ignored); each
// text is a one-message conversation (a user turn). Classes default by question: level ->
// public, internal, confidential, restricted; difficulty -> easy, hard; any other (a category)
// -> no, yes.
// train: DATA is one file (the head for --question) or a folder as `data` writes it (a head
// per QUESTION.train.jsonl). The hidden state at layer L (default: the middle layer) of every
// text, mean-pooled (each distinct text prefilled once); a head is fitted on the training texts
// and tested on QUESTION.test.jsonl or --test, or else on --holdout of DATA held out by a
// seeded shuffle; the heads go to --out (default MODEL_DIR/airlock_heads.json; the file's
// other questions are kept, and its layer must be L). Then, per head, the test report:
// accuracy, ECE, per-class precision and recall, and for two classes AUROC and the threshold
// table. The same data, seed and options give the same file, byte for byte. eval: the same
// report for a trained head on all of DATA.jsonl.
// Exit status 0; 2 for a bad option, file, line or label (the message names it), 1 when the
// model fails or a file cannot be written.
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

void AddClassifierCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
