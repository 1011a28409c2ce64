// `airlock engine`: run the engine from the terminal.
//
//   airlock engine logits DIR (--ids 1,2,3 | --text TEXT) [--all] [--npy FILE] [--top K]
//   airlock engine bench DIR [--tokens N] [--prompt N] [--threads N]
//   airlock engine tokenize TOKENIZER.json [FILE|-] [--jsonl]
//   airlock engine run DIR [--prompt TEXT] [--system TEXT] [--max-tokens N] [--temperature T]
//                      [--top-p P] [--top-k K] [--seed S] [--no-thinking]
//
// logits loads the model folder DIR (engine/model.h), runs the token ids (or --text encoded with
// DIR/tokenizer.json, no chat template) through the forward pass from a fresh sequence and writes
// the logits of the last token (of every token with --all): as JSON on stdout ({"ids": [...],
// "logits": [[...], ...]}, one row per token, shortest round-trip decimals), or with --npy as a
// float32 .npy file of shape [rows, vocab] (stdout then says where). --top K prints, instead of the
// JSON, the K largest logits of each row as "ID:VALUE" pairs. Exit status 0; 2 for a model that
// does not load, bad ids (the message names the token) or an unwritable --npy file.
//
// bench measures the model folder's batch-1 decode and its prefill on all cores (engine/bench.h)
// and this machine's memory bandwidth, and prints them with the roofline (bandwidth / weight
// bytes per decode step) and decode's share of it. Exit status 0; 2 when the folder does not load.
//
// tokenize encodes text with a tokenizer.json (engine/tokenizer.h): the whole input (FILE, or
// stdin) as one text, its ids printed space-separated on one line; or, with --jsonl, each input
// line a JSON object {"b64": BASE64 OF THE TEXT'S BYTES} (any bytes, valid UTF-8 or not), each
// output line {"ids": [...], "decoded_b64": BASE64 OF THE IDS DECODED}. Exit status 0; 2 for a
// tokenizer that does not load or a bad input line (named by number).
//
// run chats with a model folder (config.json, tokenizer.json, weights): the prompt (--prompt, or
// stdin) as the user message after an optional system message, rendered with the Nemotron 3
// chat template (engine/chat_template.h; thinking on unless --no-thinking), prefilled, then
// generated with the sampler (engine/generate.h) until <|im_end|> or </s> or --max-tokens; the
// text streams to stdout, and a line on stderr gives the prompt and generated token counts, the
// times and the finish reason. It runs the reference forward pass: correct, not fast. Exit status
// 0; 2 when the folder does not load.
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

void AddEngineCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
